"""Unsupervised speaker diarization (who spoke when) of one recording, without pretrained weights.

Input: 16 kHz mono float32 audio and its speech intervals in samples (from :mod:`aitranscribe.features.vad`);
optionally the number of speakers. Output: speaker turns ``(start_sample, end_sample, speaker)`` covering exactly
the speech intervals (non-speech is never assigned), speakers numbered 0..K-1 in order of first appearance.

Method (chosen by measuring on synthetic espeak-ng sessions; every step is plain numpy/scipy/sklearn):

1. Sliding windows of :data:`WINDOW_S` (1.5 s; :data:`LONG_WINDOW_S` = 2 s once the intervals hold at least
   :data:`LONG_SPEECH_S` of speech) every :data:`HOP_S` (0.75 s) inside each speech interval; an interval shorter
   than a window but at least :data:`MIN_WINDOW_S` long is one window. Features are computed :data:`BLOCK_S`
   seconds of audio at a time and only 58 floats per window are kept: an hour of speech is ~5,000 windows.
2. Per window: the mean and standard deviation of cepstra c1..c29 (DCT of the kit's 40 log mel energies,
   :func:`aitranscribe.features.mfcc.log_mel`; c0, the loudness, left out) over its loudest :data:`ENERGY_KEEP`
   frames. The high cepstra matter: with c1..c12 only, similar voices were confused (DER 0.11-0.27 instead of
   0.02-0.03). Windows whose loud frames are below :data:`SILENCE_DBFS` are left out of clustering.
3. The statistics are z-scored over the whole recording (not per window: that would erase the speaker means)
   and compared by cosine similarity. Each window keeps links to its ``p`` most similar windows (a binary,
   symmetrised affinity); ``p`` is tuned without labels as in NME-SC (Park et al., 2019): the ``p`` minimising
   ``p / normalised eigengap`` of the graph Laplacian, the sparsest graph whose cluster structure is clearest.
4. K, when not given: the position of the largest gap among the Laplacian's :data:`MAX_SPEAKERS` + 1 smallest
   eigenvalues (K well separated groups give K near-zero eigenvalues, then a jump; one speaker gives no such
   structure, so the first gap is the largest). Preferred to BIC (Gaussian mixtures on a few dozen windows in 58
   dimensions: the covariance type decided the answer) and to the silhouette (needs a threshold for K = 1).
   Measured: right K for 27/27 five-minute sessions of 1-4 voices and 36/36 two-minute pairs; on ~40 s sessions
   for 35/39 with one voice (espeak's f2, whose timbre shifts with the pitch jitter, split in two) and 35/39
   with two (the most alike pair, f3/f4, taken for one), but for only 4/7 with three voices and 0/4 with four.
5. Spectral clustering: k-means (seeded) on the K smallest Laplacian eigenvectors. Beyond
   :data:`MAX_CLUSTER_WINDOWS` windows, evenly spaced windows are clustered and the others join the nearest
   cluster mean (cosine), which bounds the affinity matrix.
6. Inside each speech interval a single window between two windows of another speaker takes theirs. Each
   sample takes the label of the nearest window centre; touching pieces of one speaker are merged.

Limits: one speaker per instant (overlapped speech goes to one of them); a turn shorter than about one window
(~1 s, e.g. a brief "yes" inside a speech interval) is often absorbed by its neighbours; a speaker change
inside one speech interval is placed only to about half a hop (~0.4 s); K estimation needs some 20+ windows
(~15 s of speech) per speaker; within-speaker changes of timbre or channel (pitch, distance to the microphone)
can look like another speaker. Measured on synthetic voices only, never on real recordings.
"""
from __future__ import annotations

import logging

import numpy as np
from scipy.fft import dct
from scipy.linalg import eigh
from sklearn.cluster import KMeans

from . import mfcc
from ..core.errors import KitError
from ..io.audio import TARGET_SR

log = logging.getLogger(__name__)

WINDOW_S = 1.5
LONG_WINDOW_S = 2.0  # window when the intervals hold at least LONG_SPEECH_S of speech
LONG_SPEECH_S = 60.0
HOP_S = 0.75
MIN_WINDOW_S = 0.4  # shorter speech intervals get no window: they take the nearest window's speaker
BLOCK_S = 60.0  # audio per feature computation
N_CEPS = 30  # cepstra c0..c29 computed; c0 dropped
ENERGY_KEEP = 0.7  # fraction of a window's frames (the loudest) its statistics use
SILENCE_DBFS = -50.0  # a window whose 90th-percentile frame level is below this is silence
MAX_SPEAKERS = 8
MIN_NEIGHBOURS = 8  # smallest p tried when K is estimated (smaller p split short recordings)
N_NEIGHBOUR_STEPS = 15  # values of p tried between MIN_NEIGHBOURS and half the windows
MIN_WINDOWS_TO_ESTIMATE = 10  # fewer usable windows: one speaker is assumed when K is not given
MAX_CLUSTER_WINDOWS = 1500  # affinity matrix at most this square


def _frame_features(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 10 ms frame of audio ``x``: cepstra c1..c{N_CEPS-1} (frames x N_CEPS-1), c0 and the level in dBFS."""
    ceps = dct(mfcc.log_mel(x), type=2, axis=1, norm="ortho")[:, :N_CEPS]
    n = len(ceps)
    x = np.pad(np.asarray(x, dtype=np.float32), (0, max(0, mfcc.WINDOW - len(x))))
    frames = np.lib.stride_tricks.sliding_window_view(x, mfcc.WINDOW)[::mfcc.SHIFT][:n]
    level = 10.0 * np.log10(np.maximum((frames.astype(np.float64) ** 2).mean(1), 1e-12))
    return ceps[:, 1:].astype(np.float32), ceps[:, 0].astype(np.float32), level


def _window_stats(feats: np.ndarray, energy: np.ndarray, level: np.ndarray) -> np.ndarray | None:
    """Mean and standard deviation of the loudest frames' cepstra; None when the window is silence."""
    if np.quantile(level, 0.9) < SILENCE_DBFS:
        return None
    keep = energy >= np.quantile(energy, 1.0 - ENERGY_KEEP)
    f = feats[keep]
    return np.concatenate([f.mean(0), f.std(0)]).astype(np.float32)


def _window_plan(n_frames: int, window_s: float) -> list[tuple[int, int]]:
    """Windows ``(start_frame, n_frames)`` of ``window_s`` seconds covering an interval of ``n_frames`` frames (the
    last one flush with its end when more than half a hop would be left over)."""
    w = int(round(window_s * TARGET_SR / mfcc.SHIFT))
    h = int(round(HOP_S * TARGET_SR / mfcc.SHIFT))
    if n_frames <= w:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - w + 1, h))
    if n_frames - (starts[-1] + w) > h // 2:
        starts.append(n_frames - w)
    return [(s, w) for s in starts]


def window_stats(x: np.ndarray, intervals: list[tuple[int, int]],
                 window_s: float = WINDOW_S) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of ``window_s`` seconds inside ``intervals`` of audio ``x``: statistics (windows x dims, NaN rows
    for silent windows), centres (samples, ascending) and the index of the interval each lies in. Audio is read
    in blocks of BLOCK_S seconds."""
    block = int(BLOCK_S * TARGET_SR / mfcc.SHIFT)
    min_len = int(MIN_WINDOW_S * TARGET_SR)
    dims = 2 * (N_CEPS - 1)
    stats, centres, owner = [], [], []
    for i, (a, b) in enumerate(intervals):
        if b - a < min_len:
            continue
        plan = _window_plan(mfcc.n_frames(b - a), window_s)
        for f0 in range(0, plan[-1][0] + 1, block):
            todo = [(s, n) for s, n in plan if f0 <= s < f0 + block]
            if not todo:
                continue
            f1 = max(s + n for s, n in todo)
            back = 1 if f0 > 0 else 0  # one frame earlier, dropped: pre-emphasis as if the interval were whole
            chunk = x[a + (f0 - back) * mfcc.SHIFT:a + (f1 - 1) * mfcc.SHIFT + mfcc.WINDOW]
            feats, energy, level = (v[back:] for v in _frame_features(chunk))
            for s, n in todo:
                row = _window_stats(feats[s - f0:s - f0 + n], energy[s - f0:s - f0 + n], level[s - f0:s - f0 + n])
                stats.append(np.full(dims, np.nan, np.float32) if row is None else row)
                centres.append(a + (s + n // 2) * mfcc.SHIFT + mfcc.WINDOW // 2)
                owner.append(i)
    if not stats:
        return np.zeros((0, dims), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.stack(stats), np.asarray(centres, dtype=np.int64), np.asarray(owner, dtype=np.int64)


def utterance_stats(x: np.ndarray) -> np.ndarray:
    """The window statistics of :func:`window_stats` over a whole utterance ``x`` (16 kHz, speech only): mean and
    standard deviation of c1..c29 over its loudest frames, one row of ``2 (N_CEPS - 1)`` floats (no silence check:
    the utterance is speech already)."""
    feats, energy, _ = _frame_features(np.asarray(x, dtype=np.float32))
    keep = energy >= np.quantile(energy, 1.0 - ENERGY_KEEP)
    f = feats[keep]
    return np.concatenate([f.mean(0), f.std(0)]).astype(np.float32)


def _embed(stats: np.ndarray) -> np.ndarray:
    """Window statistics z-scored over the recording, then scaled to unit length (for cosine similarity)."""
    z = (stats - stats.mean(0)) / (stats.std(0) + 1e-6)
    return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-9)).astype(np.float32)


def _laplacian(similarity: np.ndarray, order: np.ndarray, p: int) -> np.ndarray:
    """Unnormalised Laplacian of the graph linking each window to its ``p`` most similar ones (symmetrised)."""
    graph = np.zeros(similarity.shape, dtype=np.float64)
    np.put_along_axis(graph, order[:, :p], 1.0, axis=1)
    graph = (graph + graph.T) / 2
    return np.diag(graph.sum(1)) - graph


def _tune(emb: np.ndarray, n_speakers: int | None, max_speakers: int = MAX_SPEAKERS) -> tuple[np.ndarray, int]:
    """NME-SC: the pruned-affinity Laplacian whose ``p / normalised eigengap`` is smallest, and K (``n_speakers``
    or the position of the largest gap among the first ``max_speakers`` + 1 eigenvalues)."""
    n = len(emb)
    similarity = emb @ emb.T
    order = np.argsort(-similarity, axis=1, kind="stable")
    k_max = min(max_speakers, n - 1)
    low = MIN_NEIGHBOURS if n_speakers is None else max(3, min(MIN_NEIGHBOURS, n // (2 * n_speakers)))
    low = min(low, n - 1)  # with K known, sparser graphs are tried too: small speakers need small p
    candidates = np.unique(np.geomspace(low, max(low, n // 2), N_NEIGHBOUR_STEPS).round().astype(int))
    best = None
    for p in candidates:
        lap = _laplacian(similarity, order, int(p))
        values = eigh(lap, eigvals_only=True)
        gaps = np.diff(values[:k_max + 1])
        gap = gaps.max() if n_speakers is None else gaps[min(n_speakers, len(gaps)) - 1]
        ratio = p / max(gap / max(values[-1], 1e-9), 1e-9)
        if best is None or ratio < best[0]:
            best = (ratio, lap, int(np.argmax(gaps)) + 1, int(p))
    _, lap, k_est, p = best
    log.debug("diarization: affinity pruned to %d neighbours of %d windows, eigengap says %d speakers", p, n, k_est)
    return lap, (k_est if n_speakers is None else n_speakers)


def cluster(emb: np.ndarray, n_speakers: int | None, seed: int = 0, max_speakers: int = MAX_SPEAKERS) -> np.ndarray:
    """Speaker labels (0..K-1) of unit-length window embeddings ``emb``; K estimated (1..``max_speakers``) when
    ``n_speakers`` is None."""
    n = len(emb)
    if n_speakers is None and n < MIN_WINDOWS_TO_ESTIMATE:
        log.warning("diarization: only %d windows with speech, too few to estimate the number of speakers: "
                    "assuming one", n)
        return np.zeros(n, dtype=np.int64)
    if n_speakers == 1:
        return np.zeros(n, dtype=np.int64)
    if n_speakers is not None and n < n_speakers:
        raise KitError(f"diarization: {n} windows with speech are too few for {n_speakers} speakers")
    sample = np.arange(n)
    if n > MAX_CLUSTER_WINDOWS:
        sample = np.unique(np.linspace(0, n - 1, MAX_CLUSTER_WINDOWS).round().astype(int))
    lap, k = _tune(emb[sample], n_speakers, max_speakers)
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    _, vectors = eigh(lap, subset_by_index=[0, k - 1])
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(vectors)
    if len(sample) < n:
        means = np.stack([emb[sample][labels == j].mean(0) for j in range(k)])
        return np.argmax(emb @ means.T, axis=1)
    return labels


def _smooth(labels: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """A single window between two windows of one other label, all in the same speech interval, takes that label."""
    out = labels.copy()
    for i in range(1, len(labels) - 1):
        if owner[i - 1] == owner[i] == owner[i + 1] and labels[i - 1] == labels[i + 1] != labels[i]:
            out[i] = labels[i - 1]
    return out


def to_turns(labels: np.ndarray, centres: np.ndarray, intervals: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Turns ``(start, end, speaker)`` covering ``intervals``: each sample takes the label of the nearest window
    centre (``centres`` ascending); touching pieces of one speaker merged; speakers renumbered by first appearance."""
    mids = (centres[1:] + centres[:-1]) // 2  # sample m is nearest to window searchsorted(mids, m, "right")
    turns = []
    for a, b in intervals:
        if b <= a:
            continue
        edges = np.concatenate([[a], mids[(mids > a) & (mids < b)], [b]])
        for s, e in zip(edges[:-1], edges[1:]):
            spk = int(labels[np.searchsorted(mids, s, side="right")])
            if turns and turns[-1][2] == spk and turns[-1][1] == s:
                turns[-1] = (turns[-1][0], int(e), spk)
            else:
                turns.append((int(s), int(e), spk))
    rename: dict[int, int] = {}
    for _, _, spk in turns:
        rename.setdefault(spk, len(rename))
    return [(s, e, rename[spk]) for s, e, spk in turns]


def speaker_turns(x: np.ndarray, intervals: list[tuple[int, int]], n_speakers: int | None = None,
                  seed: int = 0) -> list[tuple[int, int, int]]:
    """Who spoke when in 16 kHz mono audio ``x`` (an array, or an :class:`~aitranscribe.io.audio.AudioReader` for
    recordings too long to hold) within its speech ``intervals`` (samples).

    ``n_speakers``: K if known, else estimated (1..MAX_SPEAKERS) by the eigengap (see the module docstring);
    ``seed``: k-means initialisation. Returns ``(start_sample, end_sample, speaker)`` turns covering exactly the
    intervals, speakers 0..K-1 in order of first appearance, touching turns of one speaker merged; ``[]`` when
    there are no intervals. Raises KitError when the intervals hold no window of audible speech (too short, or
    all below SILENCE_DBFS) or fewer windows than ``n_speakers``.
    """
    x = x if hasattr(x, "blocks") else np.asarray(x)  # an AudioReader is read lazily, block by block
    if x.ndim != 1:
        raise KitError(f"diarization needs mono audio (one dimension), got shape {x.shape}")
    if n_speakers is not None and not 1 <= n_speakers <= MAX_SPEAKERS:
        raise KitError(f"diarization: n_speakers must be 1..{MAX_SPEAKERS} or None, not {n_speakers}")
    merged: list[tuple[int, int]] = []
    for a, b in sorted((max(0, int(a)), min(len(x), int(b))) for a, b in intervals):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:  # overlapping intervals: one interval
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    intervals = merged
    if not intervals:
        log.warning("diarization: no speech intervals, no turns")
        return []
    speech_s = sum(b - a for a, b in intervals) / TARGET_SR
    window_s = LONG_WINDOW_S if speech_s >= LONG_SPEECH_S else WINDOW_S
    stats, centres, owner = window_stats(x, intervals, window_s)
    if not len(stats):
        raise KitError(f"diarization: too little speech to tell speakers apart: {len(intervals)} speech "
                       f"interval(s), {speech_s:.1f} s, none at least {MIN_WINDOW_S} s long")
    usable = ~np.isnan(stats).any(1)
    if not usable.any():
        raise KitError(f"diarization: the {len(intervals)} speech interval(s) ({speech_s:.1f} s) hold no audible "
                       f"speech: every window is below {SILENCE_DBFS:.0f} dBFS")
    stats, centres, owner = stats[usable], centres[usable], owner[usable]
    labels = _smooth(cluster(_embed(stats), n_speakers, seed), owner)
    turns = to_turns(labels, centres, intervals)
    log.info("diarization: %.1f s of speech, %d windows, %d speakers, %d turns", speech_s, len(stats),
             len({s for _, _, s in turns}), len(turns))
    return turns
