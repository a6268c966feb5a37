"""Supervised CTC probe (report-only: uses reference phones): do the segment features carry the phones?

A linear Conv1d (kernel 4, the wav2vec-U generator's shape) plus a CTC blank is trained on the train
split's pooled segments and their reference phones, and scored by greedy PER on held-out utterances.
It is a diagnostic and an upper reference for the unsupervised model; nothing else uses its labels.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..io import feature_files
from ..models.batching import pad
from ..text.error_rates import per

log = logging.getLogger(__name__)

# chosen on the demo's valid split (PER 18.1% vs 19.3% for lr 1e-2, batch 32)
LEARNING_RATE = 3e-3
BATCH_SIZE = 16


def load_split(directory, split: str) -> tuple[list[np.ndarray], list[list[str]]]:
    """Per-utterance segment features of a split and their reference phone lists."""
    feats, lengths = feature_files.read_features(directory, split, mmap=False)
    phones = (Path(directory) / f"{split}.phn").read_text(encoding="utf-8").splitlines()
    return list(feature_files.utterances(feats, lengths)), [line.split() for line in phones]


class LinearCTC(nn.Module):
    """Conv1d(dim -> vocab + blank, kernel 4) over segments; output (B, T, vocab + 1) logits."""

    def __init__(self, dim: int, vocab: int, kernel: int = 4):
        super().__init__()
        self.conv = nn.Conv1d(dim, vocab + 1, kernel, padding=kernel // 2)

    def forward(self, x):
        return self.conv(x.transpose(1, 2)).transpose(1, 2)[:, : x.shape[1]]


def greedy(model: LinearCTC, feats: list[np.ndarray], symbols: list[str]) -> list[list[str]]:
    """Argmax, collapse repeats, drop blanks (index 0)."""
    out = []
    model.eval()
    with torch.inference_mode():
        for f in feats:
            ids = model(torch.from_numpy(f)[None]).argmax(-1)[0].tolist()
            seq, prev = [], None
            for i in ids:
                if i != prev and i != 0:
                    seq.append(symbols[i - 1])
                prev = i
            out.append(seq)
    return out


def fit_ctc(model: nn.Module, feats: list[np.ndarray], targets: list[list[int]], epochs: int,
            batch_size: int = BATCH_SIZE, lr: float = LEARNING_RATE, seed: int = 0) -> nn.Module:
    """Train ``model`` (features -> logits with blank 0) with CTC on ``targets`` (indices 1..V), Adam, shuffled batches."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for _ in tqdm(range(epochs), desc="CTC probe", unit="epoch"):
        model.train()
        order = rng.permutation(len(feats))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x, padding = pad([feats[i] for i in idx])
            lens = (~padding).sum(1)
            batch_targets = [torch.tensor(targets[i]) for i in idx]
            logp = F.log_softmax(model(x), -1).transpose(0, 1)
            loss = F.ctc_loss(logp, torch.cat(batch_targets), lens, torch.tensor([len(t) for t in batch_targets]),
                              zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def train_probe(directory, epochs: int = 15, batch_size: int = BATCH_SIZE, lr: float = LEARNING_RATE, seed: int = 0,
                eval_split: str = "test", return_model: bool = False) -> dict:
    """Train on ``train`` and report greedy PER on ``eval_split``: ``{"per", "per_train", "symbols", "epochs"}``.

    With ``return_model`` the result also holds ``model`` and ``symbol_list`` (the phones, blank excluded).
    """
    torch.manual_seed(seed)
    train_x, train_y = load_split(directory, "train")
    test_x, test_y = load_split(directory, eval_split)
    symbols = sorted({p for seq in train_y for p in seq})
    index = {s: i + 1 for i, s in enumerate(symbols)}
    keep = [i for i, y in enumerate(train_y) if 0 < len(y) <= len(train_x[i])]
    if len(keep) < len(train_y):
        log.info("probe: %d of %d train utterances have fewer segments than phones and are left out",
                 len(train_y) - len(keep), len(train_y))
    model = LinearCTC(train_x[0].shape[1], len(symbols))
    fit_ctc(model, [train_x[i] for i in keep], [[index[p] for p in train_y[i]] for i in keep], epochs, batch_size, lr,
            seed)
    unknown = {p for seq in test_y for p in seq} - set(symbols)
    if unknown:
        log.info("probe: %d test phones never seen in train count as errors: %s", len(unknown), sorted(unknown))
    result = {"per": per(greedy(model, test_x, symbols), test_y),
              "per_train": per(greedy(model, [train_x[i] for i in keep[:200]], symbols), [train_y[i] for i in keep[:200]]),
              "symbols": len(symbols), "epochs": epochs, "lr": lr, "batch_size": batch_size,
              "eval_split": eval_split}
    log.info("CTC probe: PER %.1f%% on %s (%.1f%% on train)", 100 * result["per"], eval_split, 100 * result["per_train"])
    if return_model:
        result.update(model=model, symbol_list=symbols)
    return result
