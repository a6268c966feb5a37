"""Phone conventions shared by the text side, training and scoring: the ``<SIL>`` token, folded espeak-ng
variants, silence insertion, the phone dictionary, phone text and reference phone files.

Phone text (``lm.phones.filtered.txt``) and references (``references/{split}.phn``) hold one utterance or
sentence per line, phones separated by spaces; ``dict.phn.txt`` holds ``symbol count`` per line with
``<SIL> 0`` last (fairseq's layout).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from ..core.errors import KitError

SIL = "<SIL>"

# espeak-ng symbols folded into the phone they are variants of (reduced vowels, r-colouring variants).
FOLDS = {"ᵻ": "ɪ", "ɐ": "ə", "ɜ": "ɜː", "ɔ": "ɔː", "ɑ": "ɑː", "ʔ": "t", "x": "k", "r": "ɹ", "ɬ": "l", "n̩": "n"}


def fold(phones: list[str]) -> list[str]:
    """Phones with the rare espeak variants folded (``FOLDS``)."""
    return [FOLDS.get(ph, ph) for ph in phones]


def insert_silences(words_phones: list[list[str]], sil_prob: float, rng: random.Random) -> list[str]:
    """Phones of a sentence with ``<SIL>`` at both ends and between words with probability ``sil_prob``."""
    out = [SIL]
    for i, phones in enumerate(words_phones):
        out.extend(phones)
        if i < len(words_phones) - 1 and rng.random() < sil_prob:
            out.append(SIL)
    out.append(SIL)
    return out


def read_dictionary(path) -> list[str]:
    """Symbols of ``dict.phn.txt`` in file order (``<SIL>`` included): the models' output inventory."""
    return [line.split()[0] for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def runs(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of every run of one id in the 1-D ``ids`` (non-empty)."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return starts, np.r_[starts[1:], len(ids)] - 1


def phone_lines(path, symbols: list[str], merge_runs: bool = True, limit: int = 0, seed: int = 0) -> list[np.ndarray]:
    """The phone text as index arrays (runs of one phone merged unless ``merge_runs`` is off); at most ``limit``
    lines drawn with ``seed`` when ``limit`` is set. A symbol missing from ``symbols`` is an error naming the line."""
    index = {s: i for i, s in enumerate(symbols)}
    text = Path(path).read_text(encoding="utf-8").splitlines()
    if limit and len(text) > limit:
        text = random.Random(seed).sample(text, limit)
    lines = []
    for number, line in enumerate(text, 1):
        try:
            seq = np.array([index[p] for p in line.split()], dtype=np.int64)
        except KeyError as exc:
            raise KitError(f"{path}: line {number} has the symbol {exc} missing from the phone dictionary") from None
        if len(seq):
            lines.append(seq[runs(seq)[0]] if merge_runs else seq)
    if not lines:
        raise KitError(f"{path}: no phone text")
    return lines


def read_lexicon(path) -> dict[str, list[str]]:
    """``lexicon_filtered.lst`` (``word<TAB>phones``, stage 04) -> {word: phones}; a malformed line is an error."""
    lexicon = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        word, _, phones = line.partition("\t")
        if not word or not phones.split():
            raise KitError(f"{path}: line {number} is not 'word<TAB>phones'")
        lexicon[word] = phones.split()
    return lexicon


def read_references(references_dir, split: str) -> list[list[str]] | None:
    """Reference phones of an audio split (``references/{split}.phn``, report-only), or None when there are none."""
    path = Path(references_dir) / f"{split}.phn"
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else None
