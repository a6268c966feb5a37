"""Phones with times from a decoded path: runs of one phone collapsed, ``<SIL>`` dropped."""
from __future__ import annotations

import numpy as np

from ..text.phones import SIL
from .timing import Timing


def path_phones(ids: np.ndarray, spans: list, symbols: list[str], timing: Timing | None) -> list[dict]:
    """Phones of a path of symbol ids over spans: runs collapsed, ``<SIL>`` dropped, times when ``timing`` is given."""
    phones = []
    for j, i in enumerate(ids):
        if symbols[i] == SIL:
            continue
        if phones and j > 0 and ids[j - 1] == i:
            phones[-1]["last"] = spans[j][1]
            continue
        phones.append({"phone": symbols[i], "first": spans[j][0], "last": spans[j][1]})
    for ph in phones:
        first, last = ph.pop("first"), ph.pop("last")
        if timing is not None:
            ph["start"], ph["end"] = timing.seconds(first, last)
    return phones
