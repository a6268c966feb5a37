"""Screen in-kit HuBERT-style pretraining by the phone purity of its hidden layers' units (issue 9; labels report-only).

    .venv/bin/python tools/research/pretrain_screen.py FEATURES_DIR [--minutes 10] [--units 128] [--layers 4]

FEATURES_DIR is a finished 03_features output (frames ``train.npy`` and k-means units ``CLUS{K}/train.src``).
A small HuBERT-style transformer learns to predict the units of masked frames on all train utterances
for ``--minutes`` of wall time; then, on the first 800 train utterances, every layer's k-means purity
(K = 128, 256) is measured against a forced alignment of the reference phones, as in unit_purity_screen.py. One JSON line per layer is printed
and appended to reports/research/pretrain_screen.jsonl.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from unit_purity_screen import frame_alignment, purity  # noqa: E402

from aitranscribe.core.logs import setup_logging  # noqa: E402
from aitranscribe.core.paths import REPO_ROOT  # noqa: E402
from aitranscribe.features import mfcc  # noqa: E402
from aitranscribe.io import audio as audio_io  # noqa: E402
from aitranscribe.io import feature_files, manifest  # noqa: E402

log = logging.getLogger(__name__)


class MaskedUnitEncoder(nn.Module):
    """Frames -> linear projection -> convolutional position embedding -> pre-LN transformer blocks -> unit logits."""

    def __init__(self, in_dim: int, n_units: int, dim: int = 256, layers: int = 4, heads: int = 4,
                 ff_dim: int = 1024, dropout: float = 0.1, pos_kernel: int = 33):
        super().__init__()
        self.in_norm = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, dim)
        self.mask_embedding = nn.Parameter(torch.randn(dim) * 0.1)
        self.pos_conv = nn.Conv1d(dim, dim, pos_kernel, padding=pos_kernel // 2, groups=16)
        self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(dim, heads, ff_dim, dropout, activation="gelu",
                                                               batch_first=True, norm_first=True)
                                    for _ in range(layers))
        self.out_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_units)

    def forward(self, x: torch.Tensor, padding: torch.Tensor, mask: torch.Tensor | None = None,
                upto: int | None = None) -> torch.Tensor:
        """``x`` (B, T, in_dim), ``padding`` (B, T) True at padded frames, ``mask`` (B, T) True at masked frames.

        Returns unit logits (B, T, n_units), or with ``upto = L`` the output of block ``L`` (1-based; 0 is the
        projected input) after the final LayerNorm.
        """
        h = self.proj(self.in_norm(x))
        if mask is not None:
            h = torch.where(mask[..., None], self.mask_embedding.to(h.dtype), h)
        h = h.masked_fill(padding[..., None], 0.0)
        h = h + F.gelu(self.pos_conv(h.transpose(1, 2)).transpose(1, 2))
        n = len(self.blocks) if upto is None else upto
        for block in self.blocks[:n]:
            h = block(h, src_key_padding_mask=padding)
        h = self.out_norm(h)
        return h if upto is not None else self.head(h)

    @torch.inference_mode()
    def hidden(self, frames: np.ndarray, layer: int) -> np.ndarray:
        """One utterance's frames (T, in_dim) -> output of block ``layer`` (T, dim), float32."""
        if not 0 <= layer <= len(self.blocks):
            raise ValueError(f"pretrained encoder: layer {layer} does not exist (0..{len(self.blocks)})")
        self.eval()
        x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))[None]
        return self.forward(x, torch.zeros(1, len(frames), dtype=torch.bool), upto=layer)[0].numpy()


def span_mask(lengths: list[int], prob: float, span: int, rng: np.random.Generator) -> np.ndarray:
    """HuBERT-style masking: each frame starts a masked span of ``span`` frames with probability ``prob``.

    Returns (B, max length) booleans; every utterance gets at least one span, padding is never masked.
    """
    out = np.zeros((len(lengths), max(lengths)), dtype=bool)
    for i, n in enumerate(lengths):
        starts = np.flatnonzero(rng.random(max(1, n - span + 1)) < prob)
        if len(starts) == 0:
            starts = rng.integers(0, max(1, n - span + 1), size=1)
        for s in starts:
            out[i, s:min(n, s + span)] = True
    return out


def _batches(lengths: np.ndarray, max_frames: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Utterance indices grouped by similar length, at most ``max_frames`` padded frames each, shuffled."""
    order = np.argsort(lengths + rng.random(len(lengths)) * 20)
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * max(lengths[current + [i]]) > max_frames:
            batches.append(np.array(current))
            current = []
        current.append(int(i))
    if current:
        batches.append(np.array(current))
    rng.shuffle(batches)
    return batches


def _pad(frames: list[np.ndarray], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    lens = [len(frames[i]) for i in idx]
    x = torch.zeros(len(idx), max(lens), frames[idx[0]].shape[1])
    for j, i in enumerate(idx):
        x[j, : lens[j]] = torch.from_numpy(np.asarray(frames[i], dtype=np.float32))
    padding = torch.arange(max(lens))[None] >= torch.tensor(lens)[:, None]
    return x, padding, lens


def fit(frames: list[np.ndarray], units: list[np.ndarray], n_units: int, *, minutes: float, max_steps: int = 100000,
        dim: int = 256, layers: int = 4, batch_frames: int = 6000, lr: float = 1e-3, mask_prob: float = 0.08,
        mask_span: int = 10, seed: int = 0) -> tuple[MaskedUnitEncoder, dict]:
    """Train an encoder to predict ``units`` at masked frames, for ``minutes`` of wall time or ``max_steps``.

    Returns the model and a summary (steps, epochs, seconds, masked-frame accuracy over the last 50 steps).
    """
    if len(frames) != len(units) or any(len(f) != len(u) for f, u in zip(frames, units)):
        raise ValueError("pretraining: every utterance needs one unit id per frame")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MaskedUnitEncoder(frames[0].shape[1], n_units, dim=dim, layers=layers)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    lengths = np.array([len(f) for f in frames])
    steps_per_epoch = len(_batches(lengths, batch_frames, np.random.default_rng(0)))
    start, step, epoch, accs = time.time(), 0, 0, []
    progress = tqdm(total=int(minutes * 60), desc="pretraining", unit="s")
    while step < max_steps and time.time() - start < minutes * 60:
        for idx in _batches(lengths, batch_frames, rng):
            x, padding, lens = _pad(frames, idx)
            mask = torch.from_numpy(span_mask(lens, mask_prob, mask_span, rng))
            target = torch.zeros(mask.shape, dtype=torch.long)
            for j, i in enumerate(idx):
                target[j, : lens[j]] = torch.from_numpy(np.asarray(units[i], dtype=np.int64))
            # a time budget cannot know the number of steps: warm-up (5%) and cosine decay run on the clock
            elapsed = min(1.0, (time.time() - start) / (minutes * 60))
            scale = min(1.0, elapsed / 0.05 + 0.01) * max(0.05, 0.5 * (1 + math.cos(math.pi * elapsed)))
            for group in opt.param_groups:
                group["lr"] = lr * scale
            model.train()
            logits = model(x, padding, mask)[mask]
            loss = F.cross_entropy(logits, target[mask])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            accs.append((logits.argmax(-1) == target[mask]).float().mean().item())
            step += 1
            progress.n = min(int(time.time() - start), progress.total)
            progress.set_postfix(step=step, loss=f"{loss.item():.2f}", acc=f"{np.mean(accs[-50:]):.3f}")
            if step >= max_steps or time.time() - start >= minutes * 60:
                break
        epoch += 1
    progress.close()
    summary = {"steps": step, "epochs": round(step / max(1, steps_per_epoch), 2), "seconds": round(time.time() - start, 1),
               "masked_accuracy": round(float(np.mean(accs[-50:])), 4) if accs else None}
    log.info("pretraining: %d steps (%.1f epochs) in %.0f s, masked-unit accuracy %.3f", step, summary["epochs"],
             summary["seconds"], summary["masked_accuracy"] or 0.0)
    return model, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("features_dir", type=Path)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--utterances", type=int, default=800)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    setup_logging("INFO")
    torch.set_num_threads(2)
    feats, lengths = feature_files.read_features(args.features_dir, "train", mmap=False)
    frames = list(feature_files.utterances(feats, lengths))
    units = [np.array(line.split(), dtype=np.int64)
             for line in (args.features_dir / f"CLUS{args.units}" / "train.src").read_text().splitlines()]
    model, summary = fit(frames, units, args.units, minutes=args.minutes, dim=args.dim, layers=args.layers)

    m = manifest.read(args.features_dir, "train", check_files=False)
    n = min(args.utterances, len(frames))
    prep = json.loads((REPO_ROOT / "data" / "demo" / "stages" / "audio_prep.json").read_text())
    audio_m = manifest.read(prep["manifests"], "train")
    assert audio_m.phones[:n] == m.phones[:n], "features and audio manifests differ"
    labels = frame_alignment([mfcc.mfcc_features(audio_io.read(audio_m.audio_path(i))[0]) for i in range(n)],
                             [m.phones[i].split() for i in range(n)])
    out = REPO_ROOT / "reports" / "research" / "pretrain_screen.jsonl"
    for layer in range(args.layers + 1):
        hidden = [model.hidden(frames[i], layer) for i in range(n)] if layer else frames[:n]
        row = {"features_dir": args.features_dir.name, "profile": args.features_dir.parts[-3], "layer": layer,
               "note": args.note, "dim": args.dim, "layers": args.layers, "target_units": args.units, **summary,
               **{f"purity_k{k}": round(purity(hidden, labels, k), 3) for k in (128, 256)}}
        print(json.dumps(row), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
