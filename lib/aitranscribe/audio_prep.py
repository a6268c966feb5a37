"""Stage 02, audio preparation: rVAD speech intervals and silence removal, the same for every split.

Inputs: the 01_data manifests. Outputs in ``<data_root>/<profile>/02_audio_prep/<hash>/``:
``{split}.vads`` (speech intervals ``start:end`` in samples of the original audio, one line per
utterance), ``audio/`` (speech intervals concatenated, 16 kHz FLAC) and ``manifests/{split}.tsv`` with
the ``.wrd``/``.phn``/``.spk`` of 01. Test audio gets exactly the same treatment as train audio.
"""
from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from . import audio_io, manifest, stage
from .params import Param, params_hash
from .paths import profile_data_dir

log = logging.getLogger(__name__)

KEY = "audio_prep"
NOTEBOOK = "02_audio_prep"

PARAMS = {
    "vad": Param(True, bool, "remove silence with rVAD; off keeps the audio as it is"),
    "vad_threshold": Param(0.4, float, "rVAD decision threshold"),
    "vad_window_ms": Param(25.0, float, "rVAD analysis window in ms"),
    "vad_shift_ms": Param(10.0, float, "rVAD frame shift in ms"),
    "min_speech_fraction": Param(0.05, float, "below this detected speech fraction an utterance is kept whole"),
    "chunk_size": Param(200, int, "utterances per resumable chunk"),
}


def stage_hash(p: dict, data_record: dict) -> str:
    """Hash of the parameters and of the input stage."""
    return params_hash({**p, "input": data_record["params_hash"]})


def output_dir(p: dict, data_record: dict) -> Path:
    """``<data_root>/<profile>/02_audio_prep/vad<on|off>-<hash of parameters and input>``."""
    tag = "vad" if p["vad"] else "novad"
    return profile_data_dir(p) / NOTEBOOK / f"{tag}-{stage_hash(p, data_record)}"


def speech_intervals(labels: np.ndarray, n_samples: int, sr: int, window_ms: float, shift_ms: float) -> list:
    """Runs of speech frames (rVAD labels 0/1) as ``(start, end)`` sample intervals, merged where they overlap."""
    shift = int(round(sr * shift_ms / 1000))
    window = int(round(sr * window_ms / 1000))
    labels = np.asarray(labels).astype(bool)
    if not labels.any():
        return []
    edges = np.diff(np.concatenate([[0], labels.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    intervals = []
    for s, e in zip(starts, ends):
        a, b = s * shift, min(n_samples, (e - 1) * shift + window)
        if intervals and a <= intervals[-1][1]:
            intervals[-1] = (intervals[-1][0], max(b, intervals[-1][1]))
        else:
            intervals.append((a, b))
    return intervals


def detect(x: np.ndarray, p: dict, vad) -> list:
    """Speech intervals of one utterance; the whole utterance when VAD is off or finds (almost) nothing."""
    whole = [(0, len(x))]
    if not p["vad"]:
        return whole
    with warnings.catch_warnings():  # rVAD takes nanmax over all-silent blocks: harmless, not the user's concern
        warnings.simplefilter("ignore", RuntimeWarning)
        labels, _ = vad(x.astype(np.float64), audio_io.TARGET_SR)
    intervals = speech_intervals(labels, len(x), audio_io.TARGET_SR, p["vad_window_ms"], p["vad_shift_ms"])
    speech = sum(b - a for a, b in intervals)
    return intervals if speech >= p["min_speech_fraction"] * len(x) else whole


def to_original_seconds(t: np.ndarray, intervals: list, sr: int = audio_io.TARGET_SR) -> np.ndarray:
    """Times (s) on the silence-removed time line mapped back to the original audio's time line."""
    t = np.asarray(t, dtype=np.float64)
    lengths = np.array([b - a for a, b in intervals], dtype=np.float64) / sr
    starts = np.array([a for a, _ in intervals], dtype=np.float64) / sr
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    k = np.clip(np.searchsorted(cum, t, side="right") - 1, 0, len(intervals) - 1)
    return starts[k] + np.minimum(t - cum[k], lengths[k])


def _process_split(p: dict, m: manifest.Manifest, out_dir: Path, split: str) -> tuple[list, list]:
    from rVADfast import rVADfast

    vad = rVADfast(window_duration=p["vad_window_ms"] / 1000, shift_duration=p["vad_shift_ms"] / 1000,
                   vad_threshold=p["vad_threshold"])
    audio_dir = out_dir / "audio"

    def work(indices):
        flat, counts, kept = [], [], []
        for i in indices:
            x, _ = audio_io.read(m.audio_path(i))
            intervals = detect(x, p, vad)
            dst = audio_dir / m.paths[i]
            dst = dst.with_suffix(".flac")
            speech = np.concatenate([x[a:b] for a, b in intervals])
            audio_io.write(dst, speech)
            flat.extend(v for ab in intervals for v in ab)
            counts.append(len(intervals))
            kept.append(len(speech))
        return {"intervals": np.array(flat, dtype=np.int64), "counts": np.array(counts, dtype=np.int64),
                "kept": np.array(kept, dtype=np.int64)}

    parts = stage.process_in_chunks(list(range(len(m))), p["chunk_size"], out_dir / "parts" / split, work,
                                    f"VAD {split}")
    intervals, kept = [], []
    for path in parts:
        with np.load(path) as z:
            flat, counts = z["intervals"].reshape(-1, 2), z["counts"]
            kept.extend(int(k) for k in z["kept"])
        offsets = np.concatenate([[0], np.cumsum(counts)])
        intervals.extend([tuple(map(int, ab)) for ab in flat[offsets[j]:offsets[j + 1]]] for j in range(len(counts)))
    return intervals, kept


def run(p: dict) -> dict:
    """VAD and silence removal of every split of the 01_data corpus; skipped when already done."""
    data_record = stage.load_stage(p, "data", "01_data")
    out_dir = output_dir(p, data_record)
    phash = stage_hash(p, data_record)
    if stage.is_done(out_dir, phash):
        log.info("02_audio_prep: already done for these parameters in %s", out_dir)
    else:
        start = time.time()
        summary = {}
        for split in manifest.SPLITS:
            src = Path(data_record["manifests"])
            if not (src / f"{split}.tsv").is_file():
                continue
            m = manifest.read(src, split)
            intervals, kept = _process_split(p, m, out_dir, split)
            stage.atomic_write_text(out_dir / f"{split}.vads",
                                    "".join(" ".join(f"{a}:{b}" for a, b in iv) + "\n" for iv in intervals))
            trimmed = manifest.Manifest((out_dir / "audio").resolve(),
                                        [str(Path(q).with_suffix(".flac")) for q in m.paths], kept,
                                        m.words, m.phones, m.speakers)
            manifest.write(out_dir / "manifests", split, trimmed)
            summary[split] = {"utterances": len(m), "samples_in": m.total_samples, "samples_kept": int(sum(kept))}
            log.info("02_audio_prep %s: kept %.1f%% of %d utterances", split,
                     100 * sum(kept) / max(m.total_samples, 1), len(m))
        total_in = sum(s["samples_in"] for s in summary.values())
        total_kept = sum(s["samples_kept"] for s in summary.values())
        summary["speech_fraction"] = total_kept / max(total_in, 1)
        stage.atomic_write_json(out_dir / "summary.json", summary)
        stage.mark_done(out_dir, phash, {"dir": str(out_dir)}, params=p, seconds=time.time() - start)
    record = {"dir": str(out_dir), "manifests": str(out_dir / "manifests"), "params_hash": phash,
              "text": data_record["text"], "data_dir": data_record["dir"]}
    stage.record_stage(p, KEY, record)
    return record


def read_vads(path) -> list[list[tuple[int, int]]]:
    """A ``.vads`` file back as a list of interval lists."""
    out = []
    for line in Path(path).read_text().splitlines():
        out.append([tuple(int(v) for v in item.split(":")) for item in line.split()])
    return out


def load_summary(record: dict) -> dict:
    """The summary.json of the stage."""
    return json.loads((Path(record["dir"]) / "summary.json").read_text())


def metrics(summary: dict) -> dict:
    """``speech_fraction``: kept samples over all samples, every split."""
    return {"speech_fraction": round(summary["speech_fraction"], 4)}
