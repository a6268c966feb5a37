"""Phones with times from a decoded path: runs of one phone collapsed, ``<SIL>`` dropped."""
from __future__ import annotations

import numpy as np

from ..text.phones import SIL
from .confidence import span_confidence, step_confidence
from .timing import Timing


def path_phones(ids: np.ndarray, spans: list, symbols: list[str], timing: Timing | None,
                confidence: np.ndarray | None = None) -> list[dict]:
    """Phones of a path of symbol ids over spans: runs collapsed, ``<SIL>`` dropped, times when ``timing`` is given;
    with ``confidence`` (one value per id) each phone's ``confidence`` is the mean over its ids."""
    phones = []
    for j, i in enumerate(ids):
        if symbols[i] == SIL:
            continue
        if phones and j > 0 and ids[j - 1] == i:
            phones[-1]["last"], phones[-1]["to"] = spans[j][1], j
            continue
        phones.append({"phone": symbols[i], "first": spans[j][0], "last": spans[j][1], "from": j, "to": j})
    for ph in phones:
        first, last, a, b = ph.pop("first"), ph.pop("last"), ph.pop("from"), ph.pop("to")
        if timing is not None:
            ph["start"], ph["end"] = timing.seconds(first, last)
        if confidence is not None:
            ph["confidence"] = span_confidence(confidence, a, b)
    return phones


class GraphPhones:
    """Phones over every step's scores through a phone n-gram graph (:mod:`.graph` with the phone LM): the
    text's phone 4-gram in place of the model's own bigram HMM."""

    def __init__(self, graph_dir, stay: float, acoustic_scale: float = 1.0, beam: float = 14.0):
        from .graph import GraphDecoder

        self.graph = GraphDecoder(graph_dir, stay, acoustic_scale, beam)

    def __call__(self, steps: np.ndarray, timing: Timing | None, posteriors: np.ndarray | None = None) -> list[dict]:
        """Phones of one utterance (``<SIL>`` dropped, runs of one phone merged), with times when ``timing`` is given
        and a ``confidence`` when the model's (T, V) step ``posteriors`` are (:mod:`.confidence`)."""
        out = self.graph(steps)
        runs = out["runs"]
        sure = None
        if posteriors is not None:  # each run's mean, then the mean over a phone's runs
            per_step = step_confidence(posteriors, out["steps"])
            sure = np.array([per_step[a:b + 1].mean() for _, a, b in runs])
        return path_phones(np.array([r[0] for r in runs], dtype=np.int64), [(r[1], r[2]) for r in runs],
                           self.graph.symbols, timing, sure)
