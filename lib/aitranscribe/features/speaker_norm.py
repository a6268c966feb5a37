"""Label-free speaker normalisation of MFCC frames: a VTLN warp per speaker, then per-speaker whitening.

Voice differences are the main source of impure units on a multi-voice corpus. For each speaker:

* ``vtln`` (optional): the filterbank warp factor from :data:`WARPS` whose per-utterance-normalised MFCC-39
  frames lie closest to a codebook of every speaker's frames (k-means, mean squared distance to the nearest
  centroid); the codebook is refitted on the warped frames and the choice repeated (:data:`ITERATIONS`);
* whitening: the speaker's frames (after per-utterance CMVN) are centred and multiplied by the inverse square
  root of their covariance (ZCA), so every speaker's frames have the same first and second moments.

Inputs: utterances grouped by speaker (voice clusters of :mod:`.speaker_clusters`, or the manifests' ``.spk``
names when a profile opts in to metadata); no transcripts. Output: a :class:`SpeakerNorm`, saved as ``.npz``
without pickled objects. A speaker it has not seen (new recordings) is normalised from its own audio by
:meth:`SpeakerNorm.adapt`; with voice clusters, an utterance of an unknown speaker takes the transform of its
cluster (assigned from its audio), or is normalised from its own audio when it is a new voice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import mfcc, units
from .speaker_clusters import SpeakerClusters
from ..core.errors import KitError
from ..core.files import atomic_path

log = logging.getLogger(__name__)

METHODS = ("none", "whiten", "vtln_whiten")
WARPS = (0.84, 0.88, 0.92, 0.96, 1.0, 1.04, 1.08, 1.12, 1.16)
ITERATIONS = 2
CODEBOOK_SIZE = 128
WARP_UTTERANCES = 40  # per speaker, for choosing the warp
EPS = 1e-4  # added to the covariance's diagonal


def base_frames(x: np.ndarray, warp: float = 1.0) -> np.ndarray:
    """MFCC-39 with per-utterance CMVN, no stacking: the frames the normalisation works on."""
    return mfcc.mfcc_features(x, context=0, warp=warp)


def _distortion(frames: np.ndarray, codebook: np.ndarray) -> float:
    return float(units.squared_distances(frames, codebook).min(1).mean())


def _whitener(frames: np.ndarray, who: str) -> tuple[np.ndarray, np.ndarray]:
    if len(frames) < 2 * frames.shape[1]:
        raise KitError(f"{who}: {len(frames)} frames are too few to estimate its normalisation")
    mean = frames.mean(0)
    cov = np.cov(frames - mean, rowvar=False) + EPS * np.eye(frames.shape[1])
    values, vectors = np.linalg.eigh(cov)
    return mean.astype(np.float32), (vectors @ np.diag(values ** -0.5) @ vectors.T).astype(np.float32)


@dataclass
class SpeakerNorm:
    """Per-speaker warp, mean and whitening matrix; ``codebook`` chooses warps for new speakers; ``clusters`` (when
    the speakers are voice clusters) names the speaker of an utterance whose speaker is not known."""

    method: str
    codebook: np.ndarray | None
    warps: dict[str, float] = field(default_factory=dict)
    means: dict[str, np.ndarray] = field(default_factory=dict)
    whiteners: dict[str, np.ndarray] = field(default_factory=dict)
    clusters: SpeakerClusters | None = None

    def choose_warp(self, utterances: list[np.ndarray]) -> float:
        """The warp of :data:`WARPS` with the least codebook distortion on ``utterances`` (1.0 without vtln)."""
        if self.method != "vtln_whiten":
            return 1.0
        sample = utterances[:WARP_UTTERANCES]
        scores = {w: _distortion(np.concatenate([base_frames(x, w) for x in sample]), self.codebook) for w in WARPS}
        return min(scores, key=scores.get)

    def adapt(self, speaker: str, utterances: list[np.ndarray], warp: float | None = None) -> None:
        """Fit ``speaker``'s whitening (and warp, unless given) on its audio ``utterances`` (16 kHz, silence removed)."""
        warp = self.choose_warp(utterances) if warp is None else warp
        frames = np.concatenate([base_frames(x, warp) for x in utterances])
        self.means[speaker], self.whiteners[speaker] = _whitener(frames, f"speaker {speaker!r}")
        self.warps[speaker] = warp

    def speaker_of(self, x: np.ndarray, speaker: str | None) -> str | None:
        """The fitted speaker whose transform ``x`` takes: ``speaker`` when fitted; else, with voice clusters, the
        cluster of ``x`` (None for a new voice, or when ``x`` is too short to be normalised alone: then the nearest
        cluster); else None (normalised from ``x`` alone)."""
        if speaker in self.warps or self.clusters is None:
            return speaker if speaker in self.warps else None
        alone = mfcc.n_frames(len(x)) >= 2 * mfcc.dim(13, 0)  # enough frames for its own whitening
        return self.clusters.speaker_of(x, allow_new=alone)

    def __call__(self, x: np.ndarray, speaker: str | None, context: int) -> np.ndarray:
        """Normalised MFCC-39 frames of ``x`` stacked +-``context``; an unknown speaker takes its voice cluster's
        transform (with clusters) or is adapted on ``x`` alone (see :meth:`speaker_of`)."""
        speaker = self.speaker_of(x, speaker)
        if speaker in self.warps:
            frames = base_frames(x, self.warps[speaker])
            mean, whitener = self.means[speaker], self.whiteners[speaker]
        else:
            frames = base_frames(x, self.choose_warp([x]))
            mean, whitener = _whitener(frames, f"an utterance of the unseen speaker {speaker!r}")
        return mfcc.stack(((frames - mean) @ whitener).astype(np.float32), context)

    def save(self, path) -> Path:
        """Write the normalisation as ``.npz`` (plain arrays only), atomically."""
        names = sorted(self.warps)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, method=np.array(self.method), codebook=self.codebook if self.codebook is not None else np.zeros(0),
                         speakers=np.array(names, dtype=str), warps=np.array([self.warps[s] for s in names]),
                         means=np.stack([self.means[s] for s in names]),
                         whiteners=np.stack([self.whiteners[s] for s in names]),
                         **(self.clusters.arrays() if self.clusters is not None else {}))
        return Path(path)

    @classmethod
    def load(cls, path) -> "SpeakerNorm":
        """A normalisation written by :meth:`save` (loaded without pickle)."""
        with np.load(path, allow_pickle=False) as z:
            codebook = z["codebook"] if z["codebook"].size else None
            names = [str(s) for s in z["speakers"]]
            return cls(str(z["method"]), codebook, dict(zip(names, map(float, z["warps"]))),
                       dict(zip(names, z["means"])), dict(zip(names, z["whiteners"])),
                       SpeakerClusters.from_arrays(z))

    def summary(self) -> dict:
        """Warp factor per speaker; with voice clusters, their number."""
        return {"method": self.method, "warps": {s: self.warps[s] for s in sorted(self.warps)},
                **({"voice_clusters": len(self.clusters.centres)} if self.clusters is not None else {})}


def fit(utterances_by_speaker: dict[str, list[np.ndarray]], method: str, seed: int = 0,
        codebook_size: int = CODEBOOK_SIZE) -> SpeakerNorm:
    """Choose every speaker's warp (``vtln_whiten``) and fit its whitening; no transcripts are used."""
    if method not in METHODS or method == "none":
        raise KitError(f"speaker normalisation {method!r}: expected one of {METHODS[1:]}")
    norm = SpeakerNorm(method, None)
    warps = {s: 1.0 for s in utterances_by_speaker}
    if method == "vtln_whiten":
        for iteration in range(ITERATIONS):
            frames = np.concatenate([base_frames(x, warps[s]) for s, utts in utterances_by_speaker.items()
                                     for x in utts[:WARP_UTTERANCES]])
            norm.codebook = units.fit_kmeans(units.sample_rows(frames, 60000, seed),
                                                min(codebook_size, len(frames)), 20, 1, seed)
            warps = {s: norm.choose_warp(utts) for s, utts in utterances_by_speaker.items()}
            log.info("VTLN iteration %d: warps %s", iteration + 1, warps)
    for speaker, utts in utterances_by_speaker.items():
        norm.adapt(speaker, utts, warps[speaker])
    return norm
