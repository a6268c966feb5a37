"""wav2vec 2.0 feature extraction measured in one arm's process (stage 07's feature benchmark), and the rate of one
matrix product its arms are compared with (:func:`matmul_rate`).

:func:`run_arm` is what ``python -m aitranscribe.benchmarking.arm`` runs for a spec of kind ``w2v2``. It imports only
the wav2vec 2.0 model and its arms, so it also runs in ``.venv-intel`` (torch 2.8 + IPEX, without the rest of the
kit's dependencies).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..core import backend_table
from ..features import wav2vec2
from ..features.wav2vec2 import backends as wav2vec2_backends
from .results import summarize, timed
from ..io.audio import TARGET_SR


def run_arm(spec: dict) -> dict:
    """Measure one wav2vec 2.0 arm in this process.

    ``spec``: ``arm``, ``checkpoint`` (a fairseq .pt), ``layer``, ``audio`` (a .npy of equal-length waveforms,
    (N, samples) float32, N >= the largest batch), ``batch_sizes``, ``repeats``, ``warmup``, ``threads``,
    ``calibration`` (how many single waveforms serve as example input and int8 calibration), ``reference`` (a .npy
    path: the fp32 arm writes its output there when ``write_reference``, other arms compare with it).
    Returns plain values: versions, preparation seconds, per batch size the timed samples and their statistics,
    ``fidelity`` against the reference on the largest batch (cosine per frame, relative error).
    """
    arm = spec["arm"]
    torch.set_num_threads(int(spec["threads"]))
    audio = np.load(spec["audio"]).astype(np.float32)
    sizes = sorted(int(b) for b in spec["batch_sizes"])
    if len(audio) < sizes[-1]:
        raise ValueError(f"{spec['audio']} holds {len(audio)} waveforms, fewer than the largest batch {sizes[-1]}")
    model = wav2vec2.load_wav2vec2(spec["checkpoint"], layer=int(spec["layer"]))
    precision, environment = backend_table.TABLE[arm].precision, backend_table.environment(arm)
    calibration = [audio[i:i + 1] for i in range(max(1, min(int(spec["calibration"]), len(audio))))]
    t0 = time.perf_counter()
    shapes = [(bs, audio.shape[1]) for bs in sizes]  # the fixed shapes timed below
    runner = wav2vec2_backends.make(arm, model, int(spec["layer"]), calibration, int(spec["threads"]), shapes)
    prepare = time.perf_counter() - t0
    result = {"arm": arm, "precision": precision, "environment": environment, "torch": torch.__version__,
              "python": sys.version.split()[0], "threads": int(spec["threads"]), "prepare_seconds": prepare}
    if hasattr(runner, "rest_precision"):  # an int8 model's unquantised layers: bf16 or f32, chosen on calibration
        result["rest_precision"] = runner.rest_precision
    big = torch.from_numpy(audio[:sizes[-1]])
    t0 = time.perf_counter()
    output = runner(big).float().numpy()
    result["first_call_seconds"] = time.perf_counter() - t0
    reference = Path(spec["reference"])
    if spec.get("write_reference"):
        reference.parent.mkdir(parents=True, exist_ok=True)
        np.save(reference, output)
    if reference.is_file():
        result["fidelity"] = wav2vec2_backends.fidelity(output, np.load(reference))
    result["batches"] = {}
    samples_per_wav = audio.shape[1]
    for bs in sizes:
        x = torch.from_numpy(audio[:bs])
        times = timed(lambda x=x: runner(x), int(spec["repeats"]), int(spec["warmup"]))
        seconds = bs * samples_per_wav / TARGET_SR
        result["batches"][str(bs)] = {"samples": times, **summarize(times), "audio_seconds": seconds,
                                      "x_realtime": seconds / float(np.median(times))}
    return result


GEMM_PRECISIONS = ("fp32", "bf16", "int8")


def matmul_rate(spec: dict) -> dict:
    """What one matrix product reaches in this process: (M, K) x (K, N) at ``spec["shape"]`` = (M, K, N) (frames,
    input and output width: an architecture's first feed-forward layer at batch 1), in fp32 and bf16 (PyTorch's
    Linear, weights and input in that type) and int8 (``torch._int_mm``, int32 sums), on ``spec["threads"]``
    threads; the median of ``spec["repeats"]`` calls after 3 discarded ones: what PyTorch's own kernels reach at the
    model's largest shape, so an arm near it loses little outside its matrix products (not a hard ceiling: on a
    Xeon with AMX OpenVINO's int8 kernels ran LARGE's second feed-forward layer at 2,870 GOP/s, ``_int_mm`` 2,220).
    Returns ``{"shape", "threads", "torch", precision: {"gflops", "median", ...}}`` (GOP/s for int8)."""
    torch.set_num_threads(int(spec["threads"]))
    m, k, n = (int(v) for v in spec["shape"])
    result = {"shape": [m, k, n], "threads": int(spec["threads"]), "torch": torch.__version__}
    generator = torch.Generator().manual_seed(0)
    for name in GEMM_PRECISIONS:
        if name == "int8":
            a = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=generator)
            b = torch.randint(-128, 128, (k, n), dtype=torch.int8, generator=generator)
            call = lambda a=a, b=b: torch._int_mm(a, b)  # noqa: E731
        else:
            dtype = torch.float32 if name == "fp32" else torch.bfloat16
            layer = torch.nn.Linear(k, n).to(dtype).eval()
            x = torch.randn(m, k, generator=generator).to(dtype)
            call = lambda layer=layer, x=x: layer(x)  # noqa: E731
        with torch.inference_mode():
            times = timed(call, int(spec["repeats"]), 3)
        result[name] = {"samples": times, **summarize(times), "gflops": 2 * m * k * n / float(np.median(times)) / 1e9}
    return result
