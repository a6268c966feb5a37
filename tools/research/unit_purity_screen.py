"""Screen frame features by the phone purity of their k-means units (issue 9; labels are report-only).

    .venv/bin/python tools/research/unit_purity_screen.py [--profile demo] [--utterances 800]

On the first ``--utterances`` train utterances of a profile's 02 output: a frame-level linear CTC model
(trained on the references) force-aligns phones to 10 ms frames once; then, for each variant of the MFCC
front end, k-means (K = 128 and 256) is fitted on the frames and purity is the share of frames whose
unit's most frequent phone is their own. Every variant has the same frames, so the alignment is shared.
Prints one JSON line per variant.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from aitranscribe.core.logs import setup_logging
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.evaluation import diagnostics, probe
from aitranscribe.features import mfcc, speaker_norm, units
from aitranscribe.io import audio as audio_io
from aitranscribe.io import manifest


def frame_alignment(feats: list[np.ndarray], phones: list[list[str]], epochs: int = 12, seed: int = 0) -> list[np.ndarray]:
    """Phone label of every frame from a frame-level linear CTC model's forced alignment."""
    symbols = sorted({p for seq in phones for p in seq})
    index = {s: i + 1 for i, s in enumerate(symbols)}
    torch.manual_seed(seed)
    model = probe.LinearCTC(feats[0].shape[1], len(symbols), kernel=5)
    probe.fit_ctc(model, feats, [[index[p] for p in seq] for seq in phones], epochs, seed=seed)
    model.eval()
    labels = []
    with torch.inference_mode():
        for f, seq in zip(feats, phones):
            logp = F.log_softmax(model(torch.from_numpy(f)[None]), -1)[0].numpy()
            labels.append(np.array([seq[k] for k in diagnostics.ctc_align(logp, [index[p] for p in seq])]))
    return labels


def purity(feats: list[np.ndarray], labels: list[np.ndarray], k: int, seed: int = 0) -> float:
    """Share of frames whose k-means unit's majority phone is their own."""
    x = np.concatenate(feats).astype(np.float32)
    ids = units.assign(x, units.fit_kmeans(units.sample_rows(x, 100000, seed), k, 20, 1, seed))
    counts: dict[int, dict[str, int]] = {}
    for unit, phone in zip(ids, np.concatenate(labels)):
        counts.setdefault(int(unit), {}).setdefault(phone, 0)
        counts[int(unit)][phone] += 1
    return sum(max(c.values()) for c in counts.values()) / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--utterances", type=int, default=800)
    args = parser.parse_args()
    setup_logging("WARNING")
    record = json.loads((REPO_ROOT / "data" / args.profile / "stages" / "audio_prep.json").read_text())
    m = manifest.read(record["manifests"], "train")
    n = min(args.utterances, len(m))
    audio = [audio_io.read(m.audio_path(i))[0] for i in range(n)]
    phones = [m.phones[i].split() for i in range(n)]
    by_speaker: dict[str, list[int]] = {}
    for i in range(n):
        by_speaker.setdefault(m.speakers[i], []).append(i)
    labels = frame_alignment([mfcc.mfcc_features(x) for x in audio], phones)

    def normalised(method: str, context: int) -> list[np.ndarray]:
        norm = speaker_norm.fit({s: [audio[i] for i in idx] for s, idx in by_speaker.items()}, method)
        return [norm(audio[i], m.speakers[i], context) for i in range(n)]

    variants = {
        "MFCC-39, per-utterance CMVN, +-2 frames (default)": lambda: [mfcc.mfcc_features(x) for x in audio],
        "no frame stacking": lambda: [mfcc.mfcc_features(x, context=0) for x in audio],
        "per-speaker whitening, +-2 frames": lambda: normalised("whiten", 2),
        "per-speaker VTLN + whitening, +-2 frames": lambda: normalised("vtln_whiten", 2),
    }
    for name, make in variants.items():
        start = time.time()
        feats = make()
        row = {"variant": name, "utterances": n, **{f"purity_k{k}": round(purity(feats, labels, k), 3) for k in (128, 256)},
               "seconds": round(time.time() - start, 1)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
