"""Confidence of decoded phones and words: how sure the acoustic model is of the path the search took.

A step's confidence is the model's posterior probability of the phone the best path gives that step (its
``posteriors``, (T, V) rows summing to 1); a phone's confidence is the mean over the steps it spans, in [0, 1].
Where the language model made the search leave what the model heard, the model's posterior of the path's phones is
low, and so is the word's confidence. A word's confidence is that mean times how well the phone search (the phone
n-gram graph over the same steps, a second decoding with another language model) agrees with the word's phones
over the word's steps (:func:`path_agreement`): a word the word LM forced onto sounds the phone search heard as
other phones is doubtful even where the model's posteriors of the word's own path are high. No label or tuned
setting enters either factor.
"""
from __future__ import annotations

import editdistance
import numpy as np

from ..text.phones import runs


def step_confidence(posteriors: np.ndarray, path: np.ndarray) -> np.ndarray:
    """(T,) posterior of each step's phone on ``path`` (phone index per step) from (T, V) ``posteriors``."""
    posteriors = np.asarray(posteriors)
    path = np.asarray(path, dtype=np.int64)
    if posteriors.ndim != 2 or len(posteriors) != len(path):
        raise ValueError(f"posteriors of shape {posteriors.shape} for a path of {len(path)} steps")
    return posteriors[np.arange(len(path)), path]


def path_agreement(path: np.ndarray, other: np.ndarray, first: int, last: int, silence: int | None = None) -> float:
    """1 - the normalised edit distance between the phones of two step paths over steps ``first..last``
    (inclusive; runs collapsed, ``silence`` dropped): 1 when both searches heard the same phones there."""
    def phones(ids):
        ids = np.asarray(ids[first:last + 1])
        if not len(ids):
            return []
        return [int(i) for i in ids[runs(ids)[0]] if i != silence]

    a, b = phones(path), phones(other)
    if not a and not b:
        return 1.0
    return 1.0 - editdistance.eval(a, b) / max(len(a), len(b))


def span_confidence(per_step: np.ndarray, first: int, last: int) -> float:
    """Mean of ``per_step[first..last]`` (inclusive), clipped to [0, 1] and rounded to 3 decimals."""
    return round(float(np.clip(np.mean(per_step[first:last + 1]), 0.0, 1.0)), 3)
