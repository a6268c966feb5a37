"""The kit's numpy MFCC against kaldi-native-fbank's C++ MFCC on the same audio: speed (issue 18, item 6).

    PYTHONPATH=lib .venv/bin/python tools/research/mfcc_implementations.py [--profile demo] [--utterances 200]

Reads ``--utterances`` prepared train utterances of a profile (stage 02's output), computes 13 cepstra per 10 ms
frame both ways (the kit: 25 ms Hamming windows, 40 mel filters 20-7,600 Hz, orthonormal DCT; kaldi-native-fbank:
its defaults with 40 bins, 20-7,600 Hz, no dither, 13 ceps, no energy replacement), times only that step on one
thread, and reports x real time of each. kaldi-native-fbank is not a dependency of the kit: ``pip install
kaldi-native-fbank`` first. Appends one JSON line to ``reports/research/mfcc_implementations.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.fft import dct

from aitranscribe.core import machine
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.features import mfcc
from aitranscribe.io import manifest


def kit(x: np.ndarray) -> np.ndarray:
    return dct(mfcc.log_mel(x), type=2, axis=1, norm="ortho")[:, :13]


def knf(x: np.ndarray) -> np.ndarray:
    import kaldi_native_fbank as k

    opts = k.MfccOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hamming"
    opts.mel_opts.num_bins = 40
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 7600.0
    opts.num_ceps = 13
    opts.use_energy = False
    m = k.OnlineMfcc(opts)
    m.accept_waveform(16000, x.tolist())
    m.input_finished()
    return np.stack([m.get_frame(i) for i in range(m.num_frames_ready)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--utterances", type=int, default=200)
    args = parser.parse_args()
    records = REPO_ROOT / "data" / args.profile / "stages"
    prepared = json.loads((records / "audio_prep.json").read_text())
    m = manifest.read(Path(prepared["manifests"]), "train", check_files=False)
    waves = [sf.read(str(Path(m.root) / path), dtype="float32")[0] for path in m.paths[:args.utterances]]
    seconds = sum(len(w) for w in waves) / 16000
    row = {"profile": args.profile, "utterances": len(waves), "audio_seconds": round(seconds, 1)}
    for name, fn in (("kit_numpy", kit), ("kaldi_native_fbank", knf)):
        fn(waves[0])
        t0 = time.perf_counter()
        frames = sum(len(fn(w)) for w in waves)
        took = time.perf_counter() - t0
        row[name] = {"seconds": round(took, 3), "x_realtime": round(seconds / took, 1), "frames": frames}
        print(name, row[name], flush=True)
    row.update(cpu=machine.cpu().get("model"), commit=machine.git_sha())
    out = REPO_ROOT / "reports" / "research" / "mfcc_implementations.jsonl"
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
