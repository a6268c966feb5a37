"""Synthetic multi-voice sessions from the demo's espeak-ng voices, with the reference turns (who spoke when)."""
import random

import numpy as np

from aitranscribe.sources import demo
from aitranscribe.io.audio import TARGET_SR

SR = TARGET_SR
VOICES = {v.name: v for v in demo.VOICES}


def session(voices: list[str], n_sentences: int, seed: int, gap_s=(0.3, 0.8), turn: int = 1,
            sentences: list[str] | None = None) -> tuple[np.ndarray, list]:
    """``n_sentences`` drawn from ``sentences`` (WordNet examples by default) spoken by ``voices`` in turn (``turn``
    sentences each), through :func:`aitranscribe.sources.demo.conversation`. Returns 16 kHz float32 audio and the
    reference turns ``(start_s, end_s, voice)``, one per sentence."""
    rng = random.Random(seed)
    pool = sentences or demo.wordnet_sentences()
    drawn = [pool[rng.randrange(len(pool))] for _ in range(n_sentences)]
    x, reference = demo.conversation([VOICES[v] for v in voices], drawn, seed, (turn, turn), gap_s)
    return x, [(a, b, v) for a, b, v, _ in reference]
