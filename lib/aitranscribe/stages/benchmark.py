"""Stage 07, benchmark: speed of every stage and of every backend on real prepared audio, measured fairly.

Protocol: each arm (a backend in an environment) runs in its own process (``python -m
aitranscribe.benchmarking.arm``), bound to the same cores and memory node (``numactl`` when present, else
``taskset``; the binding is recorded), with the same thread count (``threads`` for the acoustic model and
training; the end-to-end run, one utterance at a time, in a second process with ``e2e_threads``: with
two threads the small per-utterance operations spent most of their time handing work between threads); warm-up calls are discarded; every
measurement is repeated ``repeats`` times and reported as median, quartiles and p90 with the raw samples
kept; everything runs under ``torch.inference_mode()``. Before any speedup is shown, every arm's PER on
the test split must equal the eager arm's within ``per_tolerance``. The machine (lscpu), versions and
git revision are recorded.

Arms: ``eager``, ``compile``, ``int8``, ``openvino`` in the stock environment; ``stock-2.8`` and ``ipex`` in
``.venv-intel`` (same torch 2.8 in both, so IPEX is compared fairly) when it exists.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from ..core import machine, registry, stage
from ..core.errors import KitError
from ..core.files import atomic_write_text
from ..core.logs import SHAREABLE
from ..core.params import Param
from ..core.paths import REPO_ROOT
from ..benchmarking import results, scaling
from ..core.files import read_json, atomic_write_json
from ..scale import executor

log = logging.getLogger(__name__)

KEY = "benchmark"
NOTEBOOK = registry.info(KEY).notebook
STOCK_ARMS = ("eager", "compile", "int8", "openvino")
INTEL_ARMS = ("stock-2.8", "ipex")
STAGE = stage.StageDef(KEY, needs=("audio_prep", "features", "text", "train"), name=lambda p: "bench",
                       report_only=lambda p: ("scale_workers", "scale_audio_s"))

PARAMS = {
    "arms": Param(["eager", "compile", "int8", "openvino", "stock-2.8", "ipex"], list, "arms to run"),
    "batch_sizes": Param([1, 8], list, "acoustic-model batch sizes; the seed used 1, 8, 16, 32, 64, 128"),
    "repeats": Param(20, int, "timed repeats of every measurement, at least 20"),
    "warmup": Param(3, int, "discarded warm-up calls"),
    "threads": Param(0, int, "threads per arm for the acoustic model and training, 0 for all bound cores"),
    "e2e_threads": Param(1, int, "threads of the end-to-end run, one utterance at a time"),
    "e2e_utterances": Param(10, int, "test utterances timed through every stage"),
    "train_updates": Param(10, int, "timed GAN updates for training throughput, at the model's and the paper's sizes"),
    "train_batch_size": Param(32, int, "batch of the training-throughput measurement at the model's sizes"),
    "per_tolerance": Param(0.01, float, "largest PER difference to eager accepted"),
    "int8_per_tolerance": Param(0.02, float, "the same for int8, whose rounding flips near-tied argmaxes"),
    "scale_workers": Param(2, int, "Ray workers of the scaling measurement (test audio end to end with 1 worker, "
                                   "then this many); 0 skips it"),
    "scale_audio_s": Param(300.0, float, "seconds of prepared recordings (test, valid, then train) the scaling "
                                         "measurement transcribes with each worker count"),
}


def _python_for(arm: str) -> Path | None:
    if arm in STOCK_ARMS:
        return Path(sys.executable)
    intel = REPO_ROOT / ".venv-intel" / "bin" / "python"
    return intel if intel.is_file() else None


def run(p: dict) -> dict:
    """Run every arm in its own bound process; keep raw samples; skipped when done."""
    if p["repeats"] < 20:
        raise KitError(f"repeats must be at least 20 for a median with a meaningful spread, got {p['repeats']}")
    return STAGE.run(p, _compute, lambda p, r, out_dir, s: {})


def _compute(p: dict, records: dict, out_dir: Path) -> dict:
    cores = sorted(os.sched_getaffinity(0))
    prefix, bound = machine.binding(cores)
    threads = p["threads"] or len(cores)
    arms, skipped = {}, {}
    for arm in p["arms"]:
        if arm not in STOCK_ARMS + INTEL_ARMS:
            raise KitError(f"unknown arm {arm!r}; choose from {list(STOCK_ARMS + INTEL_ARMS)}")
        python = _python_for(arm)
        if python is None:
            skipped[arm] = "needs .venv-intel (torch 2.8 + IPEX 2.8): run `bash run_all.sh --setup-intel`"
            log.warning("arm %s not run: %s", arm, skipped[arm], extra=SHAREABLE)
            continue
        spec = {"arm": arm, "threads": threads, "records": records, "batch_sizes": [int(b) for b in p["batch_sizes"]],
                "repeats": p["repeats"], "warmup": p["warmup"], "e2e": False, "e2e_utterances": p["e2e_utterances"],
                "train_updates": p["train_updates"], "train_batch_size": p["train_batch_size"]}
        try:
            result = _worker(python, prefix, bound, spec, out_dir / "raw" / f"{arm}.json")
            # end to end in a process of its own: thread pools are fixed when numpy and torch start
            e2e_spec = {**spec, "threads": p["e2e_threads"], "e2e": True, "train_updates": 0}
            result["e2e"] = _worker(python, prefix, bound, e2e_spec, out_dir / "raw" / f"{arm}-e2e.json")["e2e"]
        except KitError as exc:
            skipped[arm] = str(exc)
            continue
        arms[arm] = result
    if "eager" not in arms:
        raise KitError(f"the eager arm is the reference and did not run: {skipped.get('eager')}")
    return {"machine": machine.cpu(), "binding": bound, "threads": threads, "arms": arms, "skipped": skipped,
            "params": {k: p[k] for k in PARAMS}}


def _worker(python: Path, prefix: list[str], bound: str, spec: dict, path: Path) -> dict:
    """One bound worker process for ``spec``; its JSON result, with the load before it, kept in ``path``."""
    if not path.is_file():
        load = machine.busy_fraction()
        if load > 0.2:
            log.warning("the machine is %.0f%% busy before arm %s: its timings will be slow", 100 * load, spec["arm"],
                        extra=SHAREABLE)
        threads = spec["threads"]
        log.info("arm %s%s: %s -m aitranscribe.benchmarking.arm (bound: %s, %d thread(s))", spec["arm"],
                 " end to end" if spec["e2e"] else "", python, bound, threads)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "OPENBLAS_NUM_THREADS": str(threads)}
        done = subprocess.run([*prefix, str(python), "-m", "aitranscribe.benchmarking.arm", json.dumps(spec)],
                              capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        if done.returncode != 0:
            log.warning("arm %s failed: %s", spec["arm"], done.stderr.strip()[-800:], extra=SHAREABLE)
            raise KitError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
        result = {**json.loads(done.stdout.strip().splitlines()[-1]), "load_before": load}
        atomic_write_text(path, json.dumps(result) + "\n")
    return json.loads(path.read_text())


def metrics(summary: dict) -> dict:
    """speedup_<arm>_bs<N> (vs eager; ipex vs stock-2.8 on the same torch), e2e_x_realtime, train_updates_per_s."""
    out = {f"speedup_{arm.replace('-', '_').replace('.', '')}_bs{bs}": round(v["speedup"], 3)
           for (arm, bs), v in results.speedups(summary).items() if arm != "eager"}
    e2e = {arm: r["e2e"]["x_realtime"] for arm, r in summary["arms"].items() if "e2e" in r}
    best = max(e2e, key=e2e.get)
    out["e2e_x_realtime"] = round(e2e[best], 1)
    out["e2e_best_arm"] = best
    out["e2e_threads"] = summary["arms"][best]["e2e"].get("threads")
    eager = summary["arms"]["eager"]
    out["train_updates_per_s"] = round(eager.get("train_updates_per_s", float("nan")), 3)
    out["train_updates_per_s_paper_sizes"] = round(eager.get("train_updates_per_s_paper_sizes", float("nan")), 3)
    return out


def run_scale(p: dict, record: dict) -> dict | None:
    """The scaling measurement (:mod:`aitranscribe.benchmarking.scaling`) with 1, then ``scale_workers`` Ray workers
    (on ``ray_address``, ``worker_threads`` each), with stage 06's settings; cached in ``scale.json`` beside the
    benchmark. None when ``scale_workers`` is 0."""
    if p["scale_workers"] <= 0:
        return None
    inference = stage.load_stage(p, "inference")
    key = {"workers": p["scale_workers"], "audio_s": p["scale_audio_s"], "threads": p["worker_threads"],
           "address": p["ray_address"],
           "inference": inference["params_hash"], "benchmark": record["params_hash"]}
    path = Path(record["dir"]) / "scale.json"
    if path.is_file() and read_json(path).get("key") == key:
        return read_json(path)
    summary = scaling.measure(stage.done_params(inference["dir"]), STAGE.inputs(p),
                              stage.load_summary(inference)["acoustic_scale"], Path(record["dir"]) / "scale",
                              executor.Settings.of({**p, "executor": "ray"}), sorted({1, p["scale_workers"]}),
                              p["scale_audio_s"])
    summary["key"] = key
    atomic_write_json(path, summary)
    return summary


def scale_metrics(summary: dict | None) -> dict:
    """workers, x_realtime_1_worker, x_realtime_<n>_workers, speedup (none when the measurement was skipped)."""
    return scaling.metrics(summary) if summary else {}
