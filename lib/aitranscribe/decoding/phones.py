"""Phones with times from a decoded path: runs of one phone collapsed, ``<SIL>`` dropped."""
from __future__ import annotations

import numpy as np

from ..text.phones import SIL, runs
from .confidence import span_confidence, step_confidence
from .timing import Timing


def collapse(ids, symbols: list[str]) -> list[str]:
    """Phones of a path of symbol ids: runs of one id merged, ``<SIL>`` dropped."""
    ids = np.asarray(ids)
    if not len(ids):
        return []
    return [symbols[i] for i in ids[runs(ids)[0]] if symbols[i] != SIL]


def path_phones(ids: np.ndarray, spans: list, symbols: list[str], timing: Timing | None,
                confidence: np.ndarray | None = None) -> list[dict]:
    """:func:`collapse`'s phones of a path of symbol ids over ``spans`` (each id's first and last step), as dicts
    with ``start`` and ``end`` seconds of each run when ``timing`` is given; with ``confidence`` (one value per id)
    each phone's ``confidence`` is the mean over its ids."""
    ids = np.asarray(ids)
    if not len(ids):
        return []
    phones = []
    for first, last in zip(*runs(ids)):
        if symbols[ids[first]] == SIL:
            continue
        phone = {"phone": symbols[ids[first]]}
        if timing is not None:
            phone["start"], phone["end"] = timing.seconds(spans[first][0], spans[last][1])
        if confidence is not None:
            phone["confidence"] = span_confidence(confidence, first, last)
        phones.append(phone)
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
        return self.decode(steps, timing, posteriors)[0]

    def decode(self, steps: np.ndarray, timing: Timing | None,
               posteriors: np.ndarray | None = None) -> tuple[list[dict], np.ndarray]:
        """:meth:`__call__`'s phones and the search's path: (T,) symbol id per step."""
        out = self.graph(steps)
        runs = out["runs"]
        sure = None
        if posteriors is not None:  # each run's mean, then the mean over a phone's runs
            per_step = step_confidence(posteriors, out["steps"])
            sure = np.array([per_step[a:b + 1].mean() for _, a, b in runs])
        phones = path_phones(np.array([r[0] for r in runs], dtype=np.int64), [(r[1], r[2]) for r in runs],
                             self.graph.symbols, timing, sure)
        return phones, np.asarray(out["steps"])
