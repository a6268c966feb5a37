"""Stage 06, inference: phones and words with timestamps on a prepared split or a folder of new recordings.

Inputs: the selected model (05), the train-fitted features pipeline (03: speaker normalisation, k-means, PCA,
pooling; never refitted), VAD settings (02), lexicon and word LM (04). A folder of new recordings goes through the
same preparation: 16 kHz mono conversion, rVAD silence removal, features, units, PCA, merging and pooling; its
recordings may be hours long and hold several speakers (:mod:`aitranscribe.transcription.recordings`: cut at pauses,
diarized, decoded in bounded memory). A folder's content (file names, sizes, modification times) is part of the
stage's identity: a re-run transcribes only recordings that are new or changed, forgets removed ones, and says so.
Outputs in ``<data_root>/<profile>/06_inference/<input>-<backend>-<hash>/``: ``transcripts.json`` (phones and
words with start/end seconds on the original recordings; with a folder also ``speaker`` and speaker ``segments``),
``phones.txt``, ``words.txt``, ``subtitles/<recording>.srt`` and ``.vtt``, ``text/<recording>.txt`` (folder:
``SPEAKER_n: words`` per turn) and ``summary.json`` (PER/WER against references when the input has them, per
backend, the real-time factor, and how well the words' confidences tell wrong words from right ones). Every word
and phone carries a ``confidence`` (:mod:`aitranscribe.decoding.confidence`). A folder also gets ``session``
figures per recording in ``transcripts.json``, ``sessions.csv`` and ``review/<recording>.html``
(:mod:`aitranscribe.transcription.review`), rewritten on every run with the current ``speaker_names`` and
``doubt_threshold``. Figures of a folder go to the output directory's ``metrics.json``, never to
the profile's report figures.
"""
from __future__ import annotations

import logging
import math
import resource
import shutil
from pathlib import Path

import numpy as np
import torch


from .. import backends, models
from ..core.metric_labels import PCT, PLAIN
from ..core import registry, stage
from ..benchmarking.results import ArmPers
from ..core.errors import KitError
from ..core.files import atomic_write_json, atomic_write_text, read_json
from ..core.params import Param
from ..transcription import transcribe as tr
from ..decoding import tuning
from ..transcription import review, session_figures, workers
from ..decoding.words import GraphWords
from ..evaluation import by_voice, peer
from ..evaluation.confidence import calibration
from ..models.decipher.supervised import METHOD as SUPERVISED_REFERENCE
from ..text import error_rates
from ..io import audio, manifest
from ..scale import executor, shards
from ..sources import voices
from ..sources.folder import content_index, find_audio, index_changes
from ..text.normalize import normalize_words
from ..text.phonemize import phonemize_words
from ..text.phones import SIL, fold

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
    "tune_acoustic_scales": Param([0.3, 0.5], list, "acoustic scales tried on valid, chosen by log word-LM ppl x UER, no labels"),
    "phone_scale": Param(1.0, float, "phone graph: weight of the acoustic scores against the phone LM"),
    "graph_beam": Param(14.0, float, "beam of the graph searches"),
    "references": Param(True, bool, "report-only, on a split with references: the reference phones through the word "
                                    "graph, the supervised reference model, and the pocketsphinx peer"),
    "pause_s": Param(0.5, float, "folder: a pause at least this long (s) ends an utterance"),
    "max_utterance_s": Param(20.0, float, "folder: a longer utterance is cut at its longest pause"),
    "diarize": Param(True, bool, "folder: tell the speakers of each recording apart (no labels) and tag their turns"),
    "n_speakers": Param(0, int, "folder: speakers per recording (0: estimated per recording)"),
    "batch_size": Param(32, int, "utterances per acoustic-model call"),
    "shard_size": Param(64, int, "utterances of a split per shard (its own output and done-marker; batched from its "
                                 "first utterance, so a multiple of batch_size batches as an unsharded run does)"),
    "per_tolerance": Param(0.01, float, "largest PER difference to eager accepted for another backend"),
    "int8_per_tolerance": Param(0.02, float, "the same for int8, whose rounding flips near-tied argmaxes"),
    "speaker_names": Param({}, dict, "folder: names of speaker labels on review pages and in sessions.csv, e.g. "
                                     "{SPEAKER_1: Therapist}"),
    "doubt_threshold": Param(0.5, float, "folder: review pages mark words whose confidence is below this as doubtful"),
}
REVIEW_ONLY = ("speaker_names", "doubt_threshold")  # change the review pages only: nothing is transcribed again


def _folder(p: dict) -> Path:
    folder = Path(p["folder"]).expanduser().resolve()
    if not folder.is_dir():
        raise KitError(f"{folder}: folder not found")
    return folder


def folder_content(p: dict) -> dict | None:
    """What the input folder holds (:func:`~aitranscribe.sources.folder.content_index`); None for a split."""
    if not p["folder"]:
        return None
    folder = _folder(p)
    files = find_audio(folder)
    if not files:
        raise KitError(f"{folder}: no audio files ({', '.join(audio.AUDIO_EXTENSIONS)})")
    return content_index(folder, files)


def _content(p: dict) -> dict | None:
    """What the stage's result depends on in the input folder: its audio files and the references beside them
    (``name.txt``, e.g. a review page's corrected download), so a new or corrected reference re-scores the folder
    (its recordings are not transcribed again)."""
    index = folder_content(p)
    if index is None:
        return index
    folder = _folder(p)
    sides = [side for rel in index if (side := (folder / rel).with_suffix(".txt")).is_file()]
    return {"audio": index, "references": content_index(folder, sides)}


STAGE = stage.StageDef(KEY, needs=("train", "features", "audio_prep", "text"), name=lambda p: (
    f"folder-{Path(p['folder']).name}-{p['backend']}" if p["folder"] else f"{p['split']}-{p['backend']}"),
    report_only=lambda p: REVIEW_ONLY, content=_content, recorded=lambda p: not p["folder"],
    hashed=lambda p: {"supervised_reference": SUPERVISED_REFERENCE})  # its decode is in the outputs


def output_dir(p: dict) -> Path:
    """``<data_root>/<profile>/06_inference/<split or folder-<name>>-<backend>-<hash>``."""
    return STAGE.locate(p)[0]


def run(p: dict) -> dict:
    """Transcribe; skipped when already done for the same parameters and inputs. A folder's review pages and
    ``sessions.csv`` are written on every run (:func:`write_review`)."""
    record = STAGE.run(p, _compute, lambda p, r, out_dir, s: {"backend": p["backend"]})
    if p["folder"]:
        write_review(p, record)
    return record


def write_review(p: dict, record: dict) -> list[Path]:
    """A folder run's ``review/<name>.html`` per recording (:mod:`~aitranscribe.transcription.review`: its audio
    referenced from the input folder, never copied) and ``sessions.csv`` (session figures per recording and
    speaker), with the current ``speaker_names`` and ``doubt_threshold``; pages of removed recordings go."""
    names = p["speaker_names"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise KitError(f"speaker_names must map labels to names, e.g. {{SPEAKER_1: Therapist}}, not {names!r}")
    out_dir, folder = Path(record["dir"]), _folder(p)
    state = read_json(out_dir / STATE)
    sources = {Path(rel).with_suffix("").as_posix(): folder / rel for rel, s in state.items() if s["bad"] is None}
    results = read_json(out_dir / "transcripts.json")
    pages = review.write_pages(out_dir / "review", results, sources, names, p["doubt_threshold"])
    for stale in set((out_dir / "review").glob("*.html")) - set(pages):
        stale.unlink()
    atomic_write_text(out_dir / "sessions.csv", session_figures.csv_text(results, names))
    log.info("review pages of %d recording(s) in %s", len(pages), out_dir / "review")
    return pages


def _tune_scale(p: dict, model, records: dict) -> tuple[float, list]:
    """The word graph's acoustic scale with the lowest label-free score on valid (:mod:`...decoding.tuning`)."""
    items = tr.split_items(model, "valid", records)
    text_record = records["text"]
    _, phones = workers.decoders({**p, "words": False}, model, text_record, p["acoustic_scale"])
    eager = backends.make("eager", model.inference_net(records["features"]))
    own = tr.transcribe(items, eager, model, None, workers.timing(records), p["batch_size"], phones)
    scores = model.utterance_scores([it["feats"] for it in items], p["batch_size"])
    return tuning.choose_scale(text_record["word_graph"], scores, [[ph["phone"] for ph in r["phones"]] for r in own],
                               model.stay, p["tune_acoustic_scales"], text_record["word_lm"])


def _compute(p: dict, records: dict, out_dir: Path) -> dict:
    model = models.load(records["train"]["checkpoint"])
    scale, tuning_table = p["acoustic_scale"], []
    if p["words"] and p["tune_acoustic_scales"]:
        scale, tuning_table = _tune_scale(p, model, records)
    if p["folder"]:
        summary = _compute_folder(p, records, out_dir, scale)
        return {**summary, "acoustic_scale": scale, "acoustic_scale_tuning": tuning_table}
    items = tr.split_items(model, p["split"], records)
    plan = shards.plan(list(range(len(items))), p["shard_size"], out_dir / "shards", suffix=".json")
    report = executor.run(plan, workers.split_worker, {"p": p, "records": records, "scale": scale},
                          executor.Settings.of(p), f"transcribing {p['split']}")
    results = [r for s in plan for r in read_json(s.output)]
    step_seconds = report.seconds
    scores = {p["backend"]: tr.score(results, items)}
    if p["backend"] != "eager":
        word_decoder, phone_decoder = workers.decoders({**p, "words": False}, model, records["text"], scale)
        eager = backends.make("eager", model.inference_net(records["features"]))
        eager_results = tr.transcribe(items, eager, model, None, workers.timing(records),
                                      p["batch_size"], phone_decoder)
        scores["eager"] = tr.score(eager_results, items)
    audio_seconds = sum(it["seconds"] for it in items)
    tr.write_outputs(out_dir, results)
    shutil.rmtree(out_dir / "shards", ignore_errors=True)
    summary = {"backend": p["backend"], "n_utterances": len(items), "audio_seconds": audio_seconds,
               "seconds": round(step_seconds, 3), "realtime_factor": step_seconds / max(audio_seconds, 1e-9),
               "scores": scores, "acoustic_scale": scale, "acoustic_scale_tuning": tuning_table, "bad_files": [],
               "executor": p["executor"], "workers": report.workers, "torch": torch.__version__}
    if p["references"] and all(it["ref_words"] is not None for it in items):
        summary["references"] = _references(p, model, records, items, scale)
    summary["confidence"] = calibration(results, [it["ref_words"] for it in items])
    summary.update(voice_figures(p, records, results, items))
    return summary


def voice_figures(p: dict, records: dict, results: list[dict], items: list[dict]) -> dict:
    """Report-only, when the corpus records its voices (01's ``corpus.json``): ``{"by_voice": ...}``, PER and WER
    per voice, engine, held-out or not, and acoustic condition (:func:`~aitranscribe.evaluation.by_voice.figures`);
    ``{}`` otherwise. Nothing that trains or selects reads it."""
    meta = voices.read_metadata(Path(records["audio_prep"]["data_dir"]))
    if meta is None or p["split"] not in meta.get("utterances", {}):
        return {}
    figures = by_voice.figures(results, items, meta["utterances"][p["split"]], meta["held_out_voices"])
    return {"by_voice": {**figures, "held_out_voices": meta["held_out_voices"]}}


def voice_metrics(summary: dict) -> dict:
    """Report-only metrics of :func:`voice_figures`: per_/wer_unseen_voices, per_/wer_seen_voices (when the split
    has held-out voices), per_/wer_engine_<engine> (when the corpus has more than one engine)."""
    figures = summary.get("by_voice")
    if not figures:
        return {}
    out = {}
    if "unseen" in figures["seen"]:
        for group in ("unseen", "seen"):
            g = figures["seen"].get(group)
            out.update({f"per_{group}_voices": _round(g and g["per"]), f"wer_{group}_voices": _round(g and g["wer"])})
    if len(figures["engines"]) > 1:
        for engine, g in figures["engines"].items():
            name = voices.metric_name(engine)
            out.update({f"per_engine_{name}": _round(g["per"]), f"wer_engine_{name}": _round(g["wer"])})
    return out


def voice_table(summary: dict):
    """Report-only table of :func:`voice_figures`: PER and WER (%) and utterances per engine, seen/unseen voices,
    acoustic condition and voice; a note when the corpus records no voices."""
    import pandas as pd
    from IPython.display import Markdown

    figures = summary.get("by_voice")
    if not figures:
        return Markdown("*This corpus records no voices (only a demo corpus has `corpus.json`).*")
    held_out = set(figures["held_out_voices"])
    rows = []
    for grouping, title in (("engines", "engine"), ("seen", "voices"), ("conditions", "condition"),
                            ("voices", "voice")):
        for name, g in figures[grouping].items():
            label = f"{name} (never in train)" if grouping == "voices" and name in held_out else name
            rows.append({"group": title, "name": label, "utterances": g["n_utterances"],
                         "PER": None if g["per"] is None else round(100 * g["per"], 1),
                         "WER": None if g["wer"] is None else round(100 * g["wer"], 1)})
    return pd.DataFrame(rows).set_index(["group", "name"])


STATE = "recordings.json"  # per recording of a folder: its identity when transcribed, and whether it was bad


def _compute_folder(p: dict, records: dict, out_dir: Path, scale: float) -> dict:
    """Transcribe the folder's recordings, one shard each: a recording whose result and done-marker match its
    current identity is reused (an interrupted run resumes, a re-run does only what changed; a bad one is not
    retried until it changes), removed ones are forgotten; then the outputs of all of them are written."""
    folder = _folder(p)
    index = folder_content(p)
    state_path = out_dir / STATE
    state = read_json(state_path) if state_path.is_file() else {}
    changes = index_changes({rel: e["identity"] for rel, e in state.items()}, index)
    for rel in changes["removed"]:
        shards.remove(_shard(out_dir, rel, None))
        del state[rel]
    log.info("folder %s: %d new, %d changed, %d unchanged, %d removed recording(s)", folder.name,
             len(changes["new"]), len(changes["changed"]), len(changes["unchanged"]), len(changes["removed"]))
    plan = [_shard(out_dir, rel, index[rel]) for rel in sorted(index)]
    report = executor.run(plan, workers.folder_worker, {"p": p, "records": records, "scale": scale,
                                                         "folder": str(folder), "out_dir": str(out_dir)},
                          executor.Settings.of(p), "transcribing recordings", retry_bad=False)
    for shard, record in zip(plan, report.records):
        rel = shard.items[0]
        bad = record["bad"][0]["reason"] if record["bad"] else None
        state[rel] = {"identity": index[rel], "bad": bad, "seconds": record["seconds"]}
    atomic_write_json(state_path, state)
    good = [rel for rel in sorted(state) if state[rel]["bad"] is None]
    if not good:
        raise KitError(f"{folder}: none of the {len(state)} recordings could be transcribed; see the errors above")
    results = [read_json(_result_path(out_dir, rel)) for rel in good]
    for sub in ("subtitles", "text"):  # rewritten whole: no file of a removed recording survives
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    tr.write_outputs(out_dir, results)
    refs = {rel: _side_transcript(folder / rel) for rel in good}
    scores = folder_scores(results, [refs[rel] for rel in good])
    confidence = calibration(results, [refs[rel] for rel in good])
    bad = [{"file": rel, "reason": state[rel]["bad"]} for rel in sorted(state) if state[rel]["bad"] is not None]
    processed = sorted(report.processed)
    processed_audio = sum(r["seconds"] for rel, r in zip(good, results) if rel in set(processed))
    return {"backend": p["backend"], "folder": folder.name, "n_recordings": len(good),
            "n_utterances": sum(r["n_utterances"] for r in results), "audio_seconds": sum(r["seconds"] for r in results),
            "speakers": {r["name"]: r["n_speakers"] for r in results},
            "changes": {k: len(v) for k, v in changes.items()}, "processed": processed,
            "processed_audio_seconds": round(processed_audio, 3), "seconds": round(report.seconds, 3),
            "realtime_factor": report.seconds / processed_audio if processed_audio else None,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "scores": {p["backend"]: scores}, "n_with_reference": sum(r is not None for r in refs.values()),
            "confidence": confidence,
            "bad_files": bad, "executor": p["executor"], "workers": report.workers, "torch": torch.__version__}


def _shard(out_dir: Path, rel: str, identity) -> shards.Shard:
    """A recording's shard: its result ``results/<rel>.json``, keyed by the recording's identity."""
    return shards.Shard(rel, (rel,), _result_path(out_dir, rel), identity)


def _result_path(out_dir: Path, rel: str) -> Path:
    return out_dir / "results" / f"{rel}.json"


def _side_transcript(src: Path) -> str | None:
    """The words of ``name.txt`` beside a recording (plain text, or a review page's corrected download; normalised
    like the text corpus), or None."""
    side = src.with_suffix(".txt")
    if not side.is_file():
        return None
    return " ".join(normalize_words(review.reference_text(side.read_text(encoding="utf-8"))))


def folder_scores(results: list[dict], references: list[str | None]) -> dict:
    """WER and PER of the recordings that have word references (NaN when none has): the references' phones come
    from espeak-ng like the unpaired text's (rare variants folded), so PER is measured in the model's phones."""
    pairs = [(r, ref) for r, ref in zip(results, references) if ref is not None]
    out = {"per": float("nan"), "wer": float("nan")}
    if not pairs:
        return out
    if all("words" in r for r, _ in pairs):
        out["wer"] = error_rates.wer([" ".join(w["word"] for w in r["words"]) for r, _ in pairs], [ref for _, ref in pairs])
    lexicon = phonemize_words(sorted({w for _, ref in pairs for w in ref.split()}))
    ref_phones = [fold([ph for w in ref.split() for ph in lexicon.get(w, [])]) for _, ref in pairs]
    out["per"] = error_rates.per([[ph["phone"] for ph in r["phones"]] for r, _ in pairs], ref_phones)
    return out


def _references(p: dict, model, records: dict, items: list[dict], scale: float) -> dict:
    """Report-only reference points on the same split: the reference phones themselves through the word graph (the
    decoder's ceiling), the supervised reference model through the same searches (chosen the same way, without
    labels), and the pocketsphinx peer on the same recordings."""
    text_record = records["text"]
    out = {"wer_reference_phones": reference_phones_wer(text_record["word_graph"], model.symbols, items)}
    reference = (stage.stored_step(Path(records["train"]["dir"]) / "diagnostics.json") or {}).get("supervised_reference")
    if reference is not None:
        supervised = models.load(reference["checkpoint"])
        sup_scale = _tune_scale(p, supervised, records)[0] if p["tune_acoustic_scales"] else scale
        words, phones = workers.decoders(p, supervised, text_record, sup_scale)
        runner = backends.make("eager", supervised.inference_net(records["features"]))
        results = tr.transcribe(items, runner, supervised, words, workers.timing(records),
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
    return error_rates.wer(hyps, [it["ref_words"] for it in items])


def check_backend_agreement(summary: dict, tolerance: float, int8_tolerance: float) -> ArmPers:
    """PER of the backend and of eager, asserted equal within ``tolerance`` (``int8_tolerance`` for int8)."""
    scores = summary["scores"]
    backend = summary["backend"]
    if "eager" in scores and not math.isnan(scores[backend]["per"]):
        diff = abs(scores[backend]["per"] - scores["eager"]["per"])
        tolerance = int8_tolerance if backend == "int8" else tolerance
        if diff > tolerance:
            raise KitError(f"backend {backend} changes the PER by {diff:.4f} (> {tolerance}) against eager: "
                           f"{scores[backend]['per']:.4f} vs {scores['eager']['per']:.4f}")
    return ArmPers({name: round(s["per"], 4) for name, s in scores.items()})


def comparison(summary: dict):
    """Report-only table: PER, WER and speed of the kit's model beside its reference points on the same split."""
    import pandas as pd

    s = summary["scores"][summary["backend"]]
    rtf = summary["realtime_factor"]
    rows = {"this kit, no labels (selected model)": {"PER": s["per"], "WER": s["wer"],
                                                     "x real time": 1 / rtf if rtf else None}}
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


def examples(record: dict, n: int = 3):
    """The first ``n`` transcripts as a table: name, phones, and words with their start times (and speakers, for a
    folder). Per-utterance content: tag the cell ``phi``."""
    import pandas as pd

    results = read_json(Path(record["dir"]) / "transcripts.json")
    rows = []
    for r in results[:n]:
        words = " ".join(f"{w['word']}@{w['start']:.2f}" + (f" ({w['speaker']})" if "speaker" in w else "")
                         for w in r.get("words", []))
        rows.append({"recording": r["name"], "phones": " ".join(ph["phone"] for ph in r["phones"]),
                     "words @ start (s)": words})
    return pd.DataFrame(rows)


LABELS = {  # this stage's metrics (metrics()), in reading order: (label, how the value is shown)
    "per": ("PER", PCT),
    "wer": ("WER", PCT),
    "backend": ("backend", PLAIN),
    "realtime_factor": ("compute seconds per second of audio", PLAIN),
    "n_utterances": ("utterances transcribed", PLAIN),
    "acoustic_scale": ("acoustic scale of the word search", PLAIN),
    "wer_reference_phones": ("WER of the reference phones through the word search (report-only)", PCT),
    "per_supervised_reference": ("same model trained with labels, PER (report-only)", PCT),
    "wer_supervised_reference": ("same model trained with labels, WER (report-only)", PCT),
    "per_pocketsphinx": ("pocketsphinx en-us, PER in ARPAbet (report-only)", PCT),
    "wer_pocketsphinx": ("pocketsphinx en-us, WER (report-only)", PCT),
    "pocketsphinx_x_realtime": ("pocketsphinx, times real time", PLAIN),
    "wer_unseen_voices": ("WER on voices never heard in train (report-only)", PCT),
    "per_unseen_voices": ("PER on voices never heard in train (report-only)", PCT),
    "wer_seen_voices": ("WER on voices heard in train (report-only)", PCT),
    "per_seen_voices": ("PER on voices heard in train (report-only)", PCT),
    "confidence_auc_report_only": ("word confidence, ROC AUC for telling wrong words from right (report-only)", PLAIN),
    "confidence_ece_report_only": ("word confidence, expected calibration error (report-only)", PLAIN),
}


def label_of(name: str) -> tuple[str, str] | None:
    """Labels of the per-backend PERs (``per_<backend>``) and the per-engine rates (``per_/wer_engine_<engine>``)."""
    if name.startswith("per_") and name[4:] in backends.BACKENDS:
        return f"PER with backend {name[4:]}", PCT
    if name.startswith(("per_engine_", "wer_engine_")):
        return f"{name[:3].upper()} on {name[len('per_engine_'):]} voices (report-only)", PCT
    return None

def metrics(summary: dict) -> dict:
    """per, wer, backend, realtime_factor, n_utterances, per_<backend>, acoustic_scale; with references (report-only):
    wer_reference_phones, per/wer_supervised_reference, per/wer_pocketsphinx and pocketsphinx_x_realtime; with a
    corpus that records its voices (report-only) :func:`voice_metrics`."""
    s = summary["scores"][summary["backend"]]
    rtf = summary["realtime_factor"]
    out = {"per": _round(s["per"]), "wer": _round(s["wer"]), "backend": summary["backend"],
           "realtime_factor": None if rtf is None else round(rtf, 5), "n_utterances": summary["n_utterances"],
           "acoustic_scale": summary["acoustic_scale"]}
    if "changes" in summary:  # a folder
        out.update({f"n_{k}": v for k, v in summary["changes"].items()})
        out.update({"n_recordings": summary["n_recordings"], "n_bad": len(summary["bad_files"]),
                    "audio_seconds": round(summary["audio_seconds"], 1), "peak_rss_mb": summary["peak_rss_mb"],
                    "x_realtime": None if not rtf else round(1 / rtf, 1)})
    out.update({f"per_{name}": _round(v["per"]) for name, v in summary["scores"].items()})
    out.update(confidence_metrics(summary))
    refs = summary.get("references")
    if refs:
        out["wer_reference_phones"] = _round(refs["wer_reference_phones"])
        if "supervised_reference" in refs:
            out["per_supervised_reference"] = _round(refs["supervised_reference"]["per"])
            out["wer_supervised_reference"] = _round(refs["supervised_reference"]["wer"])
        ps = refs["pocketsphinx"]
        out.update({"wer_pocketsphinx": _round(ps.get("wer")), "per_pocketsphinx": _round(ps.get("per_arpabet")),
                    "pocketsphinx_x_realtime": round(ps["x_realtime_words"], 1)})
    out.update(voice_metrics(summary))
    return out


def confidence_metrics(summary: dict) -> dict:
    """Report-only, when the words had references: how well their confidences tell wrong words from right ones
    (``confidence_auc_report_only``, ROC AUC) and match the share of right words (``confidence_ece_report_only``)."""
    c = summary.get("confidence")
    return {} if not c else {"confidence_auc_report_only": _round(c["auc"]),
                             "confidence_ece_report_only": _round(c["ece"])}


def _round(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, 4)
