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

import torch

from .. import backends, models
from ..core import registry, stage
from ..core.errors import KitError
from ..core.files import read_json
from ..core.params import Param
from ..decoding import transcribe as tr
from ..decoding.words import WordDecoder
from ..evaluation import scoring
from ..text import lm

log = logging.getLogger(__name__)

KEY = "inference"
NOTEBOOK = registry.info(KEY).notebook

PARAMS = {
    "backend": Param("eager", str, "backend of the acoustic model", backends.BACKENDS),
    "split": Param("test", str, "prepared split to transcribe when no folder is given", ("train", "valid", "test")),
    "folder": Param("", str, "a folder of new recordings to transcribe instead of a split"),
    "words": Param(True, bool, "decode words with the lexicon and the word LM as well as phones"),
    "beam": Param(20, int, "word beam size"),
    "lm_weight": Param(2.0, float, "word LM weight"),
    "word_score": Param(0.0, float, "word insertion score"),
    "tune_lm_weights": Param([], list, "LM weights tried on valid, chosen by log word-LM ppl x viterbi UER, no labels"),
    "batch_size": Param(32, int, "utterances per acoustic-model call"),
    "per_tolerance": Param(0.01, float, "largest PER difference to eager accepted for another backend"),
    "int8_per_tolerance": Param(0.02, float, "the same for int8, whose rounding flips near-tied argmaxes"),
}


def _tune_lm_weight(p: dict, model, records: dict) -> tuple[float, list]:
    """The LM weight with the lowest log word-LM perplexity x viterbi UER on valid (no labels)."""
    text_record = records["text"]
    items = tr.split_items(model, "valid", records)
    runner = backends.make("eager", model.net)
    word_lm = lm.load(text_record["word_lm"])
    lexicon = dict(line.split("\t") for line in Path(text_record["lexicon"]).read_text(encoding="utf-8").splitlines())
    table = []
    for weight in p["tune_lm_weights"]:
        wd = WordDecoder(model.symbols, text_record["lexicon"], text_record["word_lm"], p["beam"], float(weight),
                         p["word_score"])
        results = tr.transcribe(items, runner, model, wd, _timing(records), p["batch_size"])
        viterbi = [[ph["phone"] for ph in r["phones"]] for r in results]
        word_phones = [[ph for w in r["words"] for ph in lexicon[w["word"]].split()] for r in results]
        uer = scoring.per(word_phones, viterbi)
        sentences = [" ".join(w["word"] for w in r["words"]) for r in results if r["words"]]
        ppl = lm.perplexity(word_lm, sentences) if sentences else float("inf")
        table.append({"lm_weight": float(weight), "uer": uer, "word_lm_ppl": ppl, "score": math.log(ppl) * uer})
    best = min(table, key=lambda row: row["score"])
    log.info("LM weight tuned on valid without labels: %s", best)
    return best["lm_weight"], table


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


def _compute(p: dict, records: dict, out_dir: Path) -> dict:
    model = models.load(records["train"]["checkpoint"])
    start = time.time()
    bad = []
    if p["folder"]:
        items, bad = tr.folder_items(model, p["folder"], out_dir, records)
    else:
        items = tr.split_items(model, p["split"], records)
    prep_seconds = time.time() - start
    lm_weight, tuning = p["lm_weight"], []
    if p["words"] and p["tune_lm_weights"]:
        lm_weight, tuning = _tune_lm_weight(p, model, records)
    text_record = records["text"]
    word_decoder = (WordDecoder(model.symbols, text_record["lexicon"], text_record["word_lm"], p["beam"], lm_weight,
                                p["word_score"]) if p["words"] else None)
    calibration = [b for _, b in tr.batches(items[: 4 * p["batch_size"]], p["batch_size"])]
    runner = backends.make(p["backend"], model.net, calibration)
    runner(*calibration[0])  # warm-up (torch.compile compiles here); not part of the timed step
    t0 = time.time()
    results = tr.transcribe(items, runner, model, word_decoder, _timing(records), p["batch_size"])
    step_seconds = time.time() - t0 + prep_seconds
    scores = {p["backend"]: tr.score(results, items)}
    if p["backend"] != "eager":
        eager_results = tr.transcribe(items, backends.make("eager", model.net), model, None, _timing(records),
                                      p["batch_size"])
        scores["eager"] = tr.score(eager_results, items)
    audio_seconds = sum(it["seconds"] for it in items)
    tr.write_outputs(out_dir, results)
    return {"backend": p["backend"], "n_utterances": len(items), "audio_seconds": audio_seconds,
            "seconds": round(step_seconds, 3), "realtime_factor": step_seconds / max(audio_seconds, 1e-9),
            "scores": scores, "lm_weight": lm_weight, "lm_weight_tuning": tuning, "bad_files": bad,
            "torch": torch.__version__}


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


def examples(record: dict, n: int = 3) -> list[dict]:
    """The first ``n`` transcripts with their timed words (per-utterance: tag the cell ``phi``)."""
    results = read_json(Path(record["dir"]) / "transcripts.json")
    return [{"name": r["name"], "phones": " ".join(ph["phone"] for ph in r["phones"]),
             "words": [(w["word"], w["start"], w["end"]) for w in r.get("words", [])]} for r in results[:n]]


def metrics(summary: dict) -> dict:
    """per, wer, backend, realtime_factor, n_utterances and per_<backend>."""
    s = summary["scores"][summary["backend"]]
    out = {"per": _round(s["per"]), "wer": _round(s["wer"]), "backend": summary["backend"],
           "realtime_factor": round(summary["realtime_factor"], 5), "n_utterances": summary["n_utterances"]}
    out.update({f"per_{name}": _round(v["per"]) for name, v in summary["scores"].items()})
    return out


def _round(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, 4)
