"""fairseq feature files and the wav2vec-U segment pipeline: k-means, PCA, merging runs, mean pooling.

Feature files: ``{split}.npy`` (all frames of a split, T_total x C float32) and ``{split}.lengths`` (one
frame count per utterance). k-means: ``CLUS{K}/centroids.npy`` and ``{split}.src`` (space-separated
cluster ids per utterance). PCA: ``pca/{D}_pca_A.npy`` and ``{D}_pca_b.npy`` with ``y = x @ A + b``.
Segment bookkeeping (the kit's addition): ``{split}.bounds.npy`` (segments x 2, first and one-past-last
frame of each segment in its utterance), so outputs can be mapped back to time.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from .errors import BadInputError
from .stage import atomic_path, atomic_write_text

log = logging.getLogger(__name__)


def write_features(directory, split: str, arrays, lengths=None) -> Path:
    """Write utterance arrays as ``{split}.npy`` + ``.lengths``.

    Without ``lengths`` each array is one utterance. With ``lengths`` (frames per utterance) the arrays
    are blocks of consecutive utterances, streamed into a memory map without holding the split in memory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / f"{split}.npy") as tmp:
        if lengths is None:
            arrays = list(arrays)
            lengths = [len(a) for a in arrays]
            data = np.concatenate(arrays) if arrays else np.zeros((0, 0), np.float32)
            np.save(tmp, data.astype(np.float32))
        else:
            total = int(np.sum(lengths))
            out, row = None, 0
            for a in arrays:
                if out is None:
                    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, a.shape[1]))
                out[row:row + len(a)] = a
                row += len(a)
            if row != total:
                raise ValueError(f"{split}: wrote {row} rows, the lengths sum to {total}")
            if out is None:
                np.save(tmp, np.zeros((0, 0), np.float32))
            else:
                out.flush()
                del out
    atomic_write_text(directory / f"{split}.lengths", "".join(f"{int(n)}\n" for n in lengths))
    return directory / f"{split}.npy"


def read_features(directory, split: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``({split}.npy, lengths)``; a clear error when the two disagree or a file is truncated."""
    directory = Path(directory)
    npy, lens = directory / f"{split}.npy", directory / f"{split}.lengths"
    for path in (npy, lens):
        if not path.is_file():
            raise BadInputError(path, "feature file not found")
    try:
        feats = np.load(npy, mmap_mode="r" if mmap else None)
    except (ValueError, OSError, EOFError) as exc:
        raise BadInputError(npy, f"not a readable .npy array ({exc})") from None
    lengths = np.array([int(v) for v in lens.read_text().split()], dtype=np.int64)
    if lengths.sum() != len(feats):
        raise BadInputError(npy, f"{len(feats)} rows but {lens.name} sums to {lengths.sum()}")
    return feats, lengths


def utterances(feats: np.ndarray, lengths: np.ndarray):
    """Yield each utterance's rows."""
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for i in range(len(lengths)):
        yield feats[offsets[i]:offsets[i + 1]]


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
