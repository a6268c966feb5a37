"""Stage 06, inference: phones and words with timestamps on a prepared split or a folder of new recordings.

Inputs: the selected model (05), the train-fitted features pipeline (03: speaker normalisation, k-means, PCA,
pooling; never refitted), VAD settings (02), lexicon and word LM (04). A folder of new recordings goes through the
same preparation: 16 kHz mono conversion, rVAD silence removal, features, units, PCA, merging and pooling.
Outputs in ``<data_root>/<profile>/06_inference/<input>-<backend>-<hash>/``: ``transcripts.json`` (phones and
words with start/end seconds on the original recordings), ``phones.txt``, ``words.txt``,
``subtitles/<utterance>.srt`` and ``.vtt``, and ``summary.json`` (PER/WER against references when the input has
them, per backend, and the real-time factor).
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from .. import backends, models
from ..core import registry, stage
from ..core.errors import KitError
from ..core.files import read_json
from ..core.params import Param
from ..decoding import transcribe as tr
from ..decoding import tuning
from ..decoding.phones import GraphPhones
from ..decoding.words import GraphWords
from ..evaluation import peer, scoring
from ..io import audio, manifest
from ..text.phones import SIL

log = logging.getLogger(__name__)

KEY = "inference"
NOTEBOOK = registry.info(KEY).notebook

PARAMS = {
    "backend": Param("eager", str, "backend of the acoustic model", backends.BACKENDS),
    "split": Param("test", str, "prepared split to transcribe when no folder is given", ("train", "valid", "test")),
    "folder": Param("", str, "a folder of new recordings to transcribe instead of a split"),
    "words": Param(True, bool, "decode words with the lexicon + word LM graph as well as phones"),
    "phone_search": Param("graph", str, "phones from the phone n-gram graph, or from the model's own decoding",
                          ("graph", "model")),
    "acoustic_scale": Param(0.3, float, "word graph: weight of the acoustic scores against the LM (smaller: more LM)"),
    "tune_acoustic_scales": Param([], list, "acoustic scales tried on valid, chosen by log word-LM ppl x UER, no labels"),
    "phone_scale": Param(1.0, float, "phone graph: weight of the acoustic scores against the phone LM"),
    "graph_beam": Param(14.0, float, "beam of the graph searches"),
    "references": Param(True, bool, "report-only, on a split with references: the reference phones through the word "
                                    "graph, the supervised reference model, and the pocketsphinx peer"),
    "batch_size": Param(32, int, "utterances per acoustic-model call"),
    "per_tolerance": Param(0.01, float, "largest PER difference to eager accepted for another backend"),
    "int8_per_tolerance": Param(0.02, float, "the same for int8, whose rounding flips near-tied argmaxes"),
}


def _timing(records: dict) -> tuple[float, float]:
    return records["features"]["frame_shift_s"], records["features"]["frame_window_s"]


STAGE = stage.StageDef(KEY, needs=("train", "features", "audio_prep", "text"), name=lambda p: (
    f"folder-{Path(p['folder']).name}-{p['backend']}" if p["folder"] else f"{p['split']}-{p['backend']}"))


def output_dir(p: dict) -> Path:
    """``<data_root>/<profile>/06_inference/<split or folder-<name>>-<backend>-<hash>``."""
    return STAGE.locate(p)[0]


def run(p: dict) -> dict:
    """Transcribe; skipped when already done for the same parameters and inputs."""
    return STAGE.run(p, _compute, lambda p, r, out_dir, s: {"backend": p["backend"]})


def _decoders(p: dict, model, text_record: dict, scale: float):
    """The word and phone searches of ``p`` for ``model`` (None where the model's own decoding is used)."""
    words = GraphWords(text_record["word_graph"], model.stay, scale, p["graph_beam"]) if p["words"] else None
    phones = (GraphPhones(text_record["phone_graph"], model.stay, p["phone_scale"], p["graph_beam"])
              if p["phone_search"] == "graph" else None)
    return words, phones


def _tune_scale(p: dict, model, records: dict) -> tuple[float, list]:
    """The word graph's acoustic scale with the lowest label-free score on valid (:mod:`...decoding.tuning`)."""
    items = tr.split_items(model, "valid", records)
    text_record = records["text"]
    _, phones = _decoders({**p, "words": False}, model, text_record, p["acoustic_scale"])
    own = tr.transcribe(items, backends.make("eager", model.net), model, None, _timing(records), p["batch_size"],
                        phones)
    scores = model.utterance_scores([it["feats"] for it in items], p["batch_size"])
    return tuning.choose_scale(text_record["word_graph"], scores, [[ph["phone"] for ph in r["phones"]] for r in own],
                               model.stay, p["tune_acoustic_scales"], text_record["word_lm"])


def _compute(p: dict, records: dict, out_dir: Path) -> dict:
    model = models.load(records["train"]["checkpoint"])
    start = time.time()
    bad = []
    if p["folder"]:
        items, bad = tr.folder_items(model, p["folder"], out_dir, records)
    else:
        items = tr.split_items(model, p["split"], records)
    prep_seconds = time.time() - start
    scale, tuning_table = p["acoustic_scale"], []
    if p["words"] and p["tune_acoustic_scales"]:
        scale, tuning_table = _tune_scale(p, model, records)
    word_decoder, phone_decoder = _decoders(p, model, records["text"], scale)
    calibration = [b for _, b in tr.batches(items[: 4 * p["batch_size"]], p["batch_size"])]
    runner = backends.make(p["backend"], model.net, calibration)
    runner(*calibration[0])  # warm-up (torch.compile compiles here); not part of the timed step
    t0 = time.time()
    results = tr.transcribe(items, runner, model, word_decoder, _timing(records), p["batch_size"], phone_decoder)
    step_seconds = time.time() - t0 + prep_seconds
    scores = {p["backend"]: tr.score(results, items)}
    if p["backend"] != "eager":
        eager_results = tr.transcribe(items, backends.make("eager", model.net), model, None, _timing(records),
                                      p["batch_size"], phone_decoder)
        scores["eager"] = tr.score(eager_results, items)
    audio_seconds = sum(it["seconds"] for it in items)
    tr.write_outputs(out_dir, results)
    summary = {"backend": p["backend"], "n_utterances": len(items), "audio_seconds": audio_seconds,
               "seconds": round(step_seconds, 3), "realtime_factor": step_seconds / max(audio_seconds, 1e-9),
               "scores": scores, "acoustic_scale": scale, "acoustic_scale_tuning": tuning_table, "bad_files": bad,
               "torch": torch.__version__}
    if p["references"] and not p["folder"] and all(it["ref_words"] is not None for it in items):
        summary["references"] = _references(p, model, records, items, scale)
    return summary


def _references(p: dict, model, records: dict, items: list[dict], scale: float) -> dict:
    """Report-only reference points on the same split: the reference phones themselves through the word graph (the
    decoder's ceiling), the supervised reference model through the same searches (chosen the same way, without
    labels), and the pocketsphinx peer on the same recordings."""
    text_record = records["text"]
    out = {"wer_reference_phones": reference_phones_wer(text_record["word_graph"], model.symbols, items)}
    diagnostics = Path(records["train"]["dir"]) / "diagnostics.json"
    reference = read_json(diagnostics).get("supervised_reference") if diagnostics.is_file() else None
    if reference is not None:
        supervised = models.load(reference["checkpoint"])
        sup_scale = _tune_scale(p, supervised, records)[0] if p["tune_acoustic_scales"] else scale
        words, phones = _decoders(p, supervised, text_record, sup_scale)
        results = tr.transcribe(items, backends.make("eager", supervised.net), supervised, words, _timing(records),
                                p["batch_size"], phones)
        out["supervised_reference"] = {**tr.score(results, items), "acoustic_scale": sup_scale}
    original = manifest.read(Path(records["audio_prep"]["data_dir"]) / "manifests", p["split"])
    audio_16k = [audio.read(original.audio_path(i))[0] for i in range(len(original))]
    out["pocketsphinx"] = peer.evaluate(audio_16k, [it["ref_words"] for it in items], [it["ref_phones"] for it in items])
    out["pocketsphinx"].pop("hypotheses")
    return out


def reference_phones_wer(word_graph, symbols: list[str], items: list[dict], frames: int = 3, sure: float = 0.9) -> float:
    """WER of the reference phones themselves through the word graph (report-only): each phone lasts ``frames``
    steps with probability ``sure``, ``<SIL>`` at both ends. What the lexicon and the LM cap the words at."""
    other = math.log((1 - sure) / (len(symbols) - 1))
    index = {s: i for i, s in enumerate(symbols)}
    decoder = GraphWords(word_graph, stay=0.6, acoustic_scale=1.0)
    hyps = []
    for it in items:
        seq = [index[SIL], *[index[ph] for ph in it["ref_phones"] if ph in index], index[SIL]]
        scores = np.full((len(seq) * frames, len(symbols)), other, np.float32)
        scores[np.arange(len(seq) * frames), np.repeat(seq, frames)] = math.log(sure)
        hyps.append(" ".join(w["word"] for w in decoder(scores, None)))
    return scoring.wer(hyps, [it["ref_words"] for it in items])


def check_backend_agreement(summary: dict, tolerance: float, int8_tolerance: float) -> dict:
    """PER of the backend and of eager, asserted equal within ``tolerance`` (``int8_tolerance`` for int8)."""
    scores = summary["scores"]
    backend = summary["backend"]
    if "eager" in scores and not math.isnan(scores[backend]["per"]):
        diff = abs(scores[backend]["per"] - scores["eager"]["per"])
        tolerance = int8_tolerance if backend == "int8" else tolerance
        if diff > tolerance:
            raise KitError(f"backend {backend} changes the PER by {diff:.4f} (> {tolerance}) against eager: "
                           f"{scores[backend]['per']:.4f} vs {scores['eager']['per']:.4f}")
    return {name: round(s["per"], 4) for name, s in scores.items()}


def comparison(summary: dict):
    """Report-only table: PER, WER and speed of the kit's model beside its reference points on the same split."""
    import pandas as pd

    s = summary["scores"][summary["backend"]]
    rows = {"this kit, no labels (selected model)": {"PER": s["per"], "WER": s["wer"],
                                                     "x real time": 1 / summary["realtime_factor"]}}
    refs = summary.get("references") or {}
    if "supervised_reference" in refs:
        sup = refs["supervised_reference"]
        rows["same model, supervised (labels, report-only)"] = {"PER": sup["per"], "WER": sup["wer"]}
    if refs:
        rows["reference phones through the same word search"] = {"WER": refs["wer_reference_phones"]}
        ps = refs["pocketsphinx"]
        rows["pocketsphinx en-us (supervised, real speech; PER in ARPAbet)"] = {
            "PER": ps.get("per_arpabet"), "WER": ps.get("wer"), "x real time": ps["x_realtime_words"]}
    return (pd.DataFrame(rows).T * pd.Series({"PER": 100, "WER": 100, "x real time": 1})).round(1)


def examples(record: dict, n: int = 3) -> list[dict]:
    """The first ``n`` transcripts with their timed words (per-utterance: tag the cell ``phi``)."""
    results = read_json(Path(record["dir"]) / "transcripts.json")
    return [{"name": r["name"], "phones": " ".join(ph["phone"] for ph in r["phones"]),
             "words": [(w["word"], w["start"], w["end"]) for w in r.get("words", [])]} for r in results[:n]]


def metrics(summary: dict) -> dict:
    """per, wer, backend, realtime_factor, n_utterances, per_<backend>, acoustic_scale; with references (report-only):
    wer_reference_phones, per/wer_supervised_reference, per/wer_pocketsphinx and pocketsphinx_x_realtime."""
    s = summary["scores"][summary["backend"]]
    out = {"per": _round(s["per"]), "wer": _round(s["wer"]), "backend": summary["backend"],
           "realtime_factor": round(summary["realtime_factor"], 5), "n_utterances": summary["n_utterances"],
           "acoustic_scale": summary["acoustic_scale"]}
    out.update({f"per_{name}": _round(v["per"]) for name, v in summary["scores"].items()})
    refs = summary.get("references")
    if refs:
        out["wer_reference_phones"] = _round(refs["wer_reference_phones"])
        if "supervised_reference" in refs:
            out["per_supervised_reference"] = _round(refs["supervised_reference"]["per"])
            out["wer_supervised_reference"] = _round(refs["supervised_reference"]["wer"])
        ps = refs["pocketsphinx"]
        out.update({"wer_pocketsphinx": _round(ps.get("wer")), "per_pocketsphinx": _round(ps.get("per_arpabet")),
                    "pocketsphinx_x_realtime": round(ps["x_realtime_words"], 1)})
    return out


def _round(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, 4)
