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


def two_voices(n_sentences: int = 24, seed: int = 3) -> tuple[np.ndarray, list]:
    """The two-voice session of the folder tests (espeak-us-m1 and espeak-us-f2 in turn, the first
    ``n_sentences`` WordNet examples): 16 kHz audio and the reference ``(start_s, end_s, voice, sentence)``."""
    return demo.conversation([VOICES["espeak-us-m1"], VOICES["espeak-us-f2"]], demo.wordnet_sentences()[:n_sentences],
                             seed)


def scripted_result(name: str, seconds: float, reference: list, doubtful_every: int = 5) -> dict:
    """A transcript of a session read off its reference: each sentence's words spread evenly over its span, the
    voices as ``SPEAKER_1``, ``SPEAKER_2``... in order of first appearance, every ``doubtful_every``-th word with
    confidence 0.2 (others 0.9), and the session figures of the true turns."""
    from aitranscribe.text.normalize import normalize_words
    from aitranscribe.transcription.session_figures import figures

    labels: dict[str, str] = {}
    words, turns = [], []
    for a, b, voice, sentence in reference:
        spk = labels.setdefault(voice, f"SPEAKER_{len(labels) + 1}")
        tokens = normalize_words(sentence)
        step = (b - a) / len(tokens)
        for k, token in enumerate(tokens):
            words.append({"word": token, "start": round(a + k * step, 3), "end": round(a + (k + 0.9) * step, 3),
                          "speaker": spk, "confidence": 0.2 if len(words) % doubtful_every == doubtful_every - 1
                          else 0.9})
        turns.append({"speaker": spk, "start": round(a, 3), "end": round(b, 3)})
    pieces = [(a, b, labels[v]) for a, b, v, _ in reference]
    return {"name": name, "seconds": round(seconds, 3), "n_speakers": len(labels), "turns": turns, "words": words,
            "phones": [], "segments": [], "session": figures(pieces, words, seconds)}
