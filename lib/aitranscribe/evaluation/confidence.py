"""Report-only calibration of word confidences against reference transcripts.

Each hypothesis word is right when the Levenshtein alignment of the hypothesis to its reference pairs it with the
same word, wrong otherwise (a substitution or an insertion). :func:`calibration` says how well the confidences
tell wrong words from right ones (ROC AUC: the probability that a random wrong word has a lower confidence than a
random right one; 0.5 is chance) and how well they match the share of right words (a reliability table and the
expected calibration error, ECE). References never change a confidence.
"""
from __future__ import annotations

import numpy as np

from ..text.error_rates import align


def word_labels(hypothesis: list[str], reference: list[str]) -> list[bool]:
    """For each hypothesis word: True when the alignment pairs it with the same reference word."""
    return [ref == hyp for ref, hyp in align(reference, hypothesis) if hyp is not None]


def roc_auc(confidence: np.ndarray, right: np.ndarray) -> float:
    """ROC AUC of ``confidence`` for telling wrong words from right ones (scikit-learn's; ties count half); NaN
    unless there are both."""
    from sklearn.metrics import roc_auc_score

    right = np.asarray(right, bool)
    if right.all() or not right.any():
        return float("nan")
    return float(roc_auc_score(right, np.asarray(confidence, float)))


def reliability(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> list[dict]:
    """Per confidence bin of equal width on [0, 1] that holds words: ``low``, ``high``, ``n``, mean ``confidence``
    and ``accuracy`` (the share of right words)."""
    confidence, right = np.asarray(confidence, float), np.asarray(right, bool)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return [{"low": k / bins, "high": (k + 1) / bins, "n": int((which == k).sum()),
             "confidence": float(confidence[which == k].mean()), "accuracy": float(right[which == k].mean())}
            for k in range(bins) if (which == k).any()]


def calibration(results: list[dict], references: list[str | None], bins: int = 10) -> dict | None:
    """``auc``, ``ece``, ``n_words``, ``word_accuracy`` and the ``reliability`` table of the words of ``results``
    (each with ``words`` carrying ``confidence``) against their references (None: left out); None when no word
    can be scored."""
    conf, right = [], []
    for r, ref in zip(results, references):
        if ref is None or not r.get("words") or any("confidence" not in w for w in r["words"]):
            continue
        conf += [w["confidence"] for w in r["words"]]
        right += word_labels([w["word"] for w in r["words"]], ref.split())
    if not conf:
        return None
    table = reliability(np.array(conf), np.array(right), bins)
    ece = sum(row["n"] * abs(row["accuracy"] - row["confidence"]) for row in table) / len(conf)
    return {"auc": roc_auc(np.array(conf), np.array(right)), "ece": float(ece), "n_words": len(conf),
            "word_accuracy": float(np.mean(right)), "reliability": table}
