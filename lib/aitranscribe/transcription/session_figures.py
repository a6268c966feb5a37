"""The shape of a session: who spoke how much, in how many turns, how fast, with which pauses.

Input: a recording's speech as pieces ``(start_s, end_s, speaker)`` (e.g. its VAD intervals, each tagged with the
diarized speaker), its words (``start``, ``speaker``) and its duration. Pieces of one speaker separated by less than
``pause_s`` of silence form a *stretch* (uninterrupted talk); a speaker's *turn* runs from the first to the last of
its consecutive stretches until another speaker talks; a *pause* is a silence of at least ``pause_s`` between two
stretches (within a speaker's turn for the speaker's own figures; anywhere for the recording's).

Output of :func:`figures` (all seconds rounded to 0.01 s): ``recording`` (``seconds``, ``talk_s``, ``talk_share``:
talk over the duration, ``turns``, ``switches``, ``words``, ``words_per_minute``, ``pauses``, ``pause_total_s``,
``longest_pause_s``, ``overlaps``, ``overlap_s``) and ``speakers`` (per label: ``talk_s``, ``talk_share``: of all
talk, ``turns``, ``mean_turn_s``, ``longest_turn_s``, ``longest_stretch_s``, ``words``, ``words_per_minute``,
``pauses``, ``pause_total_s``, ``longest_pause_s``, ``overlaps``, ``overlap_s``). Psychotherapy process research
uses the same figures (therapist/client talk-time proportions, turn-taking, speech rate, pauses).
"""
from __future__ import annotations

import csv
import io

Piece = tuple[float, float, str]

COLUMNS = ("recording", "speaker", "name", "seconds", "talk_s", "talk_share", "turns", "mean_turn_s",
           "longest_turn_s", "longest_stretch_s", "words", "words_per_minute", "pauses", "pause_total_s",
           "longest_pause_s", "overlaps", "overlap_s")


def stretches(pieces: list[Piece], pause_s: float) -> list[Piece]:
    """Pieces in time order, a speaker's consecutive pieces joined across silences shorter than ``pause_s``."""
    out: list[list] = []
    for a, b, spk in sorted(pieces):
        if b < a:
            raise ValueError(f"a speech piece ends before it starts: ({a}, {b}, {spk})")
        if out and out[-1][2] == spk and a - out[-1][1] < pause_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b, spk])
    return [tuple(s) for s in out]


def turns(runs: list[Piece]) -> list[list[Piece]]:
    """Stretches grouped into turns: consecutive stretches of one speaker."""
    out: list[list[Piece]] = []
    for s in runs:
        if out and out[-1][-1][2] == s[2]:
            out[-1].append(s)
        else:
            out.append([s])
    return out


def _overlaps(runs: list[Piece]) -> list[tuple[float, str, str]]:
    """``(seconds, speaker, other)`` of every overlap between stretches of two different speakers."""
    out = []
    for i, (a, b, spk) in enumerate(runs):
        for c, d, other in runs[i + 1:]:
            if c >= b:
                break
            if other != spk and min(b, d) > c:
                out.append((min(b, d) - c, spk, other))
    return out


def _gaps(runs: list[Piece], pause_s: float) -> list[float]:
    return [b[0] - a[1] for a, b in zip(runs, runs[1:]) if b[0] - a[1] >= pause_s]


def _pause_figures(gaps: list[float]) -> dict:
    return {"pauses": len(gaps), "pause_total_s": round(sum(gaps), 2), "longest_pause_s": round(max(gaps, default=0.0), 2)}


def _rate(words: int, seconds: float) -> float | None:
    return round(60.0 * words / seconds, 1) if seconds > 0 else None


def figures(pieces: list[Piece], words: list[dict], seconds: float, pause_s: float = 0.5) -> dict:
    """The recording's and each speaker's figures (see the module docstring)."""
    runs = stretches(pieces, pause_s)
    grouped = turns(runs)
    overlaps = _overlaps(runs)
    talk = {spk: 0.0 for _, _, spk in runs}
    for a, b, spk in runs:
        talk[spk] += b - a
    all_talk = sum(talk.values())
    speakers = {}
    for spk in talk:  # in order of first appearance
        own = [t for t in grouped if t[0][2] == spk]
        lengths = [t[-1][1] - t[0][0] for t in own]
        n_words = sum(1 for w in words if w.get("speaker") == spk)
        mine = [o for o in overlaps if spk in o[1:]]
        speakers[spk] = {
            "talk_s": round(talk[spk], 2), "talk_share": round(talk[spk] / all_talk, 4) if all_talk else None,
            "turns": len(own), "mean_turn_s": round(sum(lengths) / len(lengths), 2),
            "longest_turn_s": round(max(lengths), 2),
            "longest_stretch_s": round(max(b - a for a, b, s in runs if s == spk), 2),
            "words": n_words, "words_per_minute": _rate(n_words, talk[spk]),
            **_pause_figures([g for t in own for g in _gaps(t, pause_s)]),
            "overlaps": len(mine), "overlap_s": round(sum(o[0] for o in mine), 2)}
    covered = sum(b - a for a, b, _ in stretches([(a, b, "") for a, b, _ in runs], 0.0))
    recording = {"seconds": round(seconds, 2), "talk_s": round(covered, 2),
                 "talk_share": round(covered / seconds, 4) if seconds > 0 else None,
                 "turns": len(grouped), "switches": max(0, len(grouped) - 1), "words": len(words),
                 "words_per_minute": _rate(len(words), covered),
                 **_pause_figures(_gaps(stretches([(a, b, "") for a, b, _ in runs], 0.0), pause_s)),
                 "overlaps": len(overlaps), "overlap_s": round(sum(o[0] for o in overlaps), 2)}
    return {"pause_s": pause_s, "recording": recording, "speakers": speakers}


def rows(results: list[dict], names: dict[str, str] | None = None) -> list[dict]:
    """One row per recording (``speaker`` empty: the recording's figures) and per speaker of each result with
    ``session`` figures; ``names``: display names of speaker labels (the label itself when absent)."""
    names = names or {}
    out = []
    for r in results:
        session = r.get("session")
        if session is None:
            continue
        rec = session["recording"]
        out.append({**{c: "" for c in COLUMNS}, **{k: v for k, v in rec.items() if k in COLUMNS},
                    "recording": r["name"], "mean_turn_s": "", "longest_turn_s": "", "longest_stretch_s": ""})
        for spk, values in session["speakers"].items():
            out.append({**{c: "" for c in COLUMNS}, **{k: v for k, v in values.items() if k in COLUMNS},
                        "recording": r["name"], "speaker": spk, "name": names.get(spk, spk),
                        "seconds": rec["seconds"]})
    return out


def csv_text(results: list[dict], names: dict[str, str] | None = None) -> str:
    """:func:`rows` as CSV text with the header :data:`COLUMNS` (empty cells where a figure does not apply)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows(results, names):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()
