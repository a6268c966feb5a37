"""wav2vec 2.0 feature extraction measured in one arm's process (stage 07's feature benchmark).

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

from ..features import wav2vec2, wav2vec2_backends
from .results import summarize, timed


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
    precision, environment = wav2vec2_backends.ARMS[arm]
    calibration = [audio[i:i + 1] for i in range(max(1, min(int(spec["calibration"]), len(audio))))]
    t0 = time.perf_counter()
    runner = wav2vec2_backends.make(arm, model, int(spec["layer"]), calibration, int(spec["threads"]))
    prepare = time.perf_counter() - t0
    result = {"arm": arm, "precision": precision, "environment": environment, "torch": torch.__version__,
              "python": sys.version.split()[0], "threads": int(spec["threads"]), "prepare_seconds": prepare}
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
        seconds = bs * samples_per_wav / wav2vec2.SAMPLE_RATE
        result["batches"][str(bs)] = {"samples": times, **summarize(times), "audio_seconds": seconds,
                                      "x_realtime": seconds / float(np.median(times))}
    return result
