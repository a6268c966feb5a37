"""Report-only error rates by group of utterances: per voice, per engine, voices heard in train or never, and per
acoustic condition, from a corpus's voice metadata (``corpus.json`` of :mod:`aitranscribe.sources.voices`).

None of these figures feeds training, selection or defaults: they say where a model fails, after the fact.
"""
from __future__ import annotations

from ..core.errors import KitError
from ..text import error_rates

CONDITIONS = ("room", "noise", "telephone", "level_db")


def condition_of(utterance: dict) -> str:
    """An utterance's acoustic condition as one word: ``clean``, or its parts joined by ``+`` (``room+noise``...)."""
    parts = [("level" if k == "level_db" else k) for k in CONDITIONS if utterance.get(k)]
    return "+".join(parts) or "clean"


def rates(hyp_phones: list[list[str]], ref_phones: list[list[str]] | None, hyp_words: list[str] | None,
          ref_words: list[str] | None) -> dict:
    """PER and WER of one group (``None`` where the hypotheses or references are missing) and its size."""
    out = {"n_utterances": len(hyp_phones), "per": None, "wer": None}
    if ref_phones is not None:
        out["per"] = error_rates.per(hyp_phones, ref_phones)
    if hyp_words is not None and ref_words is not None:
        out["wer"] = error_rates.wer(hyp_words, ref_words)
    return out


def figures(results: list[dict], items: list[dict], utterances: list[dict], held_out: list[str]) -> dict:
    """Error rates of transcripts ``results`` against ``items``' references (in the same order as ``utterances``,
    the split's entries of ``corpus.json``: ``voice``, ``engine`` and conditions), grouped four ways:
    ``voices``, ``engines``, ``seen`` (``seen``/``unseen``: voices heard in train or held out) and ``conditions``.
    Each group: ``n_utterances``, ``per``, ``wer``."""
    if not len(results) == len(items) == len(utterances):
        raise KitError(f"voice figures: {len(results)} transcripts, {len(items)} utterances and {len(utterances)} "
                       f"metadata entries differ: the corpus's corpus.json does not belong to this split")
    keys = {"voices": lambda u: u["voice"], "engines": lambda u: u["engine"],
            "seen": lambda u: "unseen" if u["voice"] in held_out else "seen", "conditions": condition_of}
    out = {}
    for grouping, key in keys.items():
        members: dict[str, list[int]] = {}
        for i, u in enumerate(utterances):
            members.setdefault(key(u), []).append(i)
        out[grouping] = {name: _group(results, items, idx) for name, idx in sorted(members.items())}
    return out


def _group(results: list[dict], items: list[dict], idx: list[int]) -> dict:
    has_words = all("words" in results[i] for i in idx)
    has_refs = all(items[i]["ref_words"] is not None for i in idx)
    return rates([[ph["phone"] for ph in results[i]["phones"]] for i in idx],
                 [items[i]["ref_phones"] for i in idx] if all(items[i]["ref_phones"] is not None for i in idx) else None,
                 [" ".join(w["word"] for w in results[i]["words"]) for i in idx] if has_words else None,
                 [items[i]["ref_words"] for i in idx] if has_refs else None)


def audio_checks(manifests: dict, utterances: dict) -> list[dict]:
    """Listen-free checks of a corpus's audio, one row per utterance: ``split``, ``voice``, ``engine``,
    ``condition``, ``seconds``, ``seconds_per_word`` and ``rms_dbfs`` (``manifests``: split -> Manifest with
    words; ``utterances``: split -> its ``corpus.json`` entries). Report-only."""
    import numpy as np

    from ..io import audio

    rows = []
    for split, m in manifests.items():
        for i, u in enumerate(utterances[split]):
            x, sr = audio.read(m.audio_path(i))
            rows.append({"split": split, "voice": u["voice"], "engine": u["engine"], "condition": condition_of(u),
                         "seconds": len(x) / sr, "seconds_per_word": len(x) / sr / max(len(m.words[i].split()), 1),
                         "rms_dbfs": 10 * float(np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12))})
    return rows
