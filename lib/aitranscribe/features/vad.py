"""Voice activity detection with rVAD (the ``rvadfast`` package, as fairseq's wav2vec-U uses): speech intervals of
16 kHz audio in samples, and times on the silence-removed time line mapped back to the original recording."""
from __future__ import annotations

import warnings

import numpy as np

from ..io.audio import TARGET_SR


class Detector:
    """rVAD with a stage's settings: ``vad`` (on/off), ``vad_threshold``, ``vad_window_ms``, ``vad_shift_ms`` and
    ``min_speech_fraction`` (below it an utterance is kept whole)."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.rvad = None
        if settings["vad"]:
            from rVADfast import rVADfast

            self.rvad = rVADfast(window_duration=settings["vad_window_ms"] / 1000,
                                 shift_duration=settings["vad_shift_ms"] / 1000,
                                 vad_threshold=settings["vad_threshold"])

    def __call__(self, x: np.ndarray) -> list[tuple[int, int]]:
        """Speech intervals of one utterance; the whole utterance when VAD is off or finds (almost) nothing."""
        whole = [(0, len(x))]
        if self.rvad is None:
            return whole
        with warnings.catch_warnings():  # rVAD takes nanmax over all-silent blocks: harmless, not the user's concern
            warnings.simplefilter("ignore", RuntimeWarning)
            labels, _ = self.rvad(x.astype(np.float64), TARGET_SR)
        s = self.settings
        intervals = speech_intervals(labels, len(x), TARGET_SR, s["vad_window_ms"], s["vad_shift_ms"])
        speech = sum(b - a for a, b in intervals)
        return intervals if speech >= s["min_speech_fraction"] * len(x) else whole


def speech_intervals(labels: np.ndarray, n_samples: int, sr: int, window_ms: float, shift_ms: float) -> list:
    """Runs of speech frames (rVAD labels 0/1) as ``(start, end)`` sample intervals, merged where they overlap."""
    shift = int(round(sr * shift_ms / 1000))
    window = int(round(sr * window_ms / 1000))
    labels = np.asarray(labels).astype(bool)
    if not labels.any():
        return []
    edges = np.diff(np.concatenate([[0], labels.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    intervals = []
    for s, e in zip(starts, ends):
        a, b = s * shift, min(n_samples, (e - 1) * shift + window)
        if intervals and a <= intervals[-1][1]:
            intervals[-1] = (intervals[-1][0], max(b, intervals[-1][1]))
        else:
            intervals.append((a, b))
    return intervals


def speech_only(x: np.ndarray, intervals: list) -> np.ndarray:
    """The speech intervals of ``x`` concatenated (the silence-removed audio)."""
    return np.concatenate([x[a:b] for a, b in intervals])


def to_original_seconds(t: np.ndarray, intervals: list, sr: int = TARGET_SR) -> np.ndarray:
    """Times (s) on the silence-removed time line mapped back to the original audio's time line."""
    t = np.asarray(t, dtype=np.float64)
    lengths = np.array([b - a for a, b in intervals], dtype=np.float64) / sr
    starts = np.array([a for a, _ in intervals], dtype=np.float64) / sr
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    k = np.clip(np.searchsorted(cum, t, side="right") - 1, 0, len(intervals) - 1)
    return starts[k] + np.minimum(t - cum[k], lengths[k])
