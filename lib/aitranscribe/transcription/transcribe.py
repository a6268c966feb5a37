"""Transcription: what a model transcribes (the items of a prepared split or of a folder of new recordings), the
network run by a backend, phones and words with times, and error rates against references.

An item is one utterance: ``name``, the model's input ``feats`` (steps x D) and each step's frame ``bounds``, the
``vads`` speech intervals of the original recording, its duration ``seconds`` and, when known, ``ref_phones`` and
``ref_words``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..core.files import atomic_write_json, atomic_write_text
from ..text import error_rates
from ..io import audio, manifest
from ..models.base import AcousticModel
from ..models.batching import pad
from ..text.phones import read_references
from ..decoding.phones import path_phones
from ..decoding.timing import Timing, speaker_text, subtitle_path, subtitles

log = logging.getLogger(__name__)


def split_items(model: AcousticModel, split: str, records: dict) -> list[dict]:
    """The items of a prepared split (``records``: the stage records ``audio_prep``, ``features`` and ``text``)."""
    feats, bounds = model.inputs(records["features"], split)
    vads = manifest.read_vads(Path(records["audio_prep"]["dir"]) / f"{split}.vads")
    original = manifest.read(Path(records["audio_prep"]["data_dir"]) / "manifests", split, check_files=False)
    refs = read_references(records["text"]["references"], split)
    return [{"name": Path(original.paths[i]).stem, "feats": feats[i], "bounds": bounds[i], "vads": vads[i],
             "seconds": original.n_samples[i] / audio.TARGET_SR, "ref_phones": refs[i] if refs else None,
             "ref_words": original.words[i] if original.words else None} for i in range(len(feats))]


def batches(items: list[dict], size: int):
    """``(items, (x, padding))`` for consecutive batches of ``size`` items."""
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        yield chunk, pad([np.ascontiguousarray(it["feats"]) for it in chunk])


def transcribe(items: list[dict], runner, model: AcousticModel, word_decoder, timing: tuple[float, float],
               batch_size: int, phone_decoder=None) -> list[dict]:
    """Phones (and words) with times for every item, the network run by the backend ``runner``.

    ``timing``: frame shift and window in seconds (stage 03's). Phones come from the model's own decoding, or from
    ``phone_decoder`` (e.g. :class:`.GraphPhones`) over every step's scores. ``word_decoder`` reads the model's
    segments (``reads = "segments"``) or every step's scores (``"steps"``). Each result: ``name``, ``seconds``,
    ``phones`` (``phone``, ``start``, ``end``) and, with a word decoder, ``words`` (``word``, ``start``, ``end``)."""
    shift, window = timing
    reads = {"segments" if phone_decoder is None else "steps", getattr(word_decoder, "reads", None)}
    out = []
    for chunk, (x, padding) in batches(items, batch_size):
        logits = runner(x, padding)
        segments = model.decode(logits, padding) if "segments" in reads else [None] * len(chunk)
        steps = model.step_scores(logits, padding) if "steps" in reads else [None] * len(chunk)
        for item, segment, step in zip(chunk, segments, steps):
            t = Timing(item["bounds"], shift, window, item["vads"])
            entry = {"name": item["name"], "seconds": round(item["seconds"], 3),
                     "phones": (path_phones(segment[1], segment[2], model.symbols, t) if phone_decoder is None
                                else phone_decoder(step, t))}
            if word_decoder is not None:
                entry["words"] = (word_decoder(step, t) if word_decoder.reads == "steps"
                                  else word_decoder(segment[0], segment[2], t))
            out.append(entry)
    return out


def score(results: list[dict], items: list[dict]) -> dict:
    """PER and WER against the references the items have (NaN when they have none)."""
    out = {"per": float("nan"), "wer": float("nan")}
    if all(it["ref_phones"] is not None for it in items):
        out["per"] = error_rates.per([[p["phone"] for p in r["phones"]] for r in results], [it["ref_phones"] for it in items])
    if all(it["ref_words"] is not None for it in items) and all("words" in r for r in results):
        out["wer"] = error_rates.wer([" ".join(w["word"] for w in r["words"]) for r in results],
                                 [it["ref_words"] for it in items])
    return out


def write_outputs(out_dir: Path, results: list[dict]) -> None:
    """``transcripts.json``, ``phones.txt``, ``words.txt`` and SRT/WebVTT subtitles per recording, atomically;
    for results with speaker ``segments`` also ``text/<name>.txt`` (one ``SPEAKER_n: words`` line per turn)."""
    atomic_write_json(out_dir / "transcripts.json", results)
    atomic_write_text(out_dir / "phones.txt",
                      "".join(f"{r['name']}\t{' '.join(ph['phone'] for ph in r['phones'])}\n" for r in results))
    if results and "words" in results[0]:
        atomic_write_text(out_dir / "words.txt",
                          "".join(f"{r['name']}\t{' '.join(w['word'] for w in r['words'])}\n" for r in results))
        for r in results:
            for fmt in ("srt", "vtt"):
                atomic_write_text(subtitle_path(out_dir / "subtitles", r["name"], fmt), subtitles(r["words"], fmt))
    for r in results:
        if "segments" in r:
            atomic_write_text(subtitle_path(out_dir / "text", r["name"], "txt"), speaker_text(r["segments"]))
