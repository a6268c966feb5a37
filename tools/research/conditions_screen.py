"""Research (issue 35): where a demo corpus with several engines and rooms loses its phones, per condition.

    .venv/bin/python tools/research/conditions_screen.py --profile demo-voices [--split valid]

For each utterance group of the corpus's ``corpus.json`` (all; each engine; each condition: clean, room, noise,
telephone, level; clean utterances of each engine): the valid PER of the label-free model and of the supervised
reference (stage 05's diagnostics), and the frame purity of stage 03's k-means units on train, the frames' phones
placed by forced alignment with the supervised reference (so purity is underestimated where the reference is
weak). Labels and engine/condition names are report-only: they only group the figures. One JSON row per group is
appended to ``reports/research/conditions_screen.jsonl``.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import torch

from aitranscribe import models
from aitranscribe.core import stage
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.decoding.phones import collapse
from aitranscribe.evaluation import by_voice
from aitranscribe.io import feature_files
from aitranscribe.models.decipher import supervised
from aitranscribe.text import error_rates
from aitranscribe.text.phones import read_references

sys.path.insert(0, str(Path(__file__).parent))
from _rows import append_row  # noqa: E402

OUT = REPO_ROOT / "reports" / "research" / "conditions_screen.jsonl"


def groups_of(utterance: dict) -> list[str]:
    """The groups an utterance of ``corpus.json`` counts in: each of its conditions on its own (stage 06's report
    joins them, ``room+noise``)."""
    conditions = by_voice.condition_of(utterance).split("+")
    engine = utterance.get("engine", "espeak-ng")
    out = ["all", f"engine {engine}", *(f"condition {c}" for c in conditions)]
    return out + ([f"clean {engine}"] if conditions == ["clean"] else [])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo-voices")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--split", default="valid", choices=("valid", "test"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    p = {"profile": args.profile, "data_root": args.data_root}
    records = {k: stage.load_stage(p, k) for k in ("train", "features", "text", "data")}
    corpus = json.loads((Path(records["data"]["dir"]) / "corpus.json").read_text())["utterances"]
    diagnostics = stage.stored_step(Path(records["train"]["dir"]) / "diagnostics.json")
    reference = models.load(diagnostics["supervised_reference"]["checkpoint"])
    rows = collections.defaultdict(dict)

    frames = feature_files.read_utterances(records["features"]["dir"], args.split)
    refs = read_references(records["text"]["references"], args.split)
    for name, checkpoint in (("label-free", records["train"]["checkpoint"]), ("supervised reference", None)):
        model = reference if checkpoint is None else models.load(checkpoint)
        hyps = [collapse(path, model.symbols) for path in model.frame_paths(frames)]
        pairs = collections.defaultdict(list)
        for utterance, hyp, ref in zip(corpus[args.split], hyps, refs):
            for group in groups_of(utterance):
                pairs[group].append((hyp, ref))
        for group, got in pairs.items():
            rows[group].update({f"per_{args.split}_{name.replace(' ', '_')}": round(error_rates.per(
                [h for h, _ in got], [r for _, r in got]), 4), f"utterances_{args.split}": len(got)})

    train = feature_files.read_utterances(records["features"]["dir"], "train")
    units = feature_files.read_units(records["features"]["centroids"], "train")
    aligned = supervised.align_split(reference, train, read_references(records["text"]["references"], "train"))
    counts = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    for utterance, labels, unit in zip(corpus["train"], aligned, units):
        for group in groups_of(utterance):
            for u, label in zip(unit.tolist(), labels.tolist()):
                counts[group][u][label] += 1
    for group, by_unit in counts.items():
        total = sum(sum(c.values()) for c in by_unit.values())
        rows[group].update({"unit_purity_train": round(sum(max(c.values()) for c in by_unit.values()) / total, 4),
                            "frames_train": total})
    for group in sorted(rows):
        append_row(OUT, {"profile": args.profile, "group": group, **rows[group]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
