"""Report-only calibration of word confidences: right and wrong words, ROC AUC, reliability."""
import math

import numpy as np
import pytest

from aitranscribe.evaluation import confidence as cal


def test_words_are_right_when_the_alignment_pairs_them_with_the_same_word():
    assert cal.word_labels("the cat sat on a mat".split(), "the cat sat on the mat".split()) == \
        [True, True, True, True, False, True]
    assert cal.word_labels("a the cat".split(), "the cat".split()) == [False, True, True]  # an insertion is wrong
    assert cal.word_labels([], "the cat".split()) == []


def test_roc_auc_counts_ordered_pairs_and_half_ties():
    right = np.array([True, True, False, False])
    assert cal.roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), right) == 1.0
    assert cal.roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), right) == 0.0
    assert cal.roc_auc(np.array([0.5, 0.9, 0.5, 0.1]), right) == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert math.isnan(cal.roc_auc(np.array([0.3, 0.4]), np.array([True, True])))


def test_reliability_bins_hold_the_words_by_confidence():
    rows = cal.reliability(np.array([0.05, 0.95, 0.91, 1.0]), np.array([False, True, False, True]), bins=10)
    assert [(r["low"], r["n"]) for r in rows] == [(0.0, 1), (0.9, 3)]
    assert rows[1]["accuracy"] == pytest.approx(2 / 3) and rows[1]["confidence"] == pytest.approx(2.86 / 3)


def test_calibration_of_transcripts_against_references():
    results = [{"words": [{"word": "the", "confidence": 0.9}, {"word": "cat", "confidence": 0.8},
                          {"word": "sad", "confidence": 0.3}]},
               {"words": [{"word": "no", "confidence": 0.1}]},
               {"words": [{"word": "skipped", "confidence": 0.5}]}]
    out = cal.calibration(results, ["the cat sat", "yes", None])
    assert out["n_words"] == 4 and out["word_accuracy"] == 0.5 and out["auc"] == 1.0
    assert out["ece"] == pytest.approx((0.1 + 0.2 + 0.3 + 0.1) / 4)
    assert cal.calibration(results, [None, None, None]) is None
    assert cal.calibration([{"words": [{"word": "the"}]}], ["the"]) is None  # no confidences: nothing to score
