"""Stage 06, inference: phones and words with timestamps on a prepared split or a folder of new recordings.

Inputs: the selected model (05: the GAN's generator over pooled segments, or the decipher method's frame
classifier and hybrid HMM over stage 03's frames), the train-fitted features pipeline (03: speaker
normalisation, k-means, PCA, pooling; never refitted), VAD settings (02), lexicon and word LM (04). A folder of new recordings goes through the same
preparation: 16 kHz mono conversion, rVAD silence removal, features, units, PCA, merging and pooling.
Outputs in ``<data_root>/<profile>/06_inference/<input>-<backend>-<hash>/``: ``transcripts.json``
(phones and words with start/end seconds on the original recordings), ``phones.txt``, ``words.txt``,
``subtitles/<utterance>.srt`` and ``.vtt``, and ``summary.json`` (PER/WER against references when the
input has them, per backend, and the real-time factor).
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import audio_io, audio_prep, backends, decode, features, folder_source, lm, manifest, scoring, segments, stage
from . import train as train_stage
from .errors import KitError
from .params import Param, params_hash
from .paths import profile_data_dir

log = logging.getLogger(__name__)

KEY = "inference"
NOTEBOOK = "06_inference"

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


# ------------------------------------------------------------------------------------------------ inputs

def _split_items(split: str, features_record: dict, prep_record: dict, text_record: dict,
                 model_input: str = "segments") -> list[dict]:
    """The model's input (pooled segments or frames), their frame bounds, VAD intervals, durations and references
    of a prepared split."""
    if model_input == "frames":
        feats, lengths = segments.read_features(features_record["dir"], split, mmap=False)
        bounds = np.concatenate([decode.frame_bounds(n) for n in lengths])
    else:
        feats, lengths = segments.read_features(features_record["gan_input"], split, mmap=False)
        bounds = np.load(Path(features_record["gan_input"]) / f"{split}.bounds.npy")
    vads = audio_prep.read_vads(Path(prep_record["dir"]) / f"{split}.vads")
    original = manifest.read(Path(prep_record["data_dir"]) / "manifests", split, check_files=False)
    refs = train_stage.load_references(text_record, split)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    items = []
    for i in range(len(lengths)):
        items.append({"name": Path(original.paths[i]).stem, "feats": feats[offsets[i]:offsets[i + 1]],
                      "bounds": bounds[offsets[i]:offsets[i + 1]], "vads": vads[i],
                      "seconds": original.n_samples[i] / audio_io.TARGET_SR,
                      "ref_phones": refs[i] if refs else None,
                      "ref_words": original.words[i] if original.words else None})
    return items


def _folder_items(folder: str, out_dir: Path, prep_record: dict, features_record: dict,
                  model_input: str) -> tuple[list[dict], list]:
    """New recordings prepared exactly as the training audio (train-fitted transforms); bad files reported."""
    from rVADfast import rVADfast

    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise KitError(f"{folder}: folder not found")
    files = folder_source.find_audio(folder)
    if not files:
        raise KitError(f"{folder}: no audio files ({', '.join(audio_io.AUDIO_EXTENSIONS)})")
    vad_params = json.loads((Path(prep_record["dir"]) / stage.DONE).read_text())["params"]
    vad = rVADfast(window_duration=vad_params["vad_window_ms"] / 1000, shift_duration=vad_params["vad_shift_ms"] / 1000,
                   vad_threshold=vad_params["vad_threshold"])
    transform = features.TrainedTransform(features_record)
    items, bad = [], []
    for src in tqdm(files, desc="preparing recordings", unit="file"):
        rel = src.relative_to(folder).with_suffix(".flac")
        try:
            converted = out_dir / "audio" / rel
            audio_io.convert_to_16k_mono(src, converted)
            x, _ = audio_io.read(converted)
            intervals = audio_prep.detect(x, vad_params, vad)
            seg = transform(np.concatenate([x[a:b] for a, b in intervals]))
        except Exception as exc:  # noqa: BLE001 - one bad recording must not lose the others
            reason = exc.reason if hasattr(exc, "reason") else f"{type(exc).__name__}: {exc}"
            log.error("bad input: %s: %s", src, reason)
            bad.append({"file": str(src), "reason": reason})
            continue
        side = src.with_suffix(".txt")
        if model_input == "frames":
            feats, bounds = seg["frames"].astype(np.float32), decode.frame_bounds(len(seg["frames"]))
        else:
            feats, bounds = seg["pooled"], seg["pooled_bounds"]
        items.append({"name": rel.with_suffix("").as_posix(), "feats": feats, "bounds": bounds,
                      "vads": intervals, "seconds": len(x) / audio_io.TARGET_SR, "ref_phones": None,
                      "ref_words": " ".join(folder_source.normalize_words(side.read_text())) if side.is_file() else None})
    if not items:
        raise KitError(f"{folder}: none of the {len(files)} recordings could be prepared; see the errors above")
    return items, bad


# ------------------------------------------------------------------------------------------------ running

def _batches(items: list[dict], size: int):
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        yield chunk, train_stage.pad_features([torch.from_numpy(np.ascontiguousarray(it["feats"])) for it in chunk])


def decode_batch(model, logits: torch.Tensor, padding: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray, list]]:
    """Per utterance: segment log-probabilities for the word decoder, the phone id of each segment, its span.

    GAN: JOIN segments and their argmax. Decipher: the runs of the hybrid HMM's best frame path and their phone."""
    if model.input == "frames":
        return [decode.run_posteriors(logits[b], path) for b, path in enumerate(model.paths(logits, padding))]
    return [(logp, logp.argmax(-1), spans) for logp, spans in decode.segment_posteriors(logits, padding)]


def transcribe(items: list[dict], runner, model, symbols: list[str], word_decoder, timing: tuple[float, float],
               batch_size: int) -> list[dict]:
    """Phones (and words) with times for every item, the network run by the backend ``runner``."""
    shift, window = timing
    out = []
    for chunk, (x, padding) in _batches(items, batch_size):
        logits = runner(x, padding)
        for item, (logp, ids, spans) in zip(chunk, decode_batch(model, logits, padding)):
            t = decode.Timing(item["bounds"], shift, window, item["vads"])
            entry = {"name": item["name"], "seconds": round(item["seconds"], 3),
                     "phones": decode.path_phones(ids, spans, symbols, t)}
            if word_decoder is not None:
                entry["words"] = word_decoder(logp, spans, t)
            out.append(entry)
    return out


def score(results: list[dict], items: list[dict]) -> dict:
    """PER and WER against the references the items have (NaN when they have none)."""
    out = {"per": float("nan"), "wer": float("nan")}
    if all(it["ref_phones"] is not None for it in items):
        out["per"] = scoring.per([[p["phone"] for p in r["phones"]] for r in results], [it["ref_phones"] for it in items])
    if all(it["ref_words"] is not None for it in items) and all("words" in r for r in results):
        out["wer"] = scoring.wer([" ".join(w["word"] for w in r["words"]) for r in results],
                                 [it["ref_words"] for it in items])
    return out


def _tune_lm_weight(p, model, symbols, text_record, features_record, prep_record) -> tuple[float, list]:
    """The LM weight with the lowest log word-LM perplexity x viterbi UER on valid (no labels)."""
    items = _split_items("valid", features_record, prep_record, text_record, model.input)
    runner = backends.make("eager", model.net)
    word_lm = lm.load(text_record["word_lm"])
    lexicon = dict(line.split("\t") for line in Path(text_record["lexicon"]).read_text(encoding="utf-8").splitlines())
    table = []
    for weight in p["tune_lm_weights"]:
        wd = decode.WordDecoder(symbols, text_record["lexicon"], text_record["word_lm"], p["beam"], float(weight),
                                p["word_score"])
        timing = (features_record["frame_shift_s"], features_record["frame_window_s"])
        results = transcribe(items, runner, model, symbols, wd, timing, p["batch_size"])
        viterbi = [[ph["phone"] for ph in r["phones"]] for r in results]
        word_phones = [[ph for w in r["words"] for ph in lexicon[w["word"]].split()] for r in results]
        uer = scoring.per(word_phones, viterbi)
        sentences = [" ".join(w["word"] for w in r["words"]) for r in results if r["words"]]
        ppl = lm.perplexity(word_lm, sentences) if sentences else float("inf")
        table.append({"lm_weight": float(weight), "uer": uer, "word_lm_ppl": ppl, "score": math.log(ppl) * uer})
    best = min(table, key=lambda row: row["score"])
    log.info("LM weight tuned on valid without labels: %s", best)
    return best["lm_weight"], table


def output_dir(p: dict, train_record: dict) -> Path:
    """``<data_root>/<profile>/06_inference/<split or folder>-<backend>-<hash>``."""
    source = f"folder-{Path(p['folder']).name}" if p["folder"] else p["split"]
    key = params_hash({**p, "model": train_record["params_hash"]})
    return profile_data_dir(p) / NOTEBOOK / f"{source}-{p['backend']}-{key}"


def run(p: dict) -> dict:
    """Transcribe; skipped when already done for the same parameters and model."""
    train_record = stage.load_stage(p, "train", "05_train_gan")
    features_record = stage.load_stage(p, "features", "03_features")
    prep_record = stage.load_stage(p, "audio_prep", "02_audio_prep")
    text_record = stage.load_stage(p, "text", "04_text_prep")
    out_dir = output_dir(p, train_record)
    phash = params_hash({**p, "model": train_record["params_hash"]})
    if not stage.is_done(out_dir, phash):
        summary = _run(p, out_dir, train_record, features_record, prep_record, text_record)
        stage.atomic_write_json(out_dir / "summary.json", summary)
        stage.mark_done(out_dir, phash, {"dir": str(out_dir)}, params=p, seconds=summary["seconds"])
    else:
        log.info("06_inference: already done for these parameters in %s", out_dir)
    record = {"dir": str(out_dir), "params_hash": phash, "backend": p["backend"]}
    stage.record_stage(p, KEY, record)
    return record


def _run(p, out_dir, train_record, features_record, prep_record, text_record) -> dict:
    symbols = train_record["symbols"]
    model = train_stage.load_model(train_record)
    timing = (features_record["frame_shift_s"], features_record["frame_window_s"])
    start = time.time()
    bad = []
    if p["folder"]:
        items, bad = _folder_items(p["folder"], out_dir, prep_record, features_record, model.input)
    else:
        items = _split_items(p["split"], features_record, prep_record, text_record, model.input)
    prep_seconds = time.time() - start
    lm_weight, tuning = p["lm_weight"], []
    if p["words"] and p["tune_lm_weights"]:
        lm_weight, tuning = _tune_lm_weight(p, model, symbols, text_record, features_record, prep_record)
    word_decoder = (decode.WordDecoder(symbols, text_record["lexicon"], text_record["word_lm"], p["beam"], lm_weight,
                                       p["word_score"]) if p["words"] else None)
    calibration = [b for _, b in _batches(items[: 4 * p["batch_size"]], p["batch_size"])]
    runner = backends.make(p["backend"], model.net, calibration)
    runner(*calibration[0])  # warm-up (torch.compile compiles here); not part of the timed step
    t0 = time.time()
    results = transcribe(items, runner, model, symbols, word_decoder, timing, p["batch_size"])
    step_seconds = time.time() - t0 + prep_seconds
    scores = {p["backend"]: score(results, items)}
    if p["backend"] != "eager":
        eager_results = transcribe(items, backends.make("eager", model.net), model, symbols, None, timing,
                                   p["batch_size"])
        scores["eager"] = score(eager_results, items)
    audio_seconds = sum(it["seconds"] for it in items)
    _write_outputs(out_dir, results)
    return {"backend": p["backend"], "n_utterances": len(items), "audio_seconds": audio_seconds,
            "seconds": round(step_seconds, 3), "realtime_factor": step_seconds / max(audio_seconds, 1e-9),
            "scores": scores, "lm_weight": lm_weight, "lm_weight_tuning": tuning, "bad_files": bad,
            "torch": torch.__version__}


def _write_outputs(out_dir: Path, results: list[dict]) -> None:
    stage.atomic_write_json(out_dir / "transcripts.json", results)
    stage.atomic_write_text(out_dir / "phones.txt",
                            "".join(f"{r['name']}\t{' '.join(ph['phone'] for ph in r['phones'])}\n" for r in results))
    if results and "words" in results[0]:
        stage.atomic_write_text(out_dir / "words.txt",
                                "".join(f"{r['name']}\t{' '.join(w['word'] for w in r['words'])}\n" for r in results))
        for r in results:
            for fmt in ("srt", "vtt"):
                stage.atomic_write_text(decode.subtitle_path(out_dir / "subtitles", r["name"], fmt),
                                        decode.subtitles(r["words"], fmt))


def load_summary(record: dict) -> dict:
    """The summary.json of the stage."""
    return json.loads((Path(record["dir"]) / "summary.json").read_text())


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
    results = json.loads((Path(record["dir"]) / "transcripts.json").read_text())
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
