"""Times of decoded phones and words on the original recording's time line, and subtitles.

A segment covers steps ``[first, last]`` (frames, or pooled segments whose frame bounds are known); a frame ``f``
starts at ``f * shift`` and ends at ``f * shift + window`` samples of the silence-removed audio; times are then
mapped back through the VAD intervals to the original recording.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..features.vad import to_original_seconds


@dataclass
class Timing:
    """How to turn segment indices into seconds on the original recording."""

    bounds: np.ndarray  # (segments, 2) first and one-past-last frame of each pooled segment
    shift_s: float
    window_s: float
    vad_intervals: list  # speech intervals (samples) of the original recording

    def seconds(self, first_segment: int, last_segment: int) -> tuple[float, float]:
        """Start and end time (s) of segments ``first..last`` (inclusive) on the original time line."""
        start = self.bounds[first_segment, 0] * self.shift_s
        end = (self.bounds[last_segment, 1] - 1) * self.shift_s + self.window_s
        mapped = to_original_seconds(np.array([start, end]), self.vad_intervals)
        return round(float(mapped[0]), 3), round(float(mapped[1]), 3)


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(words: list[dict], max_words: int) -> list[list[dict]]:
    """Consecutive words in cues of at most ``max_words``, a new cue wherever the ``speaker`` changes."""
    cues: list[list[dict]] = []
    for w in words:
        if cues and len(cues[-1]) < max_words and cues[-1][-1].get("speaker") == w.get("speaker"):
            cues[-1].append(w)
        else:
            cues.append([w])
    return cues


def subtitles(words: list[dict], fmt: str, max_words: int = 8) -> str:
    """SRT or WebVTT cues of at most ``max_words`` timed words each; words with a ``speaker`` start a new cue when
    it changes and the cue text is tagged ``SPEAKER_n: ...``."""
    sep = "," if fmt == "srt" else "."
    lines = [] if fmt == "srt" else ["WEBVTT", ""]
    for n, chunk in enumerate(_cues(words, max_words), 1):
        if fmt == "srt":
            lines.append(str(n))
        lines.append(f"{_clock(chunk[0]['start'], sep)} --> {_clock(chunk[-1]['end'], sep)}")
        tag = f"{chunk[0]['speaker']}: " if chunk[0].get("speaker") else ""
        lines.append(tag + " ".join(w["word"] for w in chunk))
        lines.append("")
    return "\n".join(lines)


def speaker_text(segments: list[dict]) -> str:
    """Plain text of a recording's speaker segments, one ``SPEAKER_n: words`` line per turn."""
    return "".join(f"{seg['speaker']}: {seg['text']}\n" for seg in segments)


def subtitle_path(directory: Path, name: str, fmt: str) -> Path:
    """``directory/<name>.<fmt>`` with path separators in ``name`` replaced."""
    return Path(directory) / f"{name.replace('/', '__')}.{fmt}"
