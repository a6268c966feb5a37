"""Stage 07, benchmark: speed of every stage and of every backend on real prepared audio, measured fairly.

Protocol: each arm (a backend in an environment) runs in its own process (``python -m
aitranscribe.benchmarking.arm``), bound to the same cores and memory node (``numactl`` when present, else
``taskset``; the binding is recorded), with the same thread count (``threads`` for the acoustic model and
training; the end-to-end run, one utterance at a time, in other processes with ``e2e_threads``: with
two threads the small per-utterance operations spent most of their time handing work between threads; its repeats
run in ``e2e_rounds`` rounds, every arm in turn, so a change of the machine's speed reaches all arms alike and the
rounds' spread is reported); warm-up calls are discarded; every
measurement is repeated ``repeats`` times and reported as median, quartiles and p90 with the raw samples
kept; everything runs under ``torch.inference_mode()``. Before any speedup is shown, every arm's PER on
the test split must equal the eager arm's within ``per_tolerance``. The machine (lscpu), versions and
git revision are recorded.

Arms: ``eager``, ``compile``, ``int8``, ``openvino`` in the stock environment; ``stock-2.8`` and ``ipex`` in
``.venv-intel`` (same torch 2.8 in both, so IPEX is compared fairly) when it exists.

wav2vec 2.0 feature extraction (:func:`run_w2v2`, its own output directory ``w2v2-<hash>``, needing only the
prepared test audio): for each architecture of ``w2v2_archs`` up to ``w2v2_layer`` (the architecture's last block
when it has fewer), each arm of :mod:`aitranscribe.features.wav2vec2.backends` in its own bound process, on
``w2v2_seconds``-long waveforms cut from the silence-removed test audio, at each of ``w2v2_batch_sizes``: x real
time, GFLOP/s (:func:`~aitranscribe.features.wav2vec2.count_flops`), the fraction of this CPU's peak for the arm's
precision (:func:`~aitranscribe.core.machine.peak_gflops`) and of what one matrix product at the architecture's
feed-forward shape reaches here (:func:`~aitranscribe.benchmarking.w2v2.matmul_rate`), and the fidelity of the
layer's output against the fp32 arm's. Weights: the profile's checkpoint when stage 03 used one (for its architecture and layer); otherwise random
weights written in fairseq's checkpoint format and read through the kit's loader, labelled "speed only".
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..benchmarking import results, scaling
from ..core.metric_labels import PCT, PLAIN
from ..core import backend_table, machine, registry, stage
from ..core.errors import KitError
from ..core.files import atomic_save_npy, atomic_write_text
from ..core.logs import SHAREABLE
from ..core.params import Param
from ..core.paths import REPO_ROOT, resolve
from ..features import wav2vec2
from ..features.wav2vec2.backends import MIN_COSINE
from ..io import audio, manifest
from ..scale import executor

log = logging.getLogger(__name__)

KEY = "benchmark"
NOTEBOOK = registry.info(KEY).notebook
# defaults at the CI profile's sizes (the notebooks' parameters cells hold them; CI checks that every arm runs and
# agrees with eager, not the figures); a profile whose figures are reported states its own sizes (params/demo.yaml)
PARAMS = {
    "backends": Param(list(backend_table.names("acoustic")), list, "backends of the acoustic model to measure, each in "
                                                                    "its own process (core/backend_table.py)"),
    "batch_sizes": Param([1, 8], list, "acoustic-model batch sizes; the seed used 1, 8, 16, 32, 64, 128"),
    "repeats": Param(20, int, "timed repeats of every measurement, at least 20"),
    "warmup": Param(3, int, "discarded warm-up calls"),
    "threads": Param(0, int, "threads per backend for the acoustic model and training, 0 for all bound cores"),
    "e2e_threads": Param(1, int, "threads of the end-to-end run, one utterance at a time"),
    "e2e_utterances": Param(5, int, "test utterances timed through every stage"),
    "e2e_rounds": Param(1, int, "the end-to-end repeats split into this many processes per backend, the backends taking "
                                "turns: a change of the machine's speed during the stage reaches every backend alike"),
    "train_updates": Param(5, int, "timed GAN updates for training throughput, at the model's and the paper's sizes"),
    "train_batch_size": Param(32, int, "batch of the training-throughput measurement at the model's sizes"),
    "per_tolerance": Param(0.01, float, "largest PER difference to eager accepted"),
    "int8_per_tolerance": Param(0.02, float, "the same for int8, whose rounding flips near-tied argmaxes"),
    "scale_workers": Param(2, int, "Ray workers of the scaling measurement (test audio end to end with 1 worker, "
                                   "then this many); 0 skips it"),
    "scale_audio_s": Param(300.0, float, "seconds of prepared recordings (test, valid, then train) the scaling "
                                         "measurement transcribes with each worker count"),
    "w2v2_archs": Param(["tiny"], list, "wav2vec 2.0 architectures whose feature extraction is benchmarked: tiny, "
                                        "base, large"),
    "w2v2_layer": Param(14, int, "wav2vec 2.0: run up to this block (0-based, fairseq's numbering; wav2vec-U's 14), "
                                 "or an architecture's last block when it has fewer"),
    "w2v2_backends": Param(["fp32", "bf16", "int8-dynamic", "openvino"], list, "wav2vec 2.0 backends, see "
                           "features/wav2vec2/backends.py (the demo profile runs all of them; compiling ones take "
                           "minutes)"),
    "w2v2_batch_sizes": Param([1], list, "wav2vec 2.0 batch sizes"),
    "w2v2_seconds": Param(10.0, float, "length of every benchmarked waveform, cut from the test audio"),
    "w2v2_repeats": Param(5, int, "timed calls per wav2vec 2.0 batch size, at least 3 (each takes seconds at BASE and LARGE sizes)"),
    "w2v2_warmup": Param(1, int, "discarded wav2vec 2.0 warm-up calls per batch size"),
    "w2v2_calibration": Param(4, int, "waveforms calibrating the int8 backends (and the example input of the others)"),
    "w2v2_min_cosine": Param(MIN_COSINE, float, "fidelity bar: mean per-frame cosine with fp32 a backend needs to count as "
                                          "the best (and for stage 03's feature_backend auto)"),
}
W2V2_PARAMS = tuple(k for k in PARAMS if k.startswith("w2v2_"))
INTEL_PYTHON = REPO_ROOT / ".venv-intel" / "bin" / "python"
# why a backend of .venv-intel did not run, and how to add it (the report shows it beside the backend; a table cuts
# it after 50 characters, so the command comes first, and the stage also logs it whole)
INTEL_MISSING = ("needs .venv-intel: `bash run_all.sh --setup-intel --params <profile> --from 07` builds it and runs "
                 "only the missing backends. It is built only on request: torch 2.8 (for IPEX 2.8) is a CUDA build, "
                 "~4.1 GB to download and 7.4 GB on disk")


def _intel_env(names) -> dict | None:
    """``{"venv_intel": its installed requirements}`` (False when it is missing) when the backends ``names`` include
    one that runs in .venv-intel, else None: the stage's input content (:class:`~aitranscribe.core.stage.StageDef`),
    so that once .venv-intel is built, or its pinned packages change (run_all.sh's stamp), the stage runs again in
    the same directory, where only the backends without a raw result (missing or failed) are measured."""
    if all(backend_table.environment(name) == backend_table.STOCK for name in names if name in backend_table.TABLE):
        return None
    stamp = INTEL_PYTHON.parent.parent / ".requirements"
    if not INTEL_PYTHON.is_file():
        return {"venv_intel": False}
    return {"venv_intel": stamp.read_text().split() if stamp.is_file() else True}


STAGE = stage.StageDef(KEY, needs=("audio_prep", "features", "text", "train"), name=lambda p: "bench",
                       report_only=lambda p: (*W2V2_PARAMS, "scale_workers", "scale_audio_s"),
                       content=lambda p: _intel_env(p["backends"]))


def _python_for(arm: str) -> Path | None:
    """The interpreter of a backend's environment; None when ``.venv-intel`` is needed and missing."""
    if backend_table.environment(arm) == backend_table.STOCK:
        return Path(sys.executable)
    return INTEL_PYTHON if INTEL_PYTHON.is_file() else None


def run(p: dict) -> dict:
    """Run every arm in its own bound process; keep raw samples; skipped when done."""
    if p["repeats"] < 20:
        raise KitError(f"repeats must be at least 20 for a median with a meaningful spread, got {p['repeats']}")
    return STAGE.run(p, _compute, lambda p, r, out_dir, s: {})


def _compute(p: dict, records: dict, out_dir: Path) -> dict:
    cores = sorted(os.sched_getaffinity(0))
    prefix, bound = machine.binding(cores)
    threads = p["threads"] or len(cores)
    arms, skipped, specs = {}, {}, {}
    for arm in p["backends"]:
        if arm not in backend_table.names("acoustic"):
            raise KitError(f"unknown backend {arm!r}; choose from {list(backend_table.names('acoustic'))}")
        python = _python_for(arm)
        if python is None:
            skipped[arm] = INTEL_MISSING
            log.warning("backend %s not run: %s", arm, skipped[arm], extra=SHAREABLE)
            continue
        specs[arm] = {"arm": arm, "label": f"backend {arm}", "threads": threads, "records": records,
                      "batch_sizes": [int(b) for b in p["batch_sizes"]], "repeats": p["repeats"], "warmup": p["warmup"],
                      "e2e": False, "e2e_utterances": p["e2e_utterances"], "train_updates": p["train_updates"],
                      "train_batch_size": p["train_batch_size"]}
        try:
            arms[arm] = _worker(python, prefix, bound, specs[arm], out_dir / "raw" / f"{arm}.json")
        except KitError as exc:
            skipped[arm] = str(exc)
    # end to end in processes of their own (thread pools are fixed when numpy and torch start), in rounds: every
    # arm's share of the repeats in turn, so the arms see the machine in the same phases
    rounds = max(1, p["e2e_rounds"])
    per_round = -(-p["repeats"] // rounds)
    e2e = {arm: [] for arm in arms}
    for k in range(rounds):
        for arm in [a for a in e2e if a not in skipped]:
            spec = {**specs[arm], "threads": p["e2e_threads"], "batch_sizes": [], "repeats": per_round, "e2e": True,
                    "train_updates": 0}
            try:
                e2e[arm].append(_worker(_python_for(arm), prefix, bound, spec,
                                        out_dir / "raw" / f"{arm}-e2e-round{k + 1}.json")["e2e"])
            except KitError as exc:
                skipped[arm] = str(exc)
    arms = {arm: {**r, "e2e": merged_e2e(e2e[arm])} for arm, r in arms.items() if arm not in skipped}
    if "eager" not in arms:
        raise KitError(f"the eager backend is the reference and did not run: {skipped.get('eager')}")
    return {"machine": machine.cpu(), "binding": bound, "threads": threads, "backends": arms, "skipped": skipped,
            "params": {k: p[k] for k in PARAMS}}


def merged_e2e(rounds: list[dict]) -> dict:
    """One arm's end-to-end result from its rounds (each a worker's ``e2e``): the samples of all rounds, their
    summaries, x real time from the median of all, and each round's own x real time (the spread over the run)."""
    first = rounds[0]
    totals = [t for r in rounds for t in r["total"]["samples"]]
    stages = {k: [t for r in rounds for t in r["stages"][k]["samples"]] for k in first["stages"]}
    return {**{k: first[k] for k in ("audio_seconds", "utterances", "threads")},
            "stages": {k: {"samples": v, **results.summarize(v)} for k, v in stages.items()},
            "total": {"samples": totals, **results.summarize(totals)},
            "x_realtime": first["audio_seconds"] / float(np.median(totals)),
            "x_realtime_rounds": [r["x_realtime"] for r in rounds]}


def _last_json(stdout: str, label: str) -> dict:
    """The worker's result: the last JSON object its output ends a line with (libraries it loads, e.g. a compiler or
    a quantizer's progress bar, may print after it, or before it on the same line); KitError naming the arm when
    there is none."""
    decoder = json.JSONDecoder()
    for line in reversed(stdout.strip().splitlines()):
        for start in (i for i, c in enumerate(line) if c == "{"):
            try:
                value, end = decoder.raw_decode(line, start)
            except ValueError:
                continue
            if isinstance(value, dict) and not line[end:].strip():
                return value
    raise KitError(f"{label} printed no result (its output ends: {stdout.strip()[-200:]!r})")


def _worker(python: Path, prefix: list[str], bound: str, spec: dict, path: Path) -> dict:
    """One bound worker process for ``spec``; its JSON result, with the load before it, kept in ``path``."""
    if not path.is_file():
        load = machine.busy_fraction()
        if load > 0.2:
            log.warning("the machine is %.0f%% busy before %s: its timings will be slow", 100 * load, spec.get("label", spec["arm"]),
                        extra=SHAREABLE)
        threads = spec["threads"]
        log.info("%s%s: %s -m aitranscribe.benchmarking.arm (bound: %s, %d thread(s))", spec.get("label", spec["arm"]),
                 " end to end" if spec.get("e2e") else "", python, bound, threads)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "OPENBLAS_NUM_THREADS": str(threads)}
        done = subprocess.run([*prefix, str(python), "-m", "aitranscribe.benchmarking.arm", json.dumps(spec)],
                              capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        if done.returncode != 0:
            log.warning("%s failed: %s", spec.get("label", spec["arm"]), done.stderr.strip()[-800:],
                        extra=SHAREABLE)
            raise KitError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                           f"the worker exited with code {done.returncode} and no message (killed: out of memory?)")
        result = {**_last_json(done.stdout, spec.get("label", spec["arm"])), "load_before": load}
        atomic_write_text(path, json.dumps(result) + "\n")
    return json.loads(path.read_text())


W2V2 = stage.StageDef(KEY, needs=("audio_prep",), name=lambda p: "w2v2", recorded=lambda p: False,
                      report_only=lambda p: tuple(k for k in PARAMS if k not in W2V2_PARAMS and k != "threads"),
                      hashed=lambda p: {"w2v2_profile_checkpoint": _profile_checkpoint(p)},
                      content=lambda p: _intel_env(p["w2v2_backends"]))
W2V2_MIN_REPEATS = 3
GEMM_REPEATS = 20  # calls of the one matrix product per precision (tens of ms each at LARGE's shape)


def _profile_checkpoint(p: dict) -> dict | None:
    """The wav2vec 2.0 checkpoint and layer of the profile's stage 03, when it extracted wav2vec 2.0 features."""
    try:
        record = stage.load_stage(p, "features")
    except KitError:
        return None
    params = stage.done_params(record["dir"]) if (Path(record["dir"]) / stage.DONE).is_file() else {}
    if params.get("kind") != "wav2vec2" or not params.get("checkpoint"):
        return None
    return {"checkpoint": str(resolve(params["checkpoint"])), "layer": int(params["layer"])}


def run_w2v2(p: dict) -> dict:
    """Benchmark wav2vec 2.0 feature extraction, every arm in its own bound process; skipped when done.
    Returns the run's record (``dir``: where ``summary.json`` and the raw samples are)."""
    if p["w2v2_repeats"] < W2V2_MIN_REPEATS:
        raise KitError(f"w2v2_repeats must be at least {W2V2_MIN_REPEATS} for a median with quartiles, "
                       f"got {p['w2v2_repeats']}")
    unknown = [a for a in p["w2v2_archs"] if a not in wav2vec2.ARCHITECTURES]
    if unknown:
        raise KitError(f"unknown wav2vec 2.0 architecture(s) {unknown}; choose from {list(wav2vec2.ARCHITECTURES)}")
    unknown = [a for a in p["w2v2_backends"] if a not in backend_table.names("wav2vec2")]
    if unknown:
        raise KitError(f"unknown wav2vec 2.0 backend(s) {unknown}; choose from {list(backend_table.names('wav2vec2'))}")
    if not p["w2v2_archs"] or not p["w2v2_backends"]:
        raise KitError("w2v2_archs and w2v2_backends must name at least one architecture and one backend")
    return W2V2.run(p, _compute_w2v2, lambda p, r, out_dir, s: {})


def benchmark_audio(manifests: Path, seconds: float, count: int) -> tuple[np.ndarray, int]:
    """``count`` waveforms of ``seconds`` each, (count, samples) float32, made by joining the silence-removed test
    utterances in order (cycling when there are too few); also how many distinct utterances went in."""
    m = manifest.read(manifests, "test")
    if len(m) == 0:
        raise KitError(f"{manifests}: the test split is empty; the benchmark cuts its waveforms from it")
    target = int(round(seconds * audio.TARGET_SR))
    out, pending, used = [], [], 0
    while len(out) < count:
        pending.append(audio.read(m.audio_path(used % len(m)))[0])
        used += 1
        if sum(len(x) for x in pending) >= target:
            out.append(np.concatenate(pending)[:target])
            pending = []
    return np.stack(out).astype(np.float32), min(used, len(m))


def _w2v2_models(p: dict, out_dir: Path) -> dict:
    """Per architecture: checkpoint, layer and the weights' label; random checkpoints are written here."""
    models = {}
    profile = _profile_checkpoint(p)
    if profile is not None:
        settings = wav2vec2.load_wav2vec2(profile["checkpoint"], layer=profile["layer"]).settings
        arch = wav2vec2.architecture_of(settings) or "checkpoint"
        models[arch] = {**profile, "layer_asked": profile["layer"], "settings": settings,
                        "weights": f"the profile's checkpoint {Path(profile['checkpoint']).name}"}
    for arch in p["w2v2_archs"]:
        if arch in models:
            continue
        settings = wav2vec2.ARCHITECTURES[arch]
        layer = min(p["w2v2_layer"], settings.encoder_layers - 1)
        path = out_dir / "checkpoints" / f"random-{arch}-seed{p['seed']}.pt"
        if not path.is_file():
            log.info("writing a random %s checkpoint in fairseq's format: %s", arch, path)
            wav2vec2.save_random_checkpoint(path, settings, p["seed"])
        models[arch] = {"checkpoint": str(path), "layer": layer, "layer_asked": p["w2v2_layer"],
                        "weights": "random, fairseq format: speed only", "settings": settings}
    return models


def _compute_w2v2(p: dict, records: dict, out_dir: Path) -> dict:
    cores = sorted(os.sched_getaffinity(0))
    prefix, bound = machine.binding(cores)
    threads = p["threads"] or len(cores)
    sizes = sorted({int(b) for b in p["w2v2_batch_sizes"]})
    wavs, distinct = benchmark_audio(Path(records["audio_prep"]["manifests"]), p["w2v2_seconds"], sizes[-1])
    audio_path = out_dir / "audio.npy"
    atomic_save_npy(audio_path, wavs)
    models = _w2v2_models(p, out_dir)
    arms = ["fp32"] + [a for a in p["w2v2_backends"] if a != "fp32"]  # fp32 first: the fidelity reference
    missing = [arm for arm in arms if _python_for(arm) is None]
    if missing:
        log.warning("wav2vec 2.0 backends %s not run: %s", ", ".join(missing), INTEL_MISSING, extra=SHAREABLE)
    results_by_arch, skipped, gemm = {}, {}, {}
    for arch, model in models.items():
        results_by_arch[arch], skipped[arch] = {}, {}
        settings = model["settings"]
        shape = [wav2vec2.count_flops(settings, wavs.shape[1], model["layer"], 1)["frames"],
                 settings.encoder_embed_dim, settings.encoder_ffn_embed_dim]
        spec = {"kind": "gemm", "arm": "gemm", "label": f"w2v2 {arch} one matrix product", "threads": threads,
                "shape": shape, "repeats": GEMM_REPEATS}
        gemm[arch] = _worker(_python_for("fp32"), prefix, bound, spec, out_dir / "raw" / f"{arch}-gemm.json")
        reference = out_dir / "raw" / f"reference-{arch}.npy"
        for arm in arms:
            python = _python_for(arm)
            if python is None:
                skipped[arch][arm] = INTEL_MISSING
                continue
            spec = {"kind": "w2v2", "arm": arm, "label": f"w2v2 {arch} {arm}", "threads": threads,
                    "checkpoint": model["checkpoint"], "layer": model["layer"], "audio": str(audio_path),
                    "batch_sizes": sizes, "repeats": p["w2v2_repeats"], "warmup": p["w2v2_warmup"],
                    "calibration": p["w2v2_calibration"], "reference": str(reference), "write_reference": arm == "fp32"}
            try:
                results_by_arch[arch][arm] = _worker(python, prefix, bound, spec, out_dir / "raw" / f"{arch}-{arm}.json")
            except KitError as exc:
                skipped[arch][arm] = str(exc)
        if "fp32" not in results_by_arch[arch]:
            raise KitError(f"wav2vec 2.0 {arch}: the fp32 backend is the reference and did not run: {skipped[arch]['fp32']}")
    info = machine.cpu()
    summary = {
        "machine": info, "binding": bound, "threads": threads,
        "peaks": {prec: machine.peak_gflops(info, prec, threads) for prec in machine.PRECISIONS},
        "audio": {"waveforms": len(wavs), "seconds_each": p["w2v2_seconds"], "test_utterances": distinct},
        "models": {arch: {**m, "settings": dataclasses.asdict(m["settings"]),
                          "flops": {str(b): wav2vec2.count_flops(m["settings"], wavs.shape[1], m["layer"], b)
                                    for b in sizes}}
                   for arch, m in models.items()},
        "backends": results_by_arch, "skipped": skipped, "gemm": gemm, "min_cosine": p["w2v2_min_cosine"],
        "params": {k: p[k] for k in W2V2_PARAMS},
    }
    for arch, m in models.items():  # random weights are cheap to make again and large (1.3 GB for LARGE)
        if m["checkpoint"].startswith(str(out_dir)):
            Path(m["checkpoint"]).unlink(missing_ok=True)
    return summary


def peer_speed(p: dict) -> dict | None:
    """The pocketsphinx peer's speed on the test split, as stage 06 measured it (report-only), or None."""
    try:
        record = stage.load_stage(p, "inference")
    except KitError:
        return None
    path = Path(record["dir"]) / stage.SUMMARY
    refs = json.loads(path.read_text()).get("references") if path.is_file() else None
    return (refs or {}).get("pocketsphinx")


LABELS = {  # this stage's metrics (metrics()), in reading order: (label, how the value is shown)
    "e2e_x_realtime": ("end to end, times real time (fastest backend)", PLAIN),
    "e2e_best_backend": ("fastest backend end to end", PLAIN),
    "e2e_x_realtime_eager": ("end to end, times real time (stock PyTorch fp32 eager)", PLAIN),
    "e2e_x_realtime_eager_slowest_round": ("the same, its slowest round (the machine's slow phase)", PLAIN),
    "e2e_x_realtime_eager_fastest_round": ("the same, its fastest round", PLAIN),
    "e2e_threads": ("threads end to end", PLAIN),
    "train_updates_per_s": ("training updates per second (the selected method, model's sizes)", PLAIN),
    "train_updates_per_s_paper_sizes": ("wav2vec-U GAN updates per second (paper's sizes)", PLAIN),
    "pocketsphinx_x_realtime": ("pocketsphinx, times real time (stage 06)", PLAIN),
    "scale_workers": ("Ray workers of the scaling measurement", PLAIN),
    "scale_x_realtime_1_worker": ("scaling: times real time, 1 Ray worker", PLAIN),
    "scale_speedup": ("scaling: speedup of all workers over 1", PLAIN),
}
KEY_FIGURES = ("w2v2_*_best_backend", "w2v2_*_speedup_best", "w2v2_*_peak_fraction_best", "e2e_x_realtime_eager",
               "e2e_x_realtime", "e2e_best_backend", "scale_speedup")  # the report's first table; the rest below it
_SPEEDUP = re.compile(r"^speedup_(?P<backend>\w+?)_bs(?P<batch>\d+)$")
_W2V2 = re.compile(r"^w2v2_(?P<arch>[a-z0-9]+)_(?P<what>x_realtime_(?P<backend>\w+)|gemm_gflops_(?P<prec>\w+)|"
                   r"best_backend|speedup_best|peak_fraction_best|gemm_fraction_best)$")
_PEAK = re.compile(r"^cpu_peak_gflops_(?P<prec>\w+)$")
_SCALE = re.compile(r"^scale_x_realtime_(?P<n>\d+)_workers$")
_W2V2_BEST = {"best_backend": ("best backend (the fastest passing the fidelity bar, batch 1)", PLAIN),
              "speedup_best": ("best backend's speedup over fp32 eager", PLAIN),
              "peak_fraction_best": ("best backend's share of the CPU's peak for its precision", PCT),
              "gemm_fraction_best": ("best backend's share of one PyTorch matrix product's rate", PCT)}


def _rate_unit(precision: str) -> str:
    return "GOP/s" if precision == "int8" else "GFLOP/s"


def label_of(name: str) -> tuple[str, str] | None:
    """Labels of the metrics named after a backend, batch size, architecture, precision or worker count."""
    if m := _SPEEDUP.match(name):
        backend = backend_table.from_metric_key(m["backend"])
        return f"speedup of {backend} over {'stock-2.8' if backend == 'ipex' else 'eager'}, batch {m['batch']}", PLAIN
    if m := _W2V2.match(name):
        head = f"wav2vec 2.0 {m['arch'].upper() if m['arch'] in ('base', 'large') else m['arch']}"
        if m["backend"]:
            return f"{head}, {backend_table.from_metric_key(m['backend'])}: times real time, batch 1", PLAIN
        if m["prec"]:
            return f"{head}: one PyTorch {m['prec']} matrix product, {_rate_unit(m['prec'])}", PLAIN
        label, kind = _W2V2_BEST[m["what"]]
        return f"{head}: {label}", kind
    if m := _PEAK.match(name):
        return f"nominal peak of the bound cores, {m['prec']}, {_rate_unit(m['prec'])}", PLAIN
    if m := _SCALE.match(name):
        return f"scaling: times real time, {m['n']} Ray workers", PLAIN
    return None

def metrics(summary: dict, w2v2: dict | None = None, peer: dict | None = None, scale: dict | None = None) -> dict:
    """speedup_<backend>_bs<N> (vs eager; ipex vs stock-2.8 on the same torch), e2e_x_realtime (the fastest
    backend's), e2e_x_realtime_eager with its slowest and fastest round, train_updates_per_s;
    with the wav2vec 2.0 summary ``w2v2`` its figures (:func:`~aitranscribe.benchmarking.results.w2v2_metrics`);
    with stage 06's ``peer`` figures, pocketsphinx_x_realtime; with the scaling summary ``scale`` (:func:`run_scale`),
    scale_workers, scale_x_realtime_<n>_worker(s) and scale_speedup."""
    out = {f"speedup_{backend_table.metric_key(arm)}_bs{bs}": round(v["speedup"], 3)
           for (arm, bs), v in results.speedups(summary).items() if arm != "eager"}
    e2e = {arm: r["e2e"]["x_realtime"] for arm, r in summary["backends"].items() if "e2e" in r}
    best = max(e2e, key=e2e.get)
    out["e2e_x_realtime"] = round(e2e[best], 1)
    out["e2e_best_backend"] = best
    out["e2e_threads"] = summary["backends"][best]["e2e"].get("threads")
    if "eager" in e2e:
        out["e2e_x_realtime_eager"] = round(e2e["eager"], 1)  # stock PyTorch fp32
        spread = summary["backends"]["eager"]["e2e"].get("x_realtime_rounds")
        if spread:  # how the machine's speed moved during the stage: the slowest and fastest round
            out["e2e_x_realtime_eager_slowest_round"] = round(min(spread), 1)
            out["e2e_x_realtime_eager_fastest_round"] = round(max(spread), 1)
    eager = summary["backends"]["eager"]
    out["train_updates_per_s"] = round(eager.get("train_updates_per_s", float("nan")), 3)
    out["train_updates_per_s_paper_sizes"] = round(eager.get("train_updates_per_s_paper_sizes", float("nan")), 3)
    if w2v2 is not None:
        out.update(results.w2v2_metrics(w2v2))
    if peer is not None:
        out["pocketsphinx_x_realtime"] = round(peer["x_realtime_words"], 2)
    if scale:
        out.update({f"scale_{name}": value for name, value in scaling.metrics(scale).items()})
    return out


def run_scale(p: dict, record: dict) -> dict | None:
    """The scaling measurement (:mod:`aitranscribe.benchmarking.scaling`) with 1, then ``scale_workers`` Ray workers
    (on ``ray_address``, ``worker_threads`` each), with stage 06's settings; cached in ``scale.json`` beside the
    benchmark. None when ``scale_workers`` is 0."""
    if p["scale_workers"] <= 0:
        return None
    inference = stage.load_stage(p, "inference")
    settings = executor.Settings.of({**p, "executor": "ray"})
    key = {"workers": p["scale_workers"], "audio_s": p["scale_audio_s"], "threads": settings.worker_threads,
           "address": p["ray_address"],
           "inference": inference["params_hash"], "benchmark": record["params_hash"]}  # threads as the workers run
    return stage.cached_step(Path(record["dir"]) / "scale.json", key, lambda: scaling.measure(
        stage.done_params(inference["dir"]), STAGE.inputs(p), stage.load_summary(inference)["acoustic_scale"],
        Path(record["dir"]) / "scale", settings, sorted({1, p["scale_workers"]}), p["scale_audio_s"]))
