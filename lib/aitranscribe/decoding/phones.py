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


class GraphPhones:
    """Phones over every step's scores through a phone n-gram graph (:mod:`.graph` with the phone LM): the
    text's phone 4-gram in place of the model's own bigram HMM."""

    def __init__(self, graph_dir, stay: float, acoustic_scale: float = 1.0, beam: float = 14.0):
        from .graph import GraphDecoder

        self.graph = GraphDecoder(graph_dir, stay, acoustic_scale, beam)

    def __call__(self, steps: np.ndarray, timing: Timing | None) -> list[dict]:
        """Phones of one utterance (``<SIL>`` dropped, runs of one phone merged), with times when ``timing`` is given."""
        runs = self.graph(steps)["runs"]
        return path_phones(np.array([r[0] for r in runs], dtype=np.int64), [(r[1], r[2]) for r in runs],
                           self.graph.symbols, timing)
