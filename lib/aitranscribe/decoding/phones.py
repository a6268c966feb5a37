"""Phones with times from a decoded path: runs of one phone collapsed, ``<SIL>`` dropped."""
from __future__ import annotations

import numpy as np

from ..text.phones import SIL
from .timing import Timing


def _runs(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of every run of one id in ``ids``."""
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return starts, np.r_[starts[1:], len(ids)] - 1


def collapse(ids, symbols: list[str]) -> list[str]:
    """Phones of a path of symbol ids: runs of one id merged, ``<SIL>`` dropped."""
    ids = np.asarray(ids)
    if not len(ids):
        return []
    return [symbols[i] for i in ids[_runs(ids)[0]] if symbols[i] != SIL]


def path_phones(ids: np.ndarray, spans: list, symbols: list[str], timing: Timing | None) -> list[dict]:
    """:func:`collapse`'s phones of a path of symbol ids over ``spans`` (each id's first and last step), as dicts
    with ``start`` and ``end`` seconds of each run when ``timing`` is given."""
    ids = np.asarray(ids)
    if not len(ids):
        return []
    phones = []
    for first, last in zip(*_runs(ids)):
        if symbols[ids[first]] == SIL:
            continue
        phone = {"phone": symbols[ids[first]]}
        if timing is not None:
            phone["start"], phone["end"] = timing.seconds(spans[first][0], spans[last][1])
        phones.append(phone)
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
