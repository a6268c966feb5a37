"""Long recordings (sessions, lectures, meetings) cut into utterances at pauses, each with its diarized speaker.

Input: a 16 kHz mono FLAC of one recording (any length; read lazily, block by block). Output: one FLAC per
utterance, ``<out_dir>/<NNNN>.flac``, and a description of each (its file, length, span in the recording and
speaker). Memory is bounded by the longest utterance and the VAD block, never by the recording's length.

Method: :func:`~aitranscribe.features.utterances.speaker_utterances` (speech found block by block, split at
diarized changes of speaker, grouped at pauses of at least :data:`PAUSE_S` and cut to at most ``max_s``); an
utterance is the audio from its first interval's start to
its last interval's end, widened by up to :data:`PAD_S` on each side (never past half the pause to a neighbour) so
that stage 02's own VAD sees the onsets. Utterances with less than :data:`MIN_SPEECH_S` of speech (clicks, breaths)
are left out.
"""
from __future__ import annotations

import logging
from pathlib import Path


from ..core.errors import BadInputError
from ..features.utterances import speaker_utterances
from ..features.vad import Detector
from ..io import audio

log = logging.getLogger(__name__)

PAUSE_S = 0.5  # a pause at least this long ends an utterance
PAD_S = 0.1  # silence kept around an utterance's speech
MIN_SPEECH_S = 0.3  # utterances with less speech are left out


def _padded(spans: list[list[tuple[int, int]]], n: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each utterance, widened by PAD_S but never past half the pause to a neighbour."""
    pad = int(PAD_S * audio.TARGET_SR)
    bounds = [(g[0][0], g[-1][1]) for g in spans]
    out = []
    for i, (a, b) in enumerate(bounds):
        before = (a - bounds[i - 1][1]) // 2 if i else a
        after = (bounds[i + 1][0] - b) // 2 if i + 1 < len(bounds) else n - b
        out.append((int(a - min(pad, max(before, 0))), int(b + min(pad, max(after, 0)))))
    return out


def cut(path: Path, out_dir: Path, max_s: float, n_speakers: int | None, vad_settings: dict,
        seed: int = 0) -> dict:
    """Cut the 16 kHz mono recording ``path`` into ``out_dir/NNNN.flac``.

    ``max_s``: longest utterance (s); ``n_speakers``: known number of speakers or None to estimate it;
    ``vad_settings``: :class:`~aitranscribe.features.vad.Detector` settings. Returns ``{"utterances": [{"file",
    "frames", "start", "end", "speaker"}], "n_speakers", "speech_seconds", "diarization"}`` (samples of the
    recording; ``diarization`` says why one speaker was assumed when it could not run). Raises BadInputError naming
    the file when the VAD finds no speech at all.
    """
    reader = audio.AudioReader(path)
    found, note = speaker_utterances(reader, Detector(vad_settings), PAUSE_S, max_s, True, n_speakers, seed)
    found = [u for u in found if sum(b - a for a, b in u["intervals"]) >= MIN_SPEECH_S * audio.TARGET_SR]
    if not found:
        raise BadInputError(path, f"no speech found by the VAD (no utterance with at least {MIN_SPEECH_S} s of "
                                  f"speech)")
    spans = [u["intervals"] for u in found]
    speakers = [u["speaker"] for u in found]
    out_dir.mkdir(parents=True, exist_ok=True)
    utterances = []
    for i, ((a, b), group, spk) in enumerate(zip(_padded(spans, len(reader)), spans, speakers)):
        name = f"{i:04d}.flac"
        audio.write(out_dir / name, reader[a:b])
        utterances.append({"file": name, "frames": b - a, "start": a, "end": b, "speaker": int(spk),
                           "speech": int(sum(e - s for s, e in group))})
    n_found = len(set(speakers))
    log.info("%s: %.0f s cut into %d utterances, %d speaker(s)", path.name, len(reader) / audio.TARGET_SR,
             len(utterances), n_found)
    return {"utterances": utterances, "n_speakers": n_found, "diarization": note,
            "speech_seconds": sum(u["speech"] for u in utterances) / audio.TARGET_SR}
