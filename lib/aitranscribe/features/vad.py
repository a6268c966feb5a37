"""Voice activity detection with rVAD (the ``rvadfast`` package, as fairseq's wav2vec-U uses): speech intervals of
16 kHz audio in samples, and times on the silence-removed time line mapped back to the original recording."""
from __future__ import annotations

import warnings

import numpy as np

from ..io.audio import TARGET_SR

DEFAULTS = {"vad": True, "vad_threshold": 0.4, "vad_window_ms": 25.0, "vad_shift_ms": 10.0, "min_speech_fraction": 0.05}
"""The rVAD settings stage 02 starts from, and stage 01 cuts long recordings with."""


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

    def stream(self, reader, block_s: float = 60.0) -> list[tuple[int, int]]:
        """Speech intervals of a long recording (an :class:`~aitranscribe.io.audio.AudioReader`), detected
        ``block_s`` seconds at a time so memory does not grow with its length; intervals touching a block edge are
        joined. Unlike :meth:`__call__` there is no whole-recording fallback: a silent block has no speech."""
        if self.rvad is None:
            return [(0, len(reader))]
        out: list[tuple[int, int]] = []
        for offset, x in reader.blocks(block_s):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                labels, _ = self.rvad(x.astype(np.float64), TARGET_SR)
            s = self.settings
            for a, b in speech_intervals(labels, len(x), TARGET_SR, s["vad_window_ms"], s["vad_shift_ms"]):
                a, b = a + offset, b + offset
                if out and a <= out[-1][1]:
                    out[-1] = (out[-1][0], max(b, out[-1][1]))
                else:
                    out.append((a, b))
        return out


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


def utterance_spans(intervals: list, pause_s: float = 0.5, max_s: float = 20.0,
                    sr: int = TARGET_SR) -> list[list[tuple[int, int]]]:
    """Speech ``intervals`` (samples, ascending) grouped into utterances: a new one starts at every pause of at
    least ``pause_s`` seconds, and an utterance longer than ``max_s`` is cut at its longest inner pause (repeatedly),
    so long recordings become sentence-sized pieces cut where nobody speaks."""
    groups: list[list[tuple[int, int]]] = []
    for a, b in intervals:
        if groups and a - groups[-1][-1][1] < pause_s * sr:
            groups[-1].append((a, b))
        else:
            groups.append([(a, b)])
    out = []
    todo = groups[::-1]
    while todo:
        group = todo.pop()
        if group[-1][1] - group[0][0] <= max_s * sr:
            out.append(group)
            continue
        if len(group) == 1:  # speech without any pause: equal pieces of at most max_s
            (a, b), = group
            n = -(-(b - a) // int(max_s * sr))
            edges = [a + (b - a) * k // n for k in range(n + 1)]
            out.extend([[(edges[k], edges[k + 1])] for k in range(n)])
            continue
        gaps = [group[i + 1][0] - group[i][1] for i in range(len(group) - 1)]
        cut = int(np.argmax(gaps)) + 1
        todo.extend([group[cut:], group[:cut]])
    return out


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
