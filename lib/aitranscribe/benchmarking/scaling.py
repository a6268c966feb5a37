"""Scaling over Ray workers: the same recordings transcribed end to end by 1 worker, then by more, on one cluster.

Every recording of the prepared test split is one shard, transcribed as a folder's recording is (16 kHz conversion,
VAD, diarization, speaker normalisation, features, units, PCA, pooling, the model, word and phone searches:
:func:`~aitranscribe.transcription.workers.folder_worker`). x real time = audio seconds / wall seconds from the moment
the workers hold their models to the last shard (their start-up is reported apart: a long run pays it once).
The transcripts of every worker count must be equal, or the measurement fails.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from ..core.errors import KitError
from ..core.files import read_json
from ..core.machine import busy_fraction, cpu
from ..transcription import workers as transcription
from ..io import manifest
from ..io.audio import TARGET_SR
from ..scale import executor, shards

log = logging.getLogger(__name__)


def measure(p: dict, records: dict, scale: float, out_dir: Path, settings: executor.Settings,
            counts: list[int], audio_seconds: float) -> dict:
    """x real time of transcribing the test split's recordings with each worker count of ``counts`` (``p``: stage
    06's parameters, ``scale`` its acoustic scale; ``records``: the stage records ``train``, ``features``,
    ``audio_prep``, ``text``; outputs are written under ``out_dir`` and removed) on the prepared splits' recordings
    (test, valid, then train) up to ``audio_seconds`` of audio. Returns per count ``x_realtime``, ``seconds``, ``startup_seconds`` and
    ``workers``, with ``audio_seconds``, ``recordings``, the machine and its load before each run."""
    folder, rels = recordings(Path(records["audio_prep"]["data_dir"]) / "manifests", audio_seconds)
    executor.connect(executor.Settings("ray", settings.address, max(counts), settings.threads))
    runs, transcripts = {}, {}
    for n in counts:
        run_dir = Path(out_dir) / f"{n}-workers"
        shutil.rmtree(run_dir, ignore_errors=True)
        plan = [shards.Shard(rel, (rel,), run_dir / "results" / f"{rel}.json", rel) for rel in rels]
        load = busy_fraction()
        report = executor.run(plan, transcription.folder_worker,
                              {"p": p, "records": records, "scale": scale, "folder": str(folder),
                               "out_dir": str(run_dir)},
                              executor.Settings("ray", settings.address, n, settings.threads),
                              f"scaling: {n} worker(s)", retry_bad=False)
        if report.bad:
            raise KitError(f"scaling: recordings failed: {report.bad}")
        results = [read_json(s.output) for s in plan]
        total = sum(r["seconds"] for r in results)
        transcripts[n] = [(r["name"], [w["word"] for w in r.get("words", [])], [ph["phone"] for ph in r["phones"]])
                          for r in results]
        runs[n] = {"workers": report.workers, "seconds": report.seconds, "startup_seconds": report.startup_seconds,
                   "x_realtime": total / max(report.seconds, 1e-9), "load_before": round(load, 3)}
        log.info("scaling: %d worker(s): %.1f s of audio in %.2f s, %.1fx real time", report.workers, total,
                 report.seconds, runs[n]["x_realtime"])
        shutil.rmtree(run_dir, ignore_errors=True)
    first = transcripts[counts[0]]
    differ = [n for n in counts if transcripts[n] != first]
    if differ:
        raise KitError(f"scaling: the transcripts of {differ} workers differ from those of {counts[0]} worker(s)")
    return {"runs": {str(n): r for n, r in runs.items()}, "audio_seconds": total, "recordings": len(rels),
            "threads_per_worker": settings.worker_threads, "address": settings.address or "local cluster",
            "machine": cpu(), "same_transcripts": True, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def recordings(manifests: Path, audio_seconds: float) -> tuple[Path, list[str]]:
    """The audio root and the paths of the prepared splits' original recordings (test, valid, then train) up to
    ``audio_seconds`` of audio (at least one)."""
    chosen, total, root = [], 0.0, None
    for split in ("test", "valid", "train"):
        if not (Path(manifests) / f"{split}.tsv").is_file():
            continue
        m = manifest.read(manifests, split)
        if root is not None and m.root != root:
            raise KitError(f"{manifests}: the splits' audio lives under different roots ({root}, {m.root})")
        root = m.root
        for path, n in zip(m.paths, m.n_samples):
            if chosen and total >= audio_seconds:
                return root, chosen
            chosen.append(path)
            total += n / TARGET_SR
    if root is None:
        raise KitError(f"{manifests}: no prepared split to measure on")
    return root, chosen


def metrics(summary: dict) -> dict:
    """``workers`` (the largest count) and ``x_realtime_1_worker``, ``x_realtime_<n>_workers`` for each count."""
    runs = summary["runs"]
    out = {"workers": max(int(n) for n in runs)}
    for n, r in runs.items():
        out[f"x_realtime_{n}_worker" + ("s" if int(n) > 1 else "")] = round(r["x_realtime"], 1)
    out["speedup"] = round(runs[str(out["workers"])]["x_realtime"] / runs[min(runs, key=int)]["x_realtime"], 2)
    return out


def table(summary: dict | None):
    """Per worker count: x real time, wall seconds, start-up seconds, speedup over 1 worker (empty when not run)."""
    import pandas as pd

    if not summary:
        return pd.DataFrame()
    runs = summary["runs"]
    base = runs[min(runs, key=int)]["x_realtime"]
    return pd.DataFrame([{"workers": int(n), "x real time": r["x_realtime"], "seconds": r["seconds"],
                          "start-up s": r["startup_seconds"], "speedup": r["x_realtime"] / base,
                          "machine busy before": r["load_before"]} for n, r in runs.items()]).set_index("workers").round(2)
