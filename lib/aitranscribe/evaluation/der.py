"""Diarization error rate (DER) in the NIST sense, over time.

The time line is cut at every reference, hypothesis and collar boundary. On each piece of duration ``d`` with
``R`` reference speakers and ``H`` hypothesis speakers active, of which ``C`` hypothesis speakers map to an
active reference speaker:

* missed speech       ``max(0, R - H) * d``
* false alarm         ``max(0, H - R) * d``
* speaker confusion   ``(min(R, H) - C) * d``
* scored speech       ``R * d``

DER = (missed + false alarm + confusion) / scored speech. The mapping of hypothesis to reference speakers is the
one-to-one mapping with the largest total overlap (Hungarian algorithm on the overlap durations over the scored
time); unmapped hypothesis speakers are always confusions. Pieces within ``collar`` seconds either side of any
reference segment boundary (start or end; a speaker's overlapping or touching segments are joined first) are
not scored at all. Overlapping speech (several reference speakers at once) is allowed and counted per speaker,
as md-eval does. Checked against pyannote.metrics' DiarizationErrorRate (whose ``collar`` is the total width,
twice this one) on 300 random cases with overlaps and collars: equal to 1e-15.
"""
from __future__ import annotations

import collections

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..core.errors import KitError

Segment = tuple[float, float, str]


def _check(segments: list[Segment], what: str) -> None:
    """KitError naming the first segment that is not ``(start, end, speaker)`` with ``end >= start``."""
    for seg in segments:
        if len(seg) != 3 or not seg[1] >= seg[0]:
            raise KitError(f"DER: {what} segment {seg!r} is not (start, end, speaker) with end >= start")


def _merged(segments: list[Segment]) -> list[Segment]:
    """Each speaker's overlapping or touching segments joined: a speaker's speech is a set of times."""
    out: list[Segment] = []
    for a, b, spk in sorted(segments, key=lambda seg: (str(seg[2]), seg[0], seg[1])):
        if out and out[-1][2] == spk and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]), spk)
        else:
            out.append((a, b, spk))
    return out


def _pieces(reference: list[Segment], hypothesis: list[Segment], collar: float) -> list[tuple[float, set, set]]:
    """Scored pieces of the time line: (duration, active reference speakers, active hypothesis speakers)."""
    events = collections.defaultdict(list)  # time -> [(kind, speaker, +1/-1)]
    for kind, segments in (("ref", reference), ("hyp", hypothesis)):
        for a, b, spk in segments:
            if b > a:
                events[a].append((kind, spk, 1))
                events[b].append((kind, spk, -1))
    if collar > 0:
        for a, b, _ in reference:
            for t in ((a, b) if b > a else ()):
                events[t - collar].append(("collar", None, 1))
                events[t + collar].append(("collar", None, -1))
    active = {"ref": collections.Counter(), "hyp": collections.Counter()}
    in_collar = 0
    pieces = []
    times = sorted(events)
    for t, t_next in zip(times, times[1:] + [None]):
        for kind, spk, step in events[t]:
            if kind == "collar":
                in_collar += step
            else:
                active[kind][spk] += step
        if t_next is None or in_collar > 0:
            continue
        ref = {s for s, n in active["ref"].items() if n > 0}
        hyp = {s for s, n in active["hyp"].items() if n > 0}
        if ref or hyp:
            pieces.append((t_next - t, ref, hyp))
    return pieces


def der(reference: list[tuple[float, float, str]], hypothesis: list[tuple[float, float, str]],
        collar: float = 0.25) -> dict:
    """Diarization error rate of ``hypothesis`` against ``reference`` (both ``(start_s, end_s, speaker)``).

    ``collar``: seconds either side of every reference boundary left out of scoring. Returns ``der`` (a fraction;
    NaN when nothing is scored), ``missed``, ``false_alarm``, ``confusion`` and ``scored_seconds`` (seconds of
    reference speech scored, counted once per speaker), and ``mapping`` (hypothesis -> reference speaker).
    """
    if collar < 0:
        raise KitError(f"DER: the collar must be >= 0 seconds, not {collar}")
    _check(reference, "reference")
    _check(hypothesis, "hypothesis")
    reference, hypothesis = _merged(reference), _merged(hypothesis)
    pieces = _pieces(reference, hypothesis, collar)
    refs = sorted({s for _, _, s in reference}, key=str)
    hyps = sorted({s for _, _, s in hypothesis}, key=str)
    overlap = np.zeros((len(hyps), len(refs)))
    ri, hi = {s: i for i, s in enumerate(refs)}, {s: i for i, s in enumerate(hyps)}
    for d, r, h in pieces:
        for hs in h:
            for rs in r:
                overlap[hi[hs], ri[rs]] += d
    rows, cols = linear_sum_assignment(overlap, maximize=True) if overlap.size else ([], [])
    mapping = {hyps[i]: refs[j] for i, j in zip(rows, cols) if overlap[i, j] > 0}
    missed = false_alarm = confusion = scored = 0.0
    for d, r, h in pieces:
        n_ref, n_hyp = len(r), len(h)
        correct = len(r & {mapping[s] for s in h if s in mapping})
        missed += max(0, n_ref - n_hyp) * d
        false_alarm += max(0, n_hyp - n_ref) * d
        confusion += (min(n_ref, n_hyp) - correct) * d
        scored += n_ref * d
    errors = missed + false_alarm + confusion
    return {"der": float(errors / scored) if scored > 0 else float("nan"), "missed": float(missed),
            "false_alarm": float(false_alarm), "confusion": float(confusion), "scored_seconds": float(scored),
            "mapping": mapping}
