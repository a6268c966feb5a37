"""The phone HMM of the decipher method: the text's transitions between phones, one self-loop probability for all
phones, Viterbi paths over log emission scores (token tables or frame posteriors), compiled with numba."""
from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=True)
def viterbi(scores: np.ndarray, log_start: np.ndarray, log_a: np.ndarray, log_end: np.ndarray) -> np.ndarray:
    """The best state path of one sequence: ``scores`` (T, S) log emissions, ``log_a`` (S, S) log transitions
    (from row to column). Ties go to the lowest state, as ``torch.max`` breaks them."""
    T, S = scores.shape
    back = np.zeros((T, S), dtype=np.int64)
    delta = log_start + scores[0]
    best = np.empty(S)
    arg = np.empty(S, dtype=np.int64)
    for t in range(1, T):
        # the previous state outer, the next state inner: contiguous rows of log_a, a loop LLVM vectorises;
        # a strict ``>`` keeps the lowest previous state on ties
        for j in range(S):
            best[j] = delta[0] + log_a[0, j]
            arg[j] = 0
        for i in range(1, S):
            d = delta[i]
            for j in range(S):
                value = d + log_a[i, j]
                if value > best[j]:
                    best[j] = value
                    arg[j] = i
        for j in range(S):
            delta[j] = best[j] + scores[t, j]
            back[t, j] = arg[j]
    final = delta + log_end
    state = 0
    for j in range(1, S):
        if final[j] > final[state]:
            state = j
    path = np.empty(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = state
        state = back[t, state]
    return path


def label_statistics(labels: list[np.ndarray], n_symbols: int) -> tuple[np.ndarray, float]:
    """What a hybrid HMM reads off per-frame labels (one array per utterance): the log prior of every symbol (add-one
    smoothed; the classifier's posteriors are divided by it) and the self-loop probability (1 - label changes per
    frame, counting each utterance's first frame as a change)."""
    flat = np.concatenate(labels)
    prior = np.bincount(flat, minlength=n_symbols) + 1.0
    changes = sum(1 + int((y[1:] != y[:-1]).sum()) for y in labels)
    return np.log(prior / prior.sum()), 1 - changes / len(flat)


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
        self._tables = None

    def log_transitions(self) -> torch.Tensor:
        n = len(self.start)
        return (self.stay * torch.eye(n, dtype=torch.float64) + (1 - self.stay) * self.between).log()

    def paths(self, scores: torch.Tensor, lengths) -> list[np.ndarray]:
        """Best phone path of every sequence from log emission scores (N x T x S, padded) and their lengths."""
        scores = np.asarray(scores.double() if torch.is_tensor(scores) else scores, dtype=np.float64)
        return self.best_paths([scores[i, :int(n)] for i, n in enumerate(lengths)])

    def _log_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log start, transition and end tables (computed once: the HMM does not change after it is made)."""
        if self._tables is None:
            self._tables = (self.start.log().numpy(), self.log_transitions().numpy(), self.end.log().numpy())
        return self._tables

    def best_paths(self, scores: list[np.ndarray]) -> list[np.ndarray]:
        """Best phone path of every sequence from its (T_i x S) log emission scores."""
        log_start, log_a, log_end = self._log_tables()
        return [viterbi(np.ascontiguousarray(s, dtype=np.float64), log_start, log_a, log_end) for s in scores]

    def token_paths(self, emit: torch.Tensor, tokens: list[np.ndarray]) -> list[np.ndarray]:
        """Best phone path of token sequences under the emission table P(token | phone) (S x K)."""
        lengths = [len(u) for u in tokens]
        padded = torch.zeros(len(tokens), max(lengths), dtype=torch.long)
        for i, u in enumerate(tokens):
            padded[i, :len(u)] = torch.from_numpy(u)
        return self.paths(emit.clamp_min(1e-30).log().T[padded], lengths)
