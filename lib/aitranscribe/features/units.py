"""The wav2vec-U segment pipeline on frame features: k-means units, PCA, merged runs of equal units, mean pooling.

k-means: ``CLUS{K}/centroids.npy`` (faiss, as fairseq); PCA: ``pca/{D}_pca_A.npy`` and ``{D}_pca_b.npy`` with
``y = x @ A + b``, fitted on train only; merging and pooling as fairseq's ``merge_clusters`` and ``mean_pool``.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.errors import BadInputError


def sample_rows(feats: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """At most ``max_rows`` rows drawn without replacement (all rows when fewer), as float32 in memory."""
    if max_rows <= 0 or len(feats) <= max_rows:
        return np.ascontiguousarray(feats, dtype=np.float32)
    idx = np.sort(np.random.default_rng(seed).choice(len(feats), max_rows, replace=False))
    return np.ascontiguousarray(feats[idx], dtype=np.float32)


def fit_kmeans(x: np.ndarray, k: int, niter: int, nredo: int, seed: int) -> np.ndarray:
    """k-means centroids (k x C) with faiss, as fairseq's clustering does."""
    import faiss

    if len(x) < k:
        raise BadInputError("k-means", f"{len(x)} training frames for {k} clusters: use fewer clusters or more audio")
    km = faiss.Kmeans(x.shape[1], k, niter=niter, nredo=nredo, seed=seed, verbose=False,
                      max_points_per_centroid=max(256, math.ceil(len(x) / k)))
    km.train(x)
    return km.centroids.astype(np.float32)


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid (squared L2, as faiss's IndexFlatL2) of every row.

    Plain BLAS, not faiss: one utterance at a time is a tiny query, and faiss's OpenMP threads spinning
    beside torch's cost more than the search itself.
    """
    return squared_distances(x, centroids).argmin(1).astype(np.int64)


def squared_distances(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(N, K) squared L2 distances of every row of ``x`` to every centroid."""
    x = np.asarray(x, dtype=np.float32)
    return (x * x).sum(1, keepdims=True) - 2.0 * (x @ centroids.T) + (centroids * centroids).sum(1)


def fit_pca(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA to ``dim`` components: ``(A, b, explained_variance_ratio)`` with ``y = x @ A + b`` (centred)."""
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    A = vt[:dim].T.astype(np.float32)
    var = s ** 2
    return A, (-mean @ A).astype(np.float32), (var / var.sum()).astype(np.float32)


def merge_runs(feats: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each run of equal consecutive cluster ids: ``(merged rows, bounds)``, bounds = [start, end) frames."""
    change = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(ids)]])
    sums = np.add.reduceat(np.asarray(feats, dtype=np.float64), starts, axis=0)
    merged = (sums / (ends - starts)[:, None]).astype(np.float32)
    return merged, np.stack([starts, ends], axis=1)


def mean_pool(feats: np.ndarray, bounds: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """fairseq's mean pooling: ceil(n x rate) outputs from groups of adjacent rows, the tail padded with the last row."""
    n = len(feats)
    target = max(1, math.ceil(n * rate))
    group = math.ceil(n / target)
    pad = target * group - n
    idx = np.concatenate([np.arange(n), np.full(pad, n - 1)])
    pooled = feats[idx].reshape(target, group, -1).mean(axis=1).astype(np.float32)
    first = idx.reshape(target, group)[:, 0]
    last = idx.reshape(target, group)[:, -1]
    return pooled, np.stack([bounds[first, 0], bounds[last, 1]], axis=1)
