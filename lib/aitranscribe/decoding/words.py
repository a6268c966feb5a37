"""Words with times: the lexicon + word n-gram graph (:mod:`.graph`) searched over every step's phone scores."""
from __future__ import annotations

import logging

import numpy as np

from ..text.phones import SIL
from .confidence import path_agreement, span_confidence, step_confidence
from .timing import Timing

log = logging.getLogger(__name__)


class GraphWords:
    """Words over every step's scores through the lexicon + word n-gram graph (:mod:`.graph`): the search can
    revisit any phone boundary or confusion of the model's own best path."""

    reads = "steps"

    def __init__(self, graph_dir, stay: float, acoustic_scale: float = 0.3, beam: float = 14.0):
        from .graph import GraphDecoder

        self.graph = GraphDecoder(graph_dir, stay, acoustic_scale, beam)
        self.silence = self.graph.symbols.index(SIL) if SIL in self.graph.symbols else None

    def __call__(self, steps: np.ndarray, timing: Timing | None, posteriors: np.ndarray | None = None,
                 phone_path: np.ndarray | None = None) -> list[dict]:
        """Words of one utterance from its (T, V) step scores, each with start/end seconds when ``timing`` is given
        and a ``confidence`` when the model's (T, V) step ``posteriors`` are (:mod:`.confidence`): the mean posterior
        of the word's path, times its agreement with the phone search's ``phone_path`` ((T,) symbol ids) if given."""
        out = self.graph(steps)
        sure = None if posteriors is None else step_confidence(posteriors, out["steps"])
        words = []
        for w, (first, last) in zip(out["words"], out["spans"]):
            entry = {"word": self.graph.words[w]}
            if timing is not None:
                entry["start"], entry["end"] = timing.seconds(first, last)
            if sure is not None:
                agree = (1.0 if phone_path is None
                         else path_agreement(out["steps"], phone_path, first, last, self.silence))
                entry["confidence"] = round(span_confidence(sure, first, last) * agree, 3)
            words.append(entry)
        return words
