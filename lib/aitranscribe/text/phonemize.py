"""Words to phones with phonemizer + espeak-ng (en-us, no stress marks), one call for a whole vocabulary."""
from __future__ import annotations

import logging
import shutil

from ..core.errors import KitError

log = logging.getLogger(__name__)

INSTALL_HINT = ("espeak-ng is not installed: run `bash run_all.sh` (it installs it) or "
                "`sudo apt-get install espeak-ng` (Debian/Ubuntu)")


def require_espeak() -> str:
    """Path of the espeak-ng program; KitError with the install command when it is missing."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise KitError(INSTALL_HINT)
    return path


def phonemize_words(words, language: str = "en-us", backend: str = "espeak") -> dict[str, list[str]]:
    """Phones of every distinct word, e.g. ``{"world": ["w", "ɜː", "l", "d"]}``; words without phones are left out."""
    if backend != "espeak":
        raise KitError(f"phonemizer backend '{backend}' is not supported by the kit; use 'espeak'")
    require_espeak()
    from phonemizer.backend import EspeakBackend
    from phonemizer.separator import Separator

    vocab = sorted(set(words))
    if not vocab:
        return {}
    engine = EspeakBackend(language, preserve_punctuation=False, with_stress=False,
                           language_switch="remove-flags", logger=log)
    log.info("phonemizing %d distinct words (%s, espeak-ng)", len(vocab), language)
    outputs = engine.phonemize(vocab, separator=Separator(phone=" ", word=" | "), strip=True, njobs=1)
    lexicon = {}
    for word, phones in zip(vocab, outputs):
        symbols = phones.replace("|", " ").split()
        if symbols:
            lexicon[word] = symbols
    dropped = len(vocab) - len(lexicon)
    if dropped:
        log.info("%d words got no phones and are left out of the lexicon", dropped)
    return lexicon


def sentence_phones(words: list[str], lexicon: dict[str, list[str]]) -> list[str] | None:
    """Phones of a word sequence by lexicon look-up; None when a word is missing from the lexicon."""
    phones = []
    for word in words:
        entry = lexicon.get(word)
        if entry is None:
            return None
        phones.extend(entry)
    return phones
