"""Text normalisation and an offline English filter for the unpaired text corpus.

Normalisation: Unicode NFKC, lower case, curly quotes and dashes made plain, numbers spelled out in
words (or the sentence dropped), everything but letters, inner apostrophes and spaces removed.

Language filter (no model download): a sentence is kept as English when (1) at least 95% of its letters
are ASCII a-z and (2) at least ``min_function_ratio`` of its words are among ~150 frequent English
function words. The second test is what rejects French, German, Spanish or Latin written in plain
ASCII; short English sentences pass because English uses function words densely.

Transcript words (:func:`normalize_words`, for the audio's reference words): lower case, hyphens as spaces,
punctuation removed, inner apostrophes kept.
"""
from __future__ import annotations

import re
import unicodedata

FUNCTION_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves one two three many much every very may
might must shall also well still even never always often like get got make made take took go went come came see
saw know knew say said new old good time way
""".split())

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell_number(n: int) -> str:
    """English words of a non-negative integer below one billion, e.g. 1990 -> 'one thousand nine hundred ninety'."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spell_number(n % 100))
    for size, name in ((10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = n % size
            return spell_number(n // size) + f" {name}" + ("" if rest == 0 else " " + spell_number(rest))
    raise ValueError(n)


def _numbers(text: str, spell: bool) -> str | None:
    if not re.search(r"\d", text):
        return text
    if not spell:
        return None

    def one(match):
        digits = match.group(0).replace(",", "")
        if len(digits) > 9:
            return " ".join(_ONES[int(d)] for d in digits)
        return " " + spell_number(int(digits)) + " "

    text = re.sub(r"\d+(?:,\d{3})*", one, text)
    return text


def normalize(line: str, spell_numbers: bool = True) -> str | None:
    """The normalised sentence (lower-case words separated by single spaces), or None when nothing is left
    or it has digits and ``spell_numbers`` is off."""
    text = unicodedata.normalize("NFKC", line)
    text = text.replace("’", "'").replace("‘", "'").replace("`", "'").replace("–", " ").replace("—", " ")
    text = _numbers(text, spell_numbers)
    if text is None:
        return None
    text = text.lower().replace("-", " ")
    words = [w.strip("'") for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)*", text)]
    words = [w for w in words if w]
    return " ".join(words) if words else None


def is_english(sentence: str, min_function_ratio: float = 0.1) -> bool:
    """The offline English test described in the module docstring, on a normalised sentence."""
    letters = [c for c in sentence if c.isalpha()]
    if not letters:
        return False
    ascii_share = sum("a" <= c <= "z" for c in letters) / len(letters)
    if ascii_share < 0.95:
        return False
    words = sentence.split()
    return sum(w in FUNCTION_WORDS for w in words) / len(words) >= min_function_ratio


def normalize_words(sentence: str) -> list[str]:
    """Lower-case words of a sentence, punctuation removed, inner apostrophes kept."""
    text = sentence.lower().replace("-", " ")
    return [w.strip("'") for w in re.findall(r"[a-z']+", text) if w.strip("'")]
