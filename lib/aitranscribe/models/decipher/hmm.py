"""The phone HMM of the decipher method: the text's transitions between phones, one self-loop probability for all
phones, Viterbi paths over log emission scores (token tables or frame posteriors)."""
from __future__ import annotations

import numpy as np
import torch


def transitions(lines: list[np.ndarray], n_phones: int, smoothing: float = 0.1) -> dict:
    """Start and end probabilities and transitions between different phones (self removed) of the text."""
    start, end, pair = np.full(n_phones, smoothing), np.full(n_phones, smoothing), np.full((n_phones,) * 2, smoothing)
    for seq in lines:
        start[seq[0]] += 1
        end[seq[-1]] += 1
        np.add.at(pair, (seq[:-1], seq[1:]), 1)
    np.fill_diagonal(pair, 0.0)
    return {"start": start / start.sum(), "end": end / end.sum(), "between": pair / pair.sum(1, keepdims=True)}


class PhoneHMM:
    """Phone HMM with the text's transitions between phones and one self-loop for all: Viterbi paths."""

    def __init__(self, start, end, between, stay: float):
        self.start = torch.as_tensor(np.asarray(start), dtype=torch.float64)
        self.end = torch.as_tensor(np.asarray(end), dtype=torch.float64)
        self.between = torch.as_tensor(np.asarray(between), dtype=torch.float64)
        self.stay = float(stay)

    def log_transitions(self) -> torch.Tensor:
        n = len(self.start)
        return (self.stay * torch.eye(n, dtype=torch.float64) + (1 - self.stay) * self.between).log()

    def paths(self, scores: torch.Tensor, lengths) -> list[np.ndarray]:
        """Best phone path of every sequence from log emission scores (N x T x S, padded) and their lengths."""
        log_a = self.log_transitions()
        scores = scores.double()
        N, T, S = scores.shape
        lengths = torch.as_tensor(lengths)
        valid = torch.arange(T)[None] < lengths[:, None]
        back = torch.zeros(N, T, S, dtype=torch.long)
        delta = self.start.log()[None] + scores[:, 0]
        for t in range(1, T):
            best, arg = (delta[:, :, None] + log_a[None]).max(1)
            delta = torch.where(valid[:, t, None], best + scores[:, t], delta)
            back[:, t] = arg
        last = (delta + self.end.log()[None]).argmax(1)
        back = back.numpy()
        paths = []
        for i in range(N):
            n = int(lengths[i])
            path = np.empty(n, dtype=np.int64)
            s = int(last[i])
            for t in range(n - 1, -1, -1):
                path[t] = s
                s = back[i, t, s]
            paths.append(path)
        return paths

    def token_paths(self, emit: torch.Tensor, tokens: list[np.ndarray]) -> list[np.ndarray]:
        """Best phone path of token sequences under the emission table P(token | phone) (S x K)."""
        lengths = [len(u) for u in tokens]
        padded = torch.zeros(len(tokens), max(lengths), dtype=torch.long)
        for i, u in enumerate(tokens):
            padded[i, :len(u)] = torch.from_numpy(u)
        return self.paths(emit.clamp_min(1e-30).log().T[padded], lengths)
