"""Error rates and alignments of transcripts: PER over phone lists (editdistance), WER over word strings (jiwer)."""
from __future__ import annotations

import collections

import editdistance
import jiwer


def per(hypotheses: list[list[str]], references: list[list[str]]) -> float:
    """Corpus phone error rate: summed edit distances over summed reference lengths."""
    errors = sum(editdistance.eval(h, r) for h, r in zip(hypotheses, references))
    return errors / max(1, sum(len(r) for r in references))


def wer(hypotheses: list[str], references: list[str]) -> float:
    """Corpus word error rate (jiwer) of word strings; empty references are left out."""
    pairs = [(h, r) for h, r in zip(hypotheses, references) if r.strip()]
    if not pairs:
        return float("nan")
    return jiwer.wer([r for _, r in pairs], [h for h, _ in pairs])


def align(ref: list[str], hyp: list[str]) -> list[tuple[str | None, str | None]]:
    """Levenshtein alignment as (reference, hypothesis) pairs; None marks an insertion or a deletion."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(cost[i - 1][j] + 1, cost[i][j - 1] + 1, cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
    pairs, i, j = [], n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            pairs.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            pairs.append((ref[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hyp[j - 1]))
            j -= 1
    return pairs[::-1]


def confusions(hypotheses: list[list[str]], references: list[list[str]], top: int = 15) -> list[tuple[str, str, int]]:
    """The most frequent errors as (reference phone or '-', hypothesis phone or '-', count)."""
    counts = collections.Counter()
    for h, r in zip(hypotheses, references):
        for a, b in align(r, h):
            if a != b:
                counts[(a or "-", b or "-")] += 1
    return [(a, b, c) for (a, b), c in counts.most_common(top)]
