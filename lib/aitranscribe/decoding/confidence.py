"""Confidence of decoded phones and words: how sure the acoustic model is of the path the search took.

A step's confidence is the model's posterior probability of the phone the best path gives that step (its
``posteriors``, (T, V) rows summing to 1); a phone's or a word's confidence is the mean over the steps it spans,
in [0, 1]. Where the language model made the search leave what the model heard, the model's posterior of the
path's phones is low, and so is the word's confidence.
"""
from __future__ import annotations

import numpy as np


def step_confidence(posteriors: np.ndarray, path: np.ndarray) -> np.ndarray:
    """(T,) posterior of each step's phone on ``path`` (phone index per step) from (T, V) ``posteriors``."""
    posteriors = np.asarray(posteriors)
    path = np.asarray(path, dtype=np.int64)
    if posteriors.ndim != 2 or len(posteriors) != len(path):
        raise ValueError(f"posteriors of shape {posteriors.shape} for a path of {len(path)} steps")
    return posteriors[np.arange(len(path)), path]


def span_confidence(per_step: np.ndarray, first: int, last: int) -> float:
    """Mean of ``per_step[first..last]`` (inclusive), clipped to [0, 1] and rounded to 3 decimals."""
    return round(float(np.clip(np.mean(per_step[first:last + 1]), 0.0, 1.0)), 3)
