"""Choosing the word decoder's weight without labels (wav2vec-U's rule): the setting whose word transcripts have the
lowest ``log(word-LM perplexity) x UER``, where UER is the phone error rate of the decoded words' pronunciations
against the acoustic model's own phones. Fluent but unfaithful words raise the UER; faithful but disfluent ones the
perplexity. Labels are never read."""
from __future__ import annotations

import logging
import math

import numpy as np

from ..text.error_rates import per
from ..text import lm
from .graph import decode_all, pronunciations

log = logging.getLogger(__name__)


def label_free_score(words: list[list[str]], model_phones: list[list[str]], spelled: dict[str, list[str]],
                     word_lm) -> dict:
    """``uer``, ``word_lm_ppl`` and their ``score`` (log perplexity x UER) of word transcripts; ``spelled``: each
    word's phones."""
    word_phones = [[ph for w in ws for ph in spelled[w]] for ws in words]
    sentences = [" ".join(ws) for ws in words if ws]
    ppl = lm.perplexity(word_lm, sentences) if sentences else float("inf")
    uer = per(word_phones, model_phones)
    return {"uer": uer, "word_lm_ppl": ppl, "score": math.log(ppl) * uer}


def choose_scale(graph_dir, scores: list[np.ndarray], model_phones: list[list[str]], stay: float, scales: list[float],
                 word_lm_path, workers: int = 1, pool=None) -> tuple[float, list[dict]]:
    """The acoustic scale of ``scales`` with the lowest label-free score on utterances' ``scores``; and the table."""
    spelled = pronunciations(graph_dir)
    words_of = dict(enumerate(spelled))
    word_lm = lm.load(word_lm_path)
    table = []
    for scale in scales:
        results = decode_all(graph_dir, scores, stay, float(scale), workers=workers, pool=pool)
        words = [[words_of[w] for w in r["words"]] for r in results]
        table.append({"acoustic_scale": float(scale), **label_free_score(words, model_phones, spelled, word_lm)})
    best = min(table, key=lambda row: row["score"])
    log.info("acoustic scale chosen without labels: %s", best)
    return best["acoustic_scale"], table
