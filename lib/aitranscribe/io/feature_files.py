"""fairseq feature files: ``{split}.npy`` (all frames of a split, T_total x C float32) and ``{split}.lengths`` (one
frame count per utterance), read back per utterance; k-means unit files ``CLUS{K}/{split}.src``.

Segment bookkeeping (the kit's addition): ``{split}.bounds.npy`` (segments x 2, first and one-past-last frame of
each segment in its utterance), so outputs can be mapped back to time.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..core.errors import BadInputError, KitError
from ..core.files import atomic_path, atomic_write_text

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




def read_units(centroids_dir, split: str) -> list[np.ndarray]:
    """The k-means unit of every frame of a split (``CLUS{K}/{split}.src``), one array per utterance."""
    path = Path(centroids_dir) / f"{split}.src"
    if not path.is_file():
        raise KitError(f"{path}: unit file not found (run 03_features)")
    return [np.array(line.split(), dtype=np.int64) for line in path.read_text().splitlines()]


def read_utterances(directory, split: str) -> list[np.ndarray]:
    """Every utterance of a split's feature file as its own float32 array (in memory)."""
    feats, lengths = read_features(directory, split, mmap=False)
    return [np.asarray(u, dtype=np.float32) for u in utterances(feats, lengths)]
