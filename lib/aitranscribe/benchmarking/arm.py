"""One benchmark arm, measured in its own process (a backend in an environment, bound to cores by stage 07):

    python -m aitranscribe.benchmarking.arm SPEC_JSON

prints the arm's result as JSON on its last line. A spec of kind ``gemm`` measures one matrix product (the rate
the wav2vec 2.0 arms are compared with); of kind ``w2v2``, wav2vec 2.0 feature extraction
(:mod:`.w2v2`, which needs only torch and the model: it also runs in ``.venv-intel``); otherwise the acoustic
model: test PER, acoustic-model timings per batch size, training throughput (eager only), or the end-to-end run
(``spec["e2e"]``) with per-stage times. The acoustic model's modules are imported only for the latter.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

from ..core.logs import setup_logging
from .results import summarize, timed


def run_arm(spec: dict) -> dict:
    """Measure one arm in this process (called by the worker entry point). ``spec`` holds plain values."""
    if spec.get("kind") == "w2v2":
        from .w2v2 import run_arm as run_w2v2

        return run_w2v2(spec)
    if spec.get("kind") == "gemm":
        from .w2v2 import matmul_rate

        return matmul_rate(spec)
    from .. import backends, models
    from ..transcription import transcribe as tr
    from ..models.batching import pad

    threads = spec["threads"]
    torch.set_num_threads(threads)
    backend = "eager" if spec["arm"] == "stock-2.8" else spec["arm"]
    records = spec["records"]
    model = models.load(records["train"]["checkpoint"])
    items = tr.split_items(model, "test", records)
    calibration = [b for _, b in tr.batches(items[:32], 8)]
    net = model.inference_net(records["features"])
    runner = backends.make(backend, net, calibration)
    timing = (records["features"]["frame_shift_s"], records["features"]["frame_window_s"])
    result = {"arm": spec["arm"], "torch": torch.__version__, "threads": threads, "python": sys.version.split()[0]}
    with torch.inference_mode():
        result["per"] = tr.score(tr.transcribe(items, runner, model, None, timing, 32), items)["per"]
        if spec["e2e"]:
            result["e2e"] = {**_e2e(spec, runner, model, records), "threads": threads}
            return result
        result["model"] = {}
        for bs in spec["batch_sizes"]:
            chosen = [items[i % len(items)] for i in range(bs)]
            x, padding = pad([np.ascontiguousarray(it["feats"]) for it in chosen])
            samples = timed(lambda: runner(x, padding), spec["repeats"], spec["warmup"])
            result["model"][str(bs)] = {"samples": samples, **summarize(samples),
                                        "flops": net.flops(x.shape[0], x.shape[1]),
                                        "audio_seconds": sum(it["seconds"] for it in chosen),
                                        "steps": int((~padding).sum())}
    if spec["train_updates"] > 0 and backend == "eager":
        # the trained method's own probe, then every method's training at its published sizes on these features
        result.update(models.METHODS[model.method].throughput(model, records, items, spec["train_updates"],
                                                              spec["train_batch_size"]))
        for method in models.METHODS.values():
            if hasattr(method, "reference_throughput"):
                result.update(method.reference_throughput(records, model.symbols, spec["train_updates"]))
    return result


def _e2e(spec, runner, model, records) -> dict:
    """Per-stage and end-to-end times on silence-removed test utterances: features, segments (for a model reading
    pooled segments), the acoustic model, and its own decoding of the logits into phones (``model.decode``)."""
    from pathlib import Path

    from ..decoding.phones import path_phones
    from ..features.extract import TrainedTransform
    from ..io import audio, manifest
    from ..models.batching import pad

    transform = TrainedTransform(records["features"])
    m = manifest.read(Path(records["audio_prep"]["manifests"]), "test")
    n = min(spec["e2e_utterances"], len(m))
    utterances = [audio.read(m.audio_path(i))[0] for i in range(n)]
    by_name = transform.params.get("speaker_source") == "metadata"  # with voice clusters a new recording has no
    speakers = m.speakers[:n] if (m.speakers and by_name) else [None] * n  # name: its cluster comes from its audio
    stages = {"features": [], "segments": [], "model": [], "decoding": []}
    e2e = []
    for r in range(spec["repeats"] + spec["warmup"]):
        t = {k: 0.0 for k in stages}
        for x, speaker in zip(utterances, speakers):
            t0 = time.perf_counter()
            frames = transform.extractor(x, speaker)
            t1 = time.perf_counter()
            x = transform.model_input(frames, model.input)
            t2 = time.perf_counter()
            feats, padding = pad([x])
            logits = runner(feats, padding)
            t3 = time.perf_counter()
            for _, ids, spans in model.decode(logits, padding):
                path_phones(ids, spans, model.symbols, None)
            t4 = time.perf_counter()
            for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                t[k] += v
        if r >= spec["warmup"]:
            for k in stages:
                stages[k].append(t[k])
            e2e.append(sum(t.values()))
    seconds = sum(len(x) for x in utterances) / audio.TARGET_SR
    return {"audio_seconds": seconds, "utterances": n,
            "stages": {k: {"samples": v, **summarize(v)} for k, v in stages.items()},
            "total": {"samples": e2e, **summarize(e2e)}, "x_realtime": seconds / float(np.median(e2e))}


if __name__ == "__main__":  # the worker: one arm, its JSON result on the last line of stdout
    setup_logging("WARNING")
    print(json.dumps(run_arm(json.loads(sys.argv[1]))))
