"""Speakers of a corpus without names: its utterances grouped into voices by the diarization's own clustering.

Each utterance becomes one row of :func:`aitranscribe.features.diarize.utterance_stats` (mean and spread of its
cepstra c1..c29 over its loudest frames); the rows of the train split are z-scored, scaled to unit length and
clustered spectrally with the number of voices read off the eigengap (:func:`aitranscribe.features.diarize.cluster`,
the code that tells the speakers of a recording apart). Nothing but the audio is read: no speaker names, no
transcripts.

Utterances of other splits (and new audio) are assigned to the train cluster with the most similar centre (cosine)
when that similarity reaches :attr:`SpeakerClusters.threshold`, the :data:`NEW_VOICE_QUANTILE` quantile of the
train utterances' similarity to their own cluster's centre; below it the utterance is a **new voice**
(:data:`NEW_VOICE`), normalised from its own audio. The rule reads one utterance at a time, so stage 03's valid/test
features and any later extraction of the same utterance (stage 07's end to end) get the same speaker transform.
Measured on the demo corpus of seed 2 (2,000 train utterances, 9 espeak-ng voices): 9 clusters, purity 0.99
against the voice names; with one voice left out of train, 8 clusters, and that voice's valid/test utterances
reach a median similarity of 0.31-0.62 to the nearest centre against 0.81 for the known voices (the 1% quantile of
the train similarities is 0.50-0.55): a new voice's utterances mostly fall below it, the two most alike voices
(f3/f4) mostly join each other.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..core.errors import KitError
from . import diarize

log = logging.getLogger(__name__)

NEW_VOICE = -1  # the label of an utterance far from every train cluster
NEW_VOICE_QUANTILE = 0.01  # train similarities to the own centre below which a new utterance is a new voice
MAX_VOICES = 16  # most voices the eigengap may choose (diarize.MAX_SPEAKERS is 8, for one recording)


def name(label: int) -> str:
    """The speaker name of cluster ``label`` (0-based): ``voice01``, ``voice02``, ..."""
    return f"voice{label + 1:02d}"


@dataclass
class SpeakerClusters:
    """The train-fitted voice clusters: z-scoring of the utterance statistics, unit centres, the new-voice bar."""

    mean: np.ndarray
    scale: np.ndarray
    centres: np.ndarray
    threshold: float

    def embed(self, stats: np.ndarray) -> np.ndarray:
        """Utterance statistics (N, D) -> unit-length rows after the train z-scoring."""
        z = (np.asarray(stats, dtype=np.float64) - self.mean) / self.scale
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-9)

    def assign(self, stats: np.ndarray) -> np.ndarray:
        """Labels (0..K-1, or :data:`NEW_VOICE`) of utterance statistics (N, D): the most similar centre when its
        cosine reaches ``threshold``."""
        similarity = self.embed(stats) @ self.centres.T
        labels = similarity.argmax(1)
        return np.where(similarity.max(1) >= self.threshold, labels, NEW_VOICE).astype(np.int64)

    def speaker_of(self, x: np.ndarray, allow_new: bool = True) -> str | None:
        """The speaker name of one utterance's audio ``x`` (16 kHz, speech): its cluster's, or None for a new voice
        (never with ``allow_new`` False: then the most similar cluster's)."""
        stats = diarize.utterance_stats(x)[None]
        label = int(self.assign(stats)[0]) if allow_new else int((self.embed(stats) @ self.centres.T).argmax())
        return None if label == NEW_VOICE else name(label)

    def arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays to save beside a speaker normalisation (see :meth:`from_arrays`)."""
        return {"clusters_mean": self.mean, "clusters_scale": self.scale, "clusters_centres": self.centres,
                "clusters_threshold": np.array(self.threshold)}

    @classmethod
    def from_arrays(cls, z) -> "SpeakerClusters | None":
        """The clusters saved by :meth:`arrays` in ``z`` (a mapping of arrays); None when it holds none."""
        if "clusters_centres" not in z:
            return None
        return cls(np.asarray(z["clusters_mean"]), np.asarray(z["clusters_scale"]), np.asarray(z["clusters_centres"]),
                   float(z["clusters_threshold"]))


def fit(stats: np.ndarray, seed: int = 0, max_voices: int = MAX_VOICES) -> tuple[SpeakerClusters, np.ndarray]:
    """Voice clusters of the train utterances' statistics ``stats`` (N, D) -> (the clusters, each utterance's label
    0..K-1). K is chosen by the eigengap (1..``max_voices``; a warning when it chooses the bound, which then may
    bind: on the people-like corpus of seed 7 it chose 16 of at most 16, and 20 of at most 20, 24 or 32);
    ``seed`` seeds the spectral k-means."""
    stats = np.asarray(stats, dtype=np.float64)
    if len(stats) < diarize.MIN_WINDOWS_TO_ESTIMATE:
        raise KitError(f"speaker clusters: {len(stats)} train utterances are too few to tell voices apart "
                       f"(at least {diarize.MIN_WINDOWS_TO_ESTIMATE}); use speaker_source: metadata or more audio")
    mean, scale = stats.mean(0), stats.std(0) + 1e-6
    clusters = SpeakerClusters(mean, scale, np.zeros((0, stats.shape[1])), -np.inf)
    emb = clusters.embed(stats)
    labels = diarize.cluster(emb.astype(np.float32), None, seed, max_speakers=max_voices)
    k = int(labels.max()) + 1
    if k >= max_voices:
        log.warning("speaker clusters: the eigengap chose %d voices, the most allowed (speaker_max_voices): the bound "
                    "may merge voices; raise it until the number found stays below it", k)
    centres = np.stack([emb[labels == j].mean(0) for j in range(k)])
    clusters.centres = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-9)
    own = (emb * clusters.centres[labels]).sum(1)
    clusters.threshold = float(np.quantile(own, NEW_VOICE_QUANTILE))
    return clusters, labels


def purity(labels, names) -> dict:
    """Report-only agreement of cluster ``labels`` with speaker ``names`` (the corpus's metadata): ``purity`` (share
    of utterances whose cluster's most common name is theirs; each new voice counts as a cluster of its own),
    ``inverse_purity`` (share in their name's most common cluster) and the counts of names per cluster."""
    labels, names = list(labels), list(names)
    if len(labels) != len(names) or not labels:
        raise KitError(f"speaker purity: {len(labels)} labels for {len(names)} names")
    keyed = [f"new{i}" if label == NEW_VOICE else label for i, label in enumerate(labels)]
    by_cluster: dict = {}
    by_name: dict = {}
    for key, who in zip(keyed, names):
        by_cluster.setdefault(key, Counter())[who] += 1
        by_name.setdefault(who, Counter())[key] += 1
    n = len(labels)
    return {"purity": sum(c.most_common(1)[0][1] for c in by_cluster.values()) / n,
            "inverse_purity": sum(c.most_common(1)[0][1] for c in by_name.values()) / n,
            "counts": {name(k): dict(by_cluster[k].most_common()) for k in sorted(k for k in by_cluster
                                                                                 if not isinstance(k, str))}}
