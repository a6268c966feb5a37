"""Batches of variable-length utterances: zero-padded tensors with a padding mask (True where padded)."""
from __future__ import annotations

import numpy as np
import torch

IGNORE = -100  # target of padded positions, ignored by the cross-entropy


def pad(sequences: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Utterances (arrays or tensors, T_i x D) -> (B, T, D) zero-padded float32 and (B, T) True where padded."""
    lengths = [len(s) for s in sequences]
    x = torch.zeros(len(sequences), max(lengths), sequences[0].shape[1])
    for i, s in enumerate(sequences):
        x[i, :len(s)] = torch.as_tensor(np.asarray(s, dtype=np.float32)) if not torch.is_tensor(s) else s
    return x, torch.arange(x.shape[1])[None] >= torch.tensor(lengths)[:, None]


def pad_ids(sequences: list, fill: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Index sequences (arrays or tensors) -> (B, L) long padded with ``fill`` and (B, L) True where padded."""
    lengths = [len(s) for s in sequences]
    ids = torch.full((len(sequences), max(lengths)), fill, dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, :len(s)] = torch.as_tensor(np.asarray(s), dtype=torch.long)
    return ids, torch.arange(ids.shape[1])[None] >= torch.tensor(lengths)[:, None]


def one_hot(sequences: list, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Phone sentences (index sequences) -> (B, L, V) one-hot, zero where padded, and (B, L) padding mask."""
    ids, padding = pad_ids(sequences)
    return torch.nn.functional.one_hot(ids, vocab).float().masked_fill(padding.unsqueeze(-1), 0.0), padding


def with_keep_column(x: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
    """(B, T, D) frames -> (B, T, D + 1) with a last column of 1 on real frames and 0 on padded ones (``padding``:
    (B, T) True where padded, or None): how a network of one input (``reads_keep_column``) learns each length."""
    keep = torch.ones(x.shape[:2], dtype=x.dtype) if padding is None else (~padding).to(x.dtype)
    return torch.cat([x, keep[..., None]], -1)
