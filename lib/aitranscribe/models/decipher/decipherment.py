"""Decipherment of audio segment tokens into phones with statistics of unpaired phone text (no labels).

Segments: the frames' k-means units (stage 03) are put in groups of units that often follow each other (a
change of unit inside a phone is more common than across phones); a segment ends where the group changes
into a run of at least ``min_run`` frames. Each segment's mean frame gets one of ``n_tokens`` k-means tokens
(fitted on train segments).

Model: a table P(token | phone) explains how often tokens occur ``d`` apart (pairs) and ``d1``, ``d2``
apart (triples) through the text's phone pairs and triples as far apart, each token step advancing one
phone or, with chance ``split``, staying on the same phone. EM (multiplicative updates) of the pairs'
objective runs from random tables; the restarts with the best full objective are refined on the triples.
Pairs alone prefer wrong tables on the demo; triples prefer the right one (``reports/research``).
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from tqdm.auto import tqdm

from ...core.errors import KitError
from ...features import units as unit_pipeline

log = logging.getLogger(__name__)

DISTANCES = (2, 3, 4, 5)  # token distances of the pairs
TRIPLES = ((2, 2), (3, 3), (2, 3), (3, 2))  # token distances (d1, d2) of the triples
RESTART_BATCH = 20  # random tables run through EM together (20 at once: 2.8x faster than one by one)


# ------------------------------------------------------------------------------------------------ segments

def unit_groups(units: list[np.ndarray], n_groups: int, seed: int) -> np.ndarray:
    """Group of each unit: spectral clustering of how often two units follow each other (train units in)."""
    from sklearn.cluster import SpectralClustering

    n = int(max(u.max() for u in units if len(u))) + 1
    if n <= n_groups:
        raise KitError(f"{n} units for {n_groups} unit groups: use fewer groups")
    follows = np.zeros((n, n))
    for u in units:
        change = u[1:] != u[:-1]
        np.add.at(follows, (u[:-1][change], u[1:][change]), 1)
    return SpectralClustering(n_groups, affinity="precomputed", random_state=seed).fit_predict(follows + follows.T + 1e-6)


def run_bounds(values: np.ndarray) -> np.ndarray:
    """Bounds (0, ..., len) of the runs of equal values."""
    return np.r_[0, np.flatnonzero(values[1:] != values[:-1]) + 1, len(values)]


def group_segments(groups: np.ndarray, min_run: int) -> np.ndarray:
    """Segment bounds (0, ..., len) where the frames' group changes into a run of at least ``min_run`` frames."""
    starts = run_bounds(groups)
    kept = [b for b, nxt in zip(starts[1:-1], starts[2:]) if nxt - b >= min_run]
    return np.array([0, *kept, len(groups)])


def segment_tokens(frames: dict[str, list[np.ndarray]], units: dict[str, list[np.ndarray]], n_groups: int,
                   min_run: int, n_tokens: int, seed: int) -> tuple[dict, dict]:
    """Tokens and segment bounds of every split (dicts of per-utterance arrays); groups and tokens fitted on train."""
    groups = unit_groups(units["train"], n_groups, seed)
    bounds, means = {}, {}
    for split in frames:
        bounds[split] = [group_segments(groups[u], min_run) for u in units[split]]
        means[split] = [np.add.reduceat(np.asarray(f, dtype=np.float64), b[:-1], axis=0) / np.diff(b)[:, None]
                        for f, b in zip(frames[split], bounds[split])]
    x = np.concatenate(means["train"]).astype(np.float32)
    centroids = unit_pipeline.fit_kmeans(unit_pipeline.sample_rows(x, 100000, seed), n_tokens, 20, 1, seed)
    tokens = {split: [unit_pipeline.assign(m, centroids) for m in means[split]] for split in means}
    log.info("decipherment: %d train segments, %.1f frames each", len(x), sum(len(f) for f in frames["train"]) / len(x))
    return tokens, bounds


def majority(labels: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The most frequent label of each segment."""
    return np.array([np.bincount(labels[a:b]).argmax() for a, b in zip(bounds[:-1], bounds[1:])])


def token_counts(phones: list[np.ndarray], tokens: list[np.ndarray], n_phones: int, n_tokens: int) -> np.ndarray:
    """How often each phone (row) goes with each token (column)."""
    counts = np.zeros((n_phones, n_tokens))
    for ph, u in zip(phones, tokens):
        np.add.at(counts, (ph, u), 1)
    return counts


# ------------------------------------------------------------------------------------------------ the objective

def step_weights(distance: int, step: np.ndarray) -> np.ndarray:
    """Chances that ``distance`` token steps advance 0, 1, 2, ... phones, each step advancing by ``step``."""
    weights = np.array([1.0])
    for _ in range(distance):
        weights = np.convolve(weights, step)
    return weights


def gram_counts(sequences: list[np.ndarray], offsets: tuple[int, ...], n: int) -> np.ndarray:
    """How often symbols occur ``offsets`` apart inside one sequence: (n,) * (len(offsets) + 1) counts, element
    ``[x0, x1, ...]`` for ``x0`` at some position i, ``x1`` at i + offsets[0], and so on (all in one pass)."""
    values = np.concatenate(sequences)
    which = np.repeat(np.arange(len(sequences)), [len(q) for q in sequences])
    first = np.arange(max(len(values) - sum(offsets), 0))
    positions = [first]
    for offset in offsets:
        positions.append(positions[-1] + offset)
    inside = which[positions[-1]] == which[first]
    index = np.ravel_multi_index(tuple(values[p[inside]] for p in positions), (n,) * len(positions))
    return np.bincount(index, minlength=n ** len(positions)).reshape((n,) * len(positions)).astype(float)


def phone_triples(lines: list[np.ndarray], n_phones: int, k1: int, k2: int) -> np.ndarray:
    """Joint of the phones at positions i, i + k1, i + k1 + k2 of the text's lines (lightly smoothed)."""
    counts = gram_counts(lines, (k1, k2), n_phones) + 1e-4
    return counts / counts.sum()


def observed_triples(counts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The token triples ``(a, b, c)`` seen in ``counts`` (K, K, K) as index columns (3, N), and their counts
    (normalised to sum 1, float32): the triples' objective only needs the model where a count is not zero."""
    cells = np.nonzero(counts)
    weights = counts[cells]
    return torch.tensor(np.stack(cells)), torch.tensor(weights / max(weights.sum(), 1.0), dtype=torch.float32)


def triple_model(joint: torch.Tensor, emit: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """P(tokens a, b, c) of a phone triple ``joint`` (P, P, P) through ``emit`` (..., P, K) at the triples ``cells``
    (3, N) -> (..., N): the sum over p, q, r of joint[p, q, r] emit[p, a] emit[q, b] emit[r, c], as two matrix
    products over all (a, q, c), then the sum over q at the N cells only (a chain's decipherment 2.3x faster than
    with the full (K, K, K) model on the CI corpus, 1.25x on the demo's, whose audio has more distinct triples)."""
    *lead, P, K = emit.shape
    a, b, c = cells
    first = (emit.transpose(-1, -2) @ joint.reshape(P, P * P)).reshape(*lead, K, P, P)   # [a, q, r]
    second = (first @ emit.unsqueeze(-3)).transpose(-1, -2).reshape(*lead, K * K, P)      # [(a, c), q]
    return (second.index_select(-2, a * K + c) * emit.transpose(-1, -2).index_select(-2, b)).sum(-1)


class SkipGramModel:
    """Token pairs d apart (and triples d1, d2 apart) explained by the text's phone pairs (triples) as far apart
    through P(token | phone); the objective is ``pair_weight`` x the pairs' log-likelihood plus the triples'."""

    def __init__(self, tokens: list[np.ndarray], n_tokens: int, lines: list[np.ndarray], n_phones: int,
                 distances=DISTANCES, split: float = 0.2, merge: float = 0.0, triples=TRIPLES, pair_weight: float = 0.0):
        step = np.array([split, 1 - split - merge, merge])  # phones advanced by one token step: 0, 1 or 2
        self.pair_weight = pair_weight
        unigram = np.bincount(np.concatenate(lines), minlength=n_phones).astype(float)
        apart = [np.diag(unigram / unigram.sum())]
        for k in range(1, 2 * max(distances) + 1):
            pairs = gram_counts(lines, (k,), n_phones) + 1e-3
            apart.append(pairs / pairs.sum())
        self.joints, self.counts = [], []
        for d in distances:
            weights = step_weights(d, step)
            self.joints.append(torch.tensor(sum(w * apart[k] for k, w in enumerate(weights))))
            counts = gram_counts(tokens, (d,), n_tokens)
            self.counts.append(torch.tensor(counts / max(counts.sum(), 1.0)))
        self.triple_joints, self.triple_cells, self.triple_counts = [], [], []
        for d1, d2 in triples:
            w1, w2 = step_weights(d1, step), step_weights(d2, step)
            joint = sum(w1[a] * w2[b] * phone_triples(lines, n_phones, a, b)
                        for a in range(len(w1)) for b in range(len(w2)) if w1[a] * w2[b] > 1e-4)
            self.triple_joints.append(torch.tensor(joint, dtype=torch.float32))
            cells, counts = observed_triples(gram_counts(tokens, (d1, d2), n_tokens))
            self.triple_cells.append(cells)
            self.triple_counts.append(counts)

    # ``emit``: one table (P, K) or a stack of independent tables (R, P, K): the objective is then the sum of the
    # tables' objectives, so EM on the stack updates every table as EM on it alone would
    def pair_loglik(self, emit: torch.Tensor) -> torch.Tensor:
        return sum((n * (emit.transpose(-1, -2) @ j @ emit).clamp_min(1e-300).log()).sum()
                   for j, n in zip(self.joints, self.counts))

    def triple_loglik(self, emit: torch.Tensor) -> torch.Tensor:
        # the model at the observed triples in float32 (several times faster than float64)
        total = torch.zeros((), dtype=emit.dtype)
        low = emit.float()
        for joint, cells, counts in zip(self.triple_joints, self.triple_cells, self.triple_counts):
            model = triple_model(joint, low, cells)
            total = total + (counts * model.clamp_min(1e-30).log()).sum(dtype=emit.dtype)
        return total

    def loglik(self, emit: torch.Tensor) -> torch.Tensor:
        if not self.triple_joints:
            return self.pair_weight * self.pair_loglik(emit)
        if not self.pair_weight:
            return self.triple_loglik(emit)
        return self.pair_weight * self.pair_loglik(emit) + self.triple_loglik(emit)


def em(objective, emit: torch.Tensor, iters: int) -> torch.Tensor:
    """EM for an objective multilinear in the rows of P(token | phone): emit x d(objective)/d(emit), renormalised.
    ``emit``: one table (P, K) or a stack of tables (R, P, K) whose objectives add up (each updated on its own)."""
    for _ in range(iters):
        emit = emit.detach().requires_grad_(True)
        grad, = torch.autograd.grad(objective(emit), emit)
        emit = emit.detach() * grad
        emit = emit / emit.sum(-1, keepdim=True)
    return emit.detach()


def random_emission(n_phones: int, n_tokens: int, seed: int) -> torch.Tensor:
    """A random P(token | phone) table (rows near uniform) to start EM from."""
    emit = torch.rand(n_phones, n_tokens, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.5
    return emit / emit.sum(1, keepdim=True)


def restarts(model: SkipGramModel, n_phones: int, n_tokens: int, n_restarts: int, iters: int, refine: int,
             refine_iters: int, seed: int, quiet: bool = False) -> list[torch.Tensor]:
    """EM of the pairs' objective from ``n_restarts`` random tables; with triples, the ``refine`` tables with the
    best full objective refined by EM of it."""
    found = []
    bar = tqdm(total=n_restarts, desc="decipherment restarts", unit="restart", disable=quiet)
    for first in range(0, n_restarts, RESTART_BATCH):  # a stack of restarts at once: one EM step for all
        start = torch.stack([random_emission(n_phones, n_tokens, seed + r)
                             for r in range(first, min(first + RESTART_BATCH, n_restarts))])
        found.extend(em(model.pair_loglik, start, iters).unbind())
        bar.update(len(start))
    bar.close()
    if not model.triple_joints:
        return found
    found.sort(key=lambda emit: -float(model.loglik(emit)))
    return [em(model.loglik, emit, refine_iters) for emit in found[:refine]]  # one at a time: no faster stacked


def best_table(model: SkipGramModel, tables: list[torch.Tensor]) -> tuple[float, torch.Tensor]:
    """(objective, table) of the table with the highest objective (label-free)."""
    return max(((float(model.loglik(emit)), emit) for emit in tables), key=lambda x: x[0])


def table_from_labels(phones: list[np.ndarray], tokens: list[np.ndarray], n_phones: int, n_tokens: int) -> torch.Tensor:
    """P(token | phone) counted from a phone given to every token (lightly smoothed)."""
    table = token_counts(phones, tokens, n_phones, n_tokens) + 0.01
    return torch.tensor(table / table.sum(1, keepdims=True))
