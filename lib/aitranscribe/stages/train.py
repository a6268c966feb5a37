"""Stage 05, unsupervised training: a method trains acoustic models without labels and selects one without labels;
report-only diagnostics judge it.

``method: decipher`` (the demo's; :mod:`aitranscribe.models.decipher`): decipherment of segment tokens with the
text's phone pair and triple statistics, then rounds of self-training a frame classifier decoded by a hybrid HMM.
``method: gan`` (wav2vec-U; :mod:`aitranscribe.models.gan`): a sweep of GAN runs on the pooled segments. Each
method's settings are its own profile section (``train.decipher``, ``train.gan``); the other method's section does
not change the outputs. Outputs in ``<data_root>/<profile>/05_train/<method>-<hash>/``: the method's own files
(chains and rounds, or runs), ``summary.json`` (the selection: run, checkpoint, rule, label-free metric, every
round's or run's signals) and ``diagnostics.json``. Inputs: 03's features and 04's phone text, dictionary and LM.

Labels (reference phones of the audio) are read only for report-only numbers: PER of the selected model, chance
PER, the supervised CTC reference, unit purity and (GAN) the objective check. Training, stopping and selection
never see them.
"""
from __future__ import annotations

import collections
import logging
from pathlib import Path

import pandas as pd

from .. import models
from ..core.metric_labels import PCT, PLAIN
from ..core import registry, stage
from ..core.params import Param, section
from ..core.stage import load_summary
from ..evaluation import diagnostics, probe
from ..models.decipher import voice_subset
from ..models.decipher.supervised import METHOD as SUPERVISED_REFERENCE
from ..sources import voices
from ..text.error_rates import per as phone_error_rate
from ..text import lm
from ..text.phones import read_dictionary, read_references

log = logging.getLogger(__name__)

KEY = "train"
NOTEBOOK = registry.info(KEY).notebook

PARAMS = {
    "method": Param("decipher", str, "decipherment + self-training, or the wav2vec-U GAN", tuple(models.METHODS)),
    **{name: section(f"settings of method {name!r}", method.PARAMS) for name, method in models.METHODS.items()},
    "supervised_epochs": Param(10, int, "epochs of the supervised CTC reference, report-only; 0 skips it"),
}


def _methods_used(p: dict) -> tuple[str, ...]:
    """The chosen method and those whose settings it uses (the GAN started from the decipher method's result)."""
    method = models.METHODS[p["method"]]
    return (p["method"], *(method.uses(p[p["method"]]) if hasattr(method, "uses") else ()))


def _resolved_precision(p: dict) -> dict:
    """What ``precision: auto`` of a method in use resolves to on this CPU: it changes the model (slightly), so it
    is hashed."""
    out = {}
    for name in _methods_used(p):
        method = models.METHODS[name]
        if hasattr(method, "precision") and p[name].get("precision") == "auto":
            out["precision" if name == p["method"] else f"{name}_precision"] = method.precision(p[name])
    return out


STAGE = stage.StageDef(KEY, needs=("features", "text"), name=lambda p: p["method"], report_only=lambda p: (
    "supervised_epochs", *(name for name in models.METHODS if name not in _methods_used(p))),
    hashed=lambda p: {**models.without_neutral(p), **_resolved_precision(p)})


def output_dir(p: dict) -> Path:
    """``<data_root>/<profile>/05_train/<method>-<hash>`` (the other methods' settings leave the hash alone)."""
    return STAGE.locate(p)[0]


def run(p: dict) -> dict:
    """Train with the chosen method (resuming unfinished work) and select a model without labels."""
    method = models.METHODS[p["method"]]

    def compute(p, records, out_dir):
        symbols = read_dictionary(records["text"]["dict_phn"])
        return method.train(p[p["method"]], out_dir, records["features"], records["text"], symbols, p)

    def describe(p, records, out_dir, summary):
        return {"method": p["method"], "checkpoint": summary["checkpoint"], "run": summary["run"],
                "symbols": read_dictionary(records["text"]["dict_phn"]), "features": records["features"]["dir"],
                "text": records["text"]["dir"]}

    return STAGE.run(p, compute, describe)


def evaluate(p: dict, record: dict) -> dict:
    """Report-only figures of the selected model and the reference points; cached in diagnostics.json.

    Uses the audio's reference phones: PER of the selected model on valid and test, chance PER, the supervised
    CTC reference, unit purity and the method's own checks (the GAN's objective check).
    """
    key = {"supervised_epochs": p["supervised_epochs"], "checkpoint": record["checkpoint"], "seed": p["seed"],
           "supervised_reference": SUPERVISED_REFERENCE}
    return stage.cached_step(Path(record["dir"]) / "diagnostics.json", key, lambda: _diagnostics(p, record))


def _diagnostics(p: dict, record: dict) -> dict:
    features_record = stage.load_stage(p, "features")
    text_record = stage.load_stage(p, "text")
    model = models.load(record["checkpoint"])
    summary = load_summary(record)
    result = {"method": model.method, "selection": {k: summary[k] for k in ("run", "rule", "metric")},
              "supervised_epochs": p["supervised_epochs"], "checkpoint": record["checkpoint"]}
    refs = {split: read_references(text_record["references"], split) for split in ("train", "valid", "test")}
    if refs["test"] is None:
        result["note"] = "the corpus has no reference phones: no PER is reported"
        return result
    for split in ("valid", "test"):
        result[f"per_{split}"] = phone_error_rate(model.split_phones(features_record, split), refs[split])
    counts = load_summary(text_record)["phone_counts"]
    result["per_chance"] = diagnostics.chance_per(refs["test"], counts, seed=p["seed"])
    if p["supervised_epochs"] > 0:
        sup = probe.train_probe(features_record["segments"], epochs=p["supervised_epochs"], seed=p["seed"],
                                return_model=True)
        result["per_supervised"] = sup["per"]
        result["unit_purity"] = diagnostics.unit_purity(features_record, refs["train"], p["supervised_epochs"],
                                                        seed=p["seed"])
        result.update(diagnostics.method_checks(model, summary, sup, features_record, lm.load(text_record["phone_lm"]),
                                                refs, p["supervised_epochs"], p["seed"], Path(record["dir"])))
    return result


def report_table(report: dict) -> pd.DataFrame:
    """The report-only figures of :func:`evaluate` as a table (percent)."""
    rows = {"selected model, valid PER": report.get("per_valid"), "selected model, test PER": report.get("per_test"),
            "chance, test PER": report.get("per_chance"),
            "supervised CTC probe on the segments, test PER": report.get("per_supervised"),
            "supervised reference (same architecture, labels), test PER":
                report.get("supervised_reference", {}).get("per_test"),
            "unit purity of the k-means units": report.get("unit_purity", {}).get("purity")}
    return pd.DataFrame({"%": {k: round(100 * v, 1) for k, v in rows.items() if v is not None}})


def table(record: dict) -> pd.DataFrame:
    """The method's runs or rounds: label-free signals, report-only valid PER, which one was selected."""
    rows = models.METHODS[record["method"]].table(load_summary(record))
    index = [c for c in ("seed", "start", "round") if c in rows[0]] if rows and "round" in rows[0] else ["run"]
    return pd.DataFrame(rows).set_index(index).rename(columns={"per_valid_report_only": "per_valid (report-only)"})


def start_table(p: dict, record: dict) -> pd.DataFrame:
    """Where the method's chains started (the decipher method's voice subset): one row per step, label-free, and
    when the corpus records its voices (``corpus.json``) the make-up of the share they trained on by speech engine
    (report-only: read after training, for the reader)."""
    rows = getattr(models.METHODS[record["method"]], "start_steps", lambda summary: [])(load_summary(record))
    if not rows:
        return pd.DataFrame({"chains trained on": ["all of train"]})
    table = pd.DataFrame(rows).set_index("step")
    stored = stage.stored_step(Path(record["dir"]) / voice_subset.DIR / voice_subset.RECORD)
    meta = voices.read_metadata(Path(stage.load_stage(p, "audio_prep")["data_dir"]))
    if stored and meta and "train" in meta.get("utterances", {}):
        engines = collections.Counter(meta["utterances"]["train"][i].get("engine", "espeak-ng")
                                      for i in stored["train"])
        table["speech engines of the share (report-only)"] = [""] * (len(table) - 1) + [
            ", ".join(f"{engine} {n}" for engine, n in engines.most_common())]
    return table


LABELS = {  # this stage's metrics (metrics()), in reading order: (label, how the value is shown)
    "method": ("method", PLAIN),
    "per_test": ("selected model, test PER (report-only)", PCT),
    "per_valid": ("selected model, valid PER (report-only)", PCT),
    "per_chance": ("chance, test PER (report-only)", PCT),
    "per_supervised": ("supervised CTC probe, test PER (report-only)", PCT),
    "per_supervised_reference": ("same model trained with labels, test PER (report-only)", PCT),
    "unit_purity": ("phone purity of the k-means units (report-only)", PCT),
    "selection_metric": ("label-free selection metric", PLAIN),
    "seconds": ("training time (s)", PLAIN),
}


def label_of(name: str) -> tuple[str, str] | None:
    """Labels of the figures a method adds (its package's ``LABELS``)."""
    return next((m.LABELS[name] for m in models.METHODS.values() if name in getattr(m, "LABELS", {})), None)

def metrics(record: dict, report: dict) -> dict:
    """train.* metrics: PERs (report-only: the selected model's own decoding, the supervised CTC probe on the
    segments, the supervised reference of the model's own architecture), purity, selection metric, the method's own
    figures (time, rounds...)."""
    summary = load_summary(record)
    rounded = lambda v: None if v is None else round(v, 4)  # noqa: E731
    purity = report.get("unit_purity", {}).get("purity")
    out = {"per_test": rounded(report.get("per_test")), "per_valid": rounded(report.get("per_valid")),
           "per_supervised": rounded(report.get("per_supervised")), "per_chance": rounded(report.get("per_chance")),
           "unit_purity": rounded(purity), "selection_metric": rounded(summary["metric"]),
           **models.METHODS[record["method"]].metrics(summary)}
    if "supervised_reference" in report:
        out["per_supervised_reference"] = rounded(report["supervised_reference"]["per_test"])
    return out
