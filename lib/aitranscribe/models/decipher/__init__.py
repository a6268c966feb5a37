"""Method ``decipher``: decipherment of audio segment tokens with the unpaired text's phone statistics, then rounds
of self-training a frame classifier decoded by a hybrid HMM (see :mod:`.selftrain`). No labels are used.

Like every method package: ``PARAMS`` (its profile section ``train.decipher``), ``train(...)`` (resumable; returns
the label-free selection), ``load(checkpoint)`` (an :class:`~aitranscribe.models.base.AcousticModel`),
``history(summary)`` and ``table(summary)`` (rows for the notebook), ``CURVES`` and ``metrics(summary)``.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ...core.params import Param
from ...io import feature_files
from ...text import lm
from ...text.phones import phone_lines, read_references
from . import selftrain
from .model import FrameModel

log = logging.getLogger(__name__)

NAME = "decipher"
LABEL = "decipherment + self-training"
STEP = "self-training round"

PARAMS = {
    "groups": Param(20, int, "groups of k-means units whose changes cut segments"),
    "min_run": Param(2, int, "least frames of a segment"),
    "tokens": Param(128, int, "k-means tokens of segment means"),
    "split": Param(0.2, float, "chance that a token continues its phone"),
    "restarts": Param(10, int, "EM restarts from random tables"),
    "iters": Param(300, int, "EM iterations of each restart (token pairs)"),
    "refine": Param(3, int, "best restarts refined on token triples"),
    "refine_iters": Param(100, int, "EM iterations on the triples"),
    "seeds": Param([0], list, "seeds of independent chains (segments, tokens, restarts, classifiers)"),
    "screen_rounds": Param(2, int, "rounds of every chain before only the most promising one continues"),
    "rounds": Param(2, int, "self-training rounds; the one with the lowest phone-LM perplexity is kept"),
    "epochs": Param(3, int, "classifier epochs per round"),
    "hidden": Param(256, int, "hidden units of the frame classifier"),
}
CURVES = (("phone_lm_ppl_train", "train phone-LM perplexity (selection, no labels)"),
          ("label_change", "share of train frames relabelled"),
          ("per_valid_report_only", "valid PER (report-only, labels)"))

load = FrameModel.load


def train(s: dict, out_dir: Path, features_record: dict, text_record: dict, symbols: list[str], p: dict) -> dict:
    """Decipherment and self-training rounds of every chain (resumed), the round selected without labels.

    ``s``: this method's settings; ``p``: the stage's parameters (``seed``, ``log_level``). Returns the selection:
    ``run``, ``checkpoint``, ``rule``, ``metric``, ``seconds``, ``seed``/``round`` chosen, every round's signals."""
    frames = {split: feature_files.read_utterances(features_record["dir"], split) for split in ("train", "valid")}
    settings = {k: s[k] for k in ("groups", "min_run", "tokens", "split", "restarts", "iters", "refine", "refine_iters",
                                  "rounds", "epochs", "hidden")}
    result = selftrain.run_chains(out_dir, frames, feature_files.read_units(features_record["centroids"], "train"),
                                  phone_lines(text_record["phone_text"], symbols), symbols, settings,
                                  lm.load(text_record["phone_lm"]), read_references(text_record["references"], "valid"),
                                  [int(seed) for seed in s["seeds"]], s["screen_rounds"])
    rounds = [{"seed": seed, **r} for seed, chain in result["chains"].items() for r in chain["rounds"]]
    chosen = selftrain.select_round(rounds)
    name = f"seed{chosen['seed']}-round-{chosen['round']}"
    seconds = sum(c["decipherment"]["seconds"] + sum(r["seconds"] for r in c["rounds"]) for c in result["chains"].values())
    log.info("05_train: selected %s (train phone-LM perplexity %.2f, no labels)", name, chosen["phone_lm_ppl_train"])
    return {"run": name, "rule": "lowest_train_phone_lm_ppl", "metric": chosen["phone_lm_ppl_train"],
            "checkpoint": str(out_dir / f"chain-seed{chosen['seed']}" / "rounds" / f"round-{chosen['round']}" / "model.pt"),
            "round": chosen["round"], "seed": chosen["seed"], "continued_seed": result["continued"],
            "seconds": round(seconds, 1), "rounds": rounds,
            "decipherment": {str(seed): c["decipherment"] for seed, c in result["chains"].items()}}


def history(summary: dict) -> list[dict]:
    """One row per chain and round: ``run`` (the chain), ``step`` (the round) and the round's signals."""
    return [{"run": f"chain seed {r['seed']}", "step": r["round"], **r} for r in summary["rounds"]]


def table(summary: dict) -> list[dict]:
    """One row per chain seed and round: label-free signals, report-only valid PER, seconds, selected or not."""
    return [{**r, "selected": f"seed{r['seed']}-round-{r['round']}" == summary["run"]} for r in summary["rounds"]]


def selected_step(summary: dict) -> int:
    """The selected round."""
    return summary["round"]


def metrics(summary: dict) -> dict:
    """Rounds run, the round and chain selected, chains, training and decipherment seconds."""
    return {"rounds": len(summary["rounds"]), "selected_round": summary["round"], "selected_seed": summary["seed"],
            "chains": len(summary["decipherment"]), "seconds": summary["seconds"],
            "decipherment_seconds": round(sum(d["seconds"] for d in summary["decipherment"].values()), 1),
            "method": LABEL}
