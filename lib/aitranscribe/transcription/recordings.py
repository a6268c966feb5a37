"""Recordings of any length (a 50-minute session, a 3-hour lecture) transcribed in bounded memory, with speaker turns.

A recording is read lazily (:class:`~aitranscribe.io.audio.AudioReader`), its speech found block by block
(:meth:`~aitranscribe.features.vad.Detector.stream`), its speakers told apart without labels
and its speech cut into one speaker's utterances at pauses (:mod:`aitranscribe.features.utterances`). Each diarized speaker gets its own speaker normalisation
(fitted on a sample of its utterances) and utterances are prepared and decoded a chunk at a time, so memory holds
one chunk's features, never the recording's. Times stay on the original recording's time line.

Output of :func:`transcribe_recording`: one result per recording, ``name``, ``seconds``, ``n_speakers``,
``turns`` (who spoke when: ``speaker``, ``start``, ``end``), ``phones``/``words`` (each with ``start``, ``end`` and
``speaker``) and ``segments`` (the decoded text of consecutive utterances of one speaker: ``speaker``, ``start``,
``end``, ``text``). Speakers are ``SPEAKER_1``, ``SPEAKER_2``, ... in order of
first appearance.
"""
from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass

import numpy as np

from ..features.extract import TrainedTransform
from ..features.utterances import speaker_utterances
from ..features.vad import Detector
from ..io.audio import TARGET_SR, AudioReader

log = logging.getLogger(__name__)

ADAPT_SECONDS = 300.0  # speech per diarized speaker its normalisation is fitted on (evenly spread utterances)


@dataclass
class Settings:
    """How recordings are cut and diarized: ``pause_s`` (a pause at least this long ends an utterance),
    ``max_utterance_s`` (longer utterances are cut at their longest pause), ``diarize`` (tell speakers apart) and
    ``n_speakers`` (None: estimated)."""

    pause_s: float = 0.5
    max_utterance_s: float = 20.0
    diarize: bool = True
    n_speakers: int | None = None
    chunk_utterances: int = 64


def speaker_label(k: int) -> str:
    """``SPEAKER_<k+1>`` for diarized speaker ``k`` (numbered from 0 in order of first appearance)."""
    return f"SPEAKER_{k + 1}"


def utterances(reader: AudioReader, detect: Detector, settings: Settings) -> list[dict]:
    """The recording's utterances: ``intervals`` (speech, samples) and diarized ``speaker`` (0-based)."""
    return speaker_utterances(reader, detect, settings.pause_s, settings.max_utterance_s, settings.diarize,
                              settings.n_speakers)[0]


def _audio(reader: AudioReader, intervals: list[tuple[int, int]]) -> np.ndarray:
    return np.concatenate([reader[a:b] for a, b in intervals])


def adapt_speakers(transform: TrainedTransform, reader: AudioReader, utts: list[dict], key: str) -> None:
    """Fit each diarized speaker's normalisation (MFCC with speaker normalisation only) on up to
    :data:`ADAPT_SECONDS` of its speech, utterances spread evenly over the recording."""
    norm = transform.extractor.norm
    if norm is None:
        return
    for spk in sorted({u["speaker"] for u in utts}):
        own = [u for u in utts if u["speaker"] == spk]
        lengths = [sum(b - a for a, b in u["intervals"]) / TARGET_SR for u in own]
        keep = max(1, min(len(own), int(len(own) * ADAPT_SECONDS / max(sum(lengths), 1e-9))))
        chosen = [own[i] for i in np.unique(np.linspace(0, len(own) - 1, keep).round().astype(int))]
        norm.adapt(f"{key}:{speaker_label(spk)}", [_audio(reader, u["intervals"]) for u in chosen])


def _items(reader: AudioReader, utts: list[dict], transform: TrainedTransform, model, key: str):
    """Model inputs of each utterance, prepared one at a time."""
    for k, u in enumerate(utts):
        feats, bounds = model.transformed(transform(_audio(reader, u["intervals"]), f"{key}:{speaker_label(u['speaker'])}"))
        a, b = u["intervals"][0][0], u["intervals"][-1][1]
        yield {"name": f"{key}#{k:05d}", "feats": feats, "bounds": bounds, "vads": u["intervals"],
               "seconds": (b - a) / TARGET_SR, "speaker": u["speaker"], "ref_phones": None, "ref_words": None}


def transcribe_recording(reader: AudioReader, key: str, detect: Detector, transform: TrainedTransform, model,
                         decode, settings: Settings) -> dict:
    """One recording's transcript (see the module docstring). ``decode(items) -> results`` transcribes a chunk of
    utterances (e.g. :func:`~aitranscribe.transcription.transcribe.transcribe` with the stage's backend and searches)."""
    utts = utterances(reader, detect, settings)
    adapt_speakers(transform, reader, utts, key)
    results, chunk = [], []
    for item in _items(reader, utts, transform, model, key):
        chunk.append(item)
        if len(chunk) == settings.chunk_utterances:
            results.extend(_tag(decode(chunk), chunk))
            chunk = []
            _release_memory()
    if chunk:
        results.extend(_tag(decode(chunk), chunk))
    turns = [(u["intervals"][0][0] / TARGET_SR, u["intervals"][-1][1] / TARGET_SR, speaker_label(u["speaker"]))
             for u in utts]
    return merge(key, len(reader) / TARGET_SR, results, turns)


def _release_memory() -> None:
    """Hand freed heap memory back to the system (glibc's ``malloc_trim``; nothing elsewhere): without it the
    heap's fragments from one chunk's features and searches piled up over hours of audio."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _tag(results: list[dict], items: list[dict]) -> list[dict]:
    for r, it in zip(results, items):
        r["speaker"] = speaker_label(it["speaker"])
    return results


def merge(name: str, seconds: float, results: list[dict], turns: list[tuple[float, float, str]]) -> dict:
    """Utterance results (each with ``speaker``) joined into one recording's transcript with speaker ``segments``
    (the decoded words of consecutive utterances of one speaker) and speaker ``turns`` (``start``, ``end``,
    ``speaker``: the utterances' speech spans, consecutive ones of one speaker joined)."""
    phones = [{**ph, "speaker": r["speaker"]} for r in results for ph in r["phones"]]
    words = [{**w, "speaker": r["speaker"]} for r in results for w in r.get("words", [])]
    segments: list[dict] = []
    for r in results:
        spoken = r.get("words", r["phones"])
        if not spoken:
            continue
        text = " ".join(w.get("word", w.get("phone")) for w in spoken)
        if segments and segments[-1]["speaker"] == r["speaker"]:
            segments[-1]["end"] = spoken[-1]["end"]
            segments[-1]["text"] += " " + text
        else:
            segments.append({"speaker": r["speaker"], "start": spoken[0]["start"], "end": spoken[-1]["end"],
                             "text": text})
    joined: list[dict] = []
    for a, b, spk in turns:
        if joined and joined[-1]["speaker"] == spk:
            joined[-1]["end"] = round(b, 3)
        else:
            joined.append({"speaker": spk, "start": round(a, 3), "end": round(b, 3)})
    out = {"name": name, "seconds": round(seconds, 3), "n_speakers": len({t[2] for t in turns}),
           "n_utterances": len(results), "turns": joined, "phones": phones, "segments": segments}
    if results and "words" in results[0]:
        out["words"] = words
    return out
