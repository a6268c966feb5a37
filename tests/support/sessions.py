"""Synthetic multi-voice sessions from the demo's espeak-ng voices, with the reference turns (who spoke when)."""
import random

import numpy as np

from aitranscribe.sources import demo

SR = 16000
VOICES = {v.name: v for v in demo.VOICES}


def session(voices: list[str], n_sentences: int, seed: int, gap_s=(0.3, 0.8), turn: int = 1,
            sentences: list[str] | None = None) -> tuple[np.ndarray, list]:
    """Sentences by ``voices`` in turn (``turn`` sentences each), ``gap_s`` seconds (drawn uniformly) of
    near-silence between them, drawn from ``sentences`` (WordNet examples by default). Returns 16 kHz float32 audio
    and the reference turns ``(start_s, end_s, voice)``, one per sentence."""
    rng = random.Random(seed)
    sentences = sentences or demo.wordnet_sentences()
    pieces, reference, t = [], [], 0
    for i in range(n_sentences):
        voice = voices[(i // turn) % len(voices)]
        x = demo.synthesize(VOICES[voice], sentences[rng.randrange(len(sentences))], rng.uniform(0.9, 1.1),
                            rng.randint(-4, 4))
        loud = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
        x = x[loud[0]:loud[-1] + 1]  # the speech without espeak's leading and trailing silence
        gap = np.zeros(int(rng.uniform(*gap_s) * SR), np.float32)
        pieces += [gap, 0.8 * x / np.abs(x).max()]
        t += len(gap)
        reference.append((t / SR, (t + len(x)) / SR, voice))
        t += len(x)
    pieces.append(np.zeros(SR // 2, np.float32))
    y = np.concatenate(pieces)
    return (y + 1e-3 * np.random.default_rng(seed).standard_normal(len(y))).astype(np.float32), reference
