"""Stage 07, benchmark: speed of every stage and of every backend on real prepared audio, measured fairly.

Protocol: each arm (a backend in an environment) runs in its own process (``python -m
aitranscribe.benchmark``), bound to the same cores and memory node (``numactl`` when present, else
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

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import stage
from .errors import KitError
from .params import Param, params_hash
from .paths import REPO_ROOT, profile_data_dir

log = logging.getLogger(__name__)

KEY = "benchmark"
NOTEBOOK = "07_benchmark"
STOCK_ARMS = ("eager", "compile", "int8", "openvino")
INTEL_ARMS = ("stock-2.8", "ipex")

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
}


# ------------------------------------------------------------------------------------------------ machine

def binding(cores: list[int]) -> tuple[list[str], str]:
    """Command prefix binding a process to ``cores`` (and their memory node) and its description."""
    cpus = ",".join(map(str, cores))
    if shutil.which("numactl"):
        probe = subprocess.run(["numactl", "--physcpubind", cpus, "--membind", "0", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["numactl", "--physcpubind", cpus, "--membind", "0"], f"numactl --physcpubind {cpus} --membind 0"
    if shutil.which("taskset"):
        return ["taskset", "-c", cpus], f"taskset -c {cpus}"
    return [], "none (neither numactl nor taskset found)"


def machine() -> dict:
    """CPU model, cores, flags of interest (AVX2/AVX-512/VNNI/AMX), memory, git revision."""
    info = {"cores": len(os.sched_getaffinity(0))}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        info["model"] = fields.get("Model name", "").strip()
        flags = fields.get("Flags", "").split()
        info["flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "vnni", "avx512")))
        mhz = fields.get("CPU max MHz") or fields.get("CPU MHz") or ""
        if not mhz.strip() and fields.get("BogoMIPS"):
            mhz = str(float(fields["BogoMIPS"]) / 2)  # BogoMIPS is twice the clock on x86
        info["max_mhz"] = float(mhz) if mhz.strip() else 0.0
    except OSError:
        info["model"] = "unknown"
    info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    info["git_sha"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                     text=True).stdout.strip()
    return info


def busy_fraction(seconds: float = 0.5) -> float:
    """Share of CPU time the whole machine spent busy over ``seconds`` (from /proc/stat), 0 when unknown."""
    def snapshot():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = snapshot()
        time.sleep(seconds)
        total1, idle1 = snapshot()
    except OSError:
        return 0.0
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def summarize(samples: list[float]) -> dict:
    """Median, quartiles and p90 (seconds) of timed samples."""
    a = np.asarray(samples, dtype=np.float64)
    return {"median": float(np.median(a)), "q1": float(np.percentile(a, 25)), "q3": float(np.percentile(a, 75)),
            "p90": float(np.percentile(a, 90)), "n": len(a)}


# ------------------------------------------------------------------------------------------------ one arm

def _timed(fn, repeats: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return samples


def run_arm(spec: dict) -> dict:
    """Measure one arm in this process (called by the worker entry point). ``spec`` holds plain values."""
    import torch

    from . import backends, train
    from .inference import _split_items, score, transcribe

    threads = spec["threads"]
    torch.set_num_threads(threads)
    backend = "eager" if spec["arm"] == "stock-2.8" else spec["arm"]
    records = spec["records"]
    model = train.load_model(records["train"])
    symbols = records["train"]["symbols"]
    items = _split_items("test", records["features"], records["audio_prep"], records["text"], model.input)
    calibration = [train.pad_features([torch.from_numpy(np.ascontiguousarray(it["feats"])) for it in items[i:i + 8]])
                   for i in range(0, min(len(items), 32), 8)]
    runner = backends.make(backend, model.net, calibration)
    timing = (records["features"]["frame_shift_s"], records["features"]["frame_window_s"])
    result = {"arm": spec["arm"], "torch": torch.__version__, "threads": threads, "python": sys.version.split()[0]}
    with torch.inference_mode():
        result["per"] = score(transcribe(items, runner, model, symbols, None, timing, 32), items)["per"]
        if spec["e2e"]:
            result["e2e"] = {**_e2e(spec, runner, model, symbols, records), "threads": threads}
            return result
        result["model"] = {}
        for bs in spec["batch_sizes"]:
            chosen = [items[i % len(items)] for i in range(bs)]
            x, pad = train.pad_features([torch.from_numpy(np.ascontiguousarray(it["feats"])) for it in chosen])
            samples = _timed(lambda: runner(x, pad), spec["repeats"], spec["warmup"])
            result["model"][str(bs)] = {"samples": samples, **summarize(samples),
                                        "flops": model.net.flops(x.shape[0], x.shape[1]),
                                        "audio_seconds": sum(it["seconds"] for it in chosen), "steps": int((~pad).sum())}
    if spec["train_updates"] > 0 and backend == "eager":
        if model.input == "frames":
            result["train_updates_per_s"] = _classifier_throughput(spec, model, items, spec["train_batch_size"])
            result["train_update"] = "one Adam step of the frame classifier on a batch of utterances"
            gan_config = train.gan.GanConfig(input_dim=train.gan_input_dim(records["features"]), vocab=len(symbols))
        else:
            result["train_updates_per_s"] = _train_throughput(spec, model.net.cfg, symbols, records,
                                                              spec["train_batch_size"])
            result["train_update"] = "one GAN update (D and G alternating)"
            gan_config = model.net.cfg
        paper = train.gan.GanConfig(**{**dataclasses.asdict(gan_config), "disc_dim": 384, "disc_kernel": 6})
        result["train_updates_per_s_paper_sizes"] = _train_throughput(spec, paper, symbols, records, 160)
    return result


def _classifier_throughput(spec, model, items: list[dict], batch: int) -> float:
    """Adam steps per second of training the frame classifier (cross-entropy on per-frame targets)."""
    import torch

    from .selftrain import pad_frames

    net = type(model.net)(**model.net.config()).train()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    rng = np.random.default_rng(0)

    def update():
        x, padding = pad_frames([items[i]["feats"] for i in rng.integers(0, len(items), batch)])
        targets = torch.from_numpy(rng.integers(0, net.vocab, padding.shape)).masked_fill(padding, -100)
        loss = torch.nn.functional.cross_entropy(net(x, padding).reshape(-1, net.vocab), targets.reshape(-1),
                                                 ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(4):
        update()
    t = time.perf_counter()
    for _ in range(spec["train_updates"]):
        update()
    return spec["train_updates"] / (time.perf_counter() - t)


def _e2e(spec, runner, model, symbols, records) -> dict:
    """Per-stage and end-to-end times on silence-removed test utterances: features, segments (GAN only), the
    acoustic model, decoding (greedy for the GAN, the hybrid HMM for the decipher method)."""
    import torch

    from . import audio_io, decode, features, manifest, train
    from .inference import decode_batch

    transform = features.TrainedTransform(records["features"])
    m = manifest.read(Path(records["audio_prep"]["manifests"]), "test")
    n = min(spec["e2e_utterances"], len(m))
    audio = [audio_io.read(m.audio_path(i))[0] for i in range(n)]
    speakers = m.speakers[:n] if m.speakers else [None] * n
    stages = {"features": [], "segments": [], "model": [], "decoding": []}
    e2e = []
    for r in range(spec["repeats"] + spec["warmup"]):
        t = {k: 0.0 for k in stages}
        for x, speaker in zip(audio, speakers):
            t0 = time.perf_counter()
            frames = transform.extractor(x, speaker)
            t1 = time.perf_counter()
            if model.input == "frames":
                x = np.asarray(frames, dtype=np.float32)
            else:
                x = features.segment_frames(frames, transform.centroids, transform.A, transform.b,
                                            transform.params["pool_rate"])["pooled"]
            t2 = time.perf_counter()
            feats, pad = train.pad_features([torch.from_numpy(x)])
            logits = runner(feats, pad)
            t3 = time.perf_counter()
            for _, ids, spans in decode_batch(model, logits, pad):
                decode.path_phones(ids, spans, symbols, None)
            t4 = time.perf_counter()
            for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                t[k] += v
        if r >= spec["warmup"]:
            for k in stages:
                stages[k].append(t[k])
            e2e.append(sum(t.values()))
    seconds = sum(len(x) for x in audio) / audio_io.TARGET_SR
    return {"audio_seconds": seconds, "utterances": n, "stages": {k: summarize(v) for k, v in stages.items()},
            "total": {"samples": e2e, **summarize(e2e)}, "x_realtime": seconds / float(np.median(e2e))}


def _train_throughput(spec, cfg, symbols, records, batch: int) -> float:
    """Updates per second of GAN training (D and G alternating) for discriminator sizes ``cfg`` and ``batch``."""
    from . import gan, train

    feats = train.load_audio_split(records["features"], "train")[:256]
    text = train.load_text(records["text"]["phone_text"], symbols, 2000, 0)
    generator, disc = gan.Generator(cfg), gan.Discriminator(cfg)
    opt_g, opt_d = train.make_optimizers(generator, disc, 4e-4, 5e-4, 1e-4)
    rng = np.random.default_rng(0)

    def update(step):
        x, pad = train.pad_features([feats[i] for i in rng.integers(0, len(feats), batch)])
        real, real_pad = train.one_hot_text([text[i] for i in rng.integers(0, len(text), batch)], cfg.vocab)
        train.gan_update(step, generator, disc, opt_g, opt_d, cfg, x, pad, real, real_pad, clip_norm=5.0)

    for s in range(4):
        update(s)
    t = time.perf_counter()
    for s in range(spec["train_updates"]):
        update(s)
    return spec["train_updates"] / (time.perf_counter() - t)


# ------------------------------------------------------------------------------------------------ the stage

def output_dir(p: dict, train_record: dict) -> Path:
    """``<data_root>/<profile>/07_benchmark/<hash of parameters and model>``."""
    return profile_data_dir(p) / NOTEBOOK / f"bench-{params_hash({**p, 'model': train_record['params_hash']})}"


def _python_for(arm: str) -> Path | None:
    if arm in STOCK_ARMS:
        return Path(sys.executable)
    intel = REPO_ROOT / ".venv-intel" / "bin" / "python"
    return intel if intel.is_file() else None


def run(p: dict) -> dict:
    """Run every arm in its own bound process; keep raw samples; check equal PER; skipped when done."""
    if p["repeats"] < 20:
        raise KitError(f"repeats must be at least 20 for a median with a meaningful spread, got {p['repeats']}")
    records = {key: stage.load_stage(p, key, nb) for key, nb in
               (("audio_prep", "02_audio_prep"), ("features", "03_features"), ("text", "04_text_prep"),
                ("train", "05_train_gan"))}
    out_dir = output_dir(p, records["train"])
    phash = params_hash({**p, "model": records["train"]["params_hash"]})
    if stage.is_done(out_dir, phash):
        log.info("07_benchmark: already done for these parameters in %s", out_dir)
    else:
        cores = sorted(os.sched_getaffinity(0))
        prefix, bound = binding(cores)
        threads = p["threads"] or len(cores)
        results, skipped = {}, {}
        for arm in p["arms"]:
            if arm not in STOCK_ARMS + INTEL_ARMS:
                raise KitError(f"unknown arm {arm!r}; choose from {list(STOCK_ARMS + INTEL_ARMS)}")
            python = _python_for(arm)
            if python is None:
                skipped[arm] = "needs .venv-intel (torch 2.8 + IPEX 2.8): run `bash run_all.sh --setup-intel`"
                log.warning("arm %s not run: %s", arm, skipped[arm])
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
            results[arm] = result
        if "eager" not in results:
            raise KitError(f"the eager arm is the reference and did not run: {skipped.get('eager')}")
        summary = {"machine": machine(), "binding": bound, "threads": threads, "arms": results, "skipped": skipped,
                   "params": {k: p[k] for k in PARAMS}}
        stage.atomic_write_json(out_dir / "summary.json", summary)
        stage.mark_done(out_dir, phash, {"dir": str(out_dir)}, params=p)
    record = {"dir": str(out_dir), "params_hash": phash}
    stage.record_stage(p, KEY, record)
    return record


def _worker(python: Path, prefix: list[str], bound: str, spec: dict, path: Path) -> dict:
    """One bound worker process for ``spec``; its JSON result, with the load before it, kept in ``path``."""
    if not path.is_file():
        load = busy_fraction()
        if load > 0.2:
            log.warning("the machine is %.0f%% busy before arm %s: its timings will be slow", 100 * load, spec["arm"])
        threads = spec["threads"]
        log.info("arm %s%s: %s -m aitranscribe.benchmark (bound: %s, %d thread(s))", spec["arm"],
                 " end to end" if spec["e2e"] else "", python, bound, threads)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "OPENBLAS_NUM_THREADS": str(threads)}
        done = subprocess.run([*prefix, str(python), "-m", "aitranscribe.benchmark", json.dumps(spec)],
                              capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        if done.returncode != 0:
            log.warning("arm %s failed: %s", spec["arm"], done.stderr.strip()[-800:])
            raise KitError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
        result = {**json.loads(done.stdout.strip().splitlines()[-1]), "load_before": load}
        stage.atomic_write_text(path, json.dumps(result) + "\n")
    return json.loads(path.read_text())


def load_summary(record: dict) -> dict:
    """summary.json with every arm's results (raw samples included)."""
    return json.loads((Path(record["dir"]) / "summary.json").read_text())


def check_equal_per(summary: dict, tolerance: float, int8_tolerance: float) -> dict:
    """Every arm's test PER against eager's (``int8_tolerance`` for int8); KitError before any speedup is shown."""
    eager = summary["arms"]["eager"]["per"]
    pers = {arm: r["per"] for arm, r in summary["arms"].items()}
    bad = {arm: v for arm, v in pers.items() if abs(v - eager) > (int8_tolerance if arm == "int8" else tolerance)}
    if bad:
        raise KitError(f"arms whose PER differs from eager's {eager:.4f} by more than {tolerance} "
                       f"({int8_tolerance} for int8): {bad}")
    return {arm: round(v, 4) for arm, v in pers.items()}


def table(summary: dict):
    """Absolute numbers: per arm and batch size, median/q1/q3/p90 latency (ms), utterances/s, audio-s/s, GFLOP/s."""
    import pandas as pd

    rows = []
    for arm, r in summary["arms"].items():
        for bs, g in r["model"].items():
            rows.append({"arm": arm, "torch": r["torch"], "batch": int(bs), "median_ms": 1000 * g["median"],
                         "q1_ms": 1000 * g["q1"], "q3_ms": 1000 * g["q3"], "p90_ms": 1000 * g["p90"],
                         "utt_per_s": int(bs) / g["median"], "audio_s_per_s": g["audio_seconds"] / g["median"],
                         "gflops": g["flops"] / g["median"] / 1e9, "per": r["per"]})
    return pd.DataFrame(rows).set_index(["arm", "batch"]).round(3)


def speedups(summary: dict, reference: str = "eager") -> dict:
    """Median-latency ratio reference/arm per batch size, with a spread from the quartiles."""
    ref = summary["arms"][reference]["model"]
    out = {}
    for arm, r in summary["arms"].items():
        base = summary["arms"]["stock-2.8"]["model"] if arm == "ipex" and "stock-2.8" in summary["arms"] else ref
        for bs, g in r["model"].items():
            out[(arm, int(bs))] = {"speedup": base[bs]["median"] / g["median"],
                                   "low": base[bs]["q1"] / g["q3"], "high": base[bs]["q3"] / g["q1"]}
    return out


def roofline_note(summary: dict) -> str:
    """Achieved GFLOP/s of the acoustic model against the nominal fp32 peak (AVX2: 32 flops per cycle and core)."""
    best = max((g["flops"] / g["median"] / 1e9, arm, bs) for arm, r in summary["arms"].items()
               for bs, g in r["model"].items())
    ghz = summary["machine"].get("max_mhz", 0) / 1000
    text = f"Best acoustic-model throughput: {best[0]:.1f} GFLOP/s ({best[1]}, batch {best[2]})."
    if ghz:
        flops_per_cycle = 64 if any(f.startswith("avx512f") for f in summary["machine"].get("flags", [])) else 32
        peak = flops_per_cycle * ghz * summary["threads"]
        text += (f" Nominal fp32 peak of {summary['threads']} core(s) at {ghz:.2f} GHz with {flops_per_cycle} "
                 f"flops/cycle: {peak:.0f} GFLOP/s, so {100 * best[0] / peak:.0f}% of peak.")
    return text + (" The model is small (the GAN's generator is one convolution of kernel 4, the frame classifier "
                   "two Linear layers): at small batches its time is call overhead and memory traffic, not arithmetic.")


def metrics(summary: dict) -> dict:
    """speedup_<arm>_bs<N> (vs eager; ipex vs stock-2.8 on the same torch), e2e_x_realtime, train_updates_per_s."""
    out = {f"speedup_{arm.replace('-', '_').replace('.', '')}_bs{bs}": round(v["speedup"], 3)
           for (arm, bs), v in speedups(summary).items() if arm != "eager"}
    e2e = {arm: r["e2e"]["x_realtime"] for arm, r in summary["arms"].items() if "e2e" in r}
    best = max(e2e, key=e2e.get)
    out["e2e_x_realtime"] = round(e2e[best], 1)
    out["e2e_best_arm"] = best
    out["e2e_threads"] = summary["arms"][best]["e2e"].get("threads")
    eager = summary["arms"]["eager"]
    out["train_updates_per_s"] = round(eager.get("train_updates_per_s", float("nan")), 3)
    out["train_updates_per_s_paper_sizes"] = round(eager.get("train_updates_per_s_paper_sizes", float("nan")), 3)
    return out


if __name__ == "__main__":  # the worker: one arm, its JSON result on the last line of stdout
    stage.setup_logging("WARNING")
    print(json.dumps(run_arm(json.loads(sys.argv[1]))))
