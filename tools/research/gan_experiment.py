"""Run one measured experiment of unsupervised training (issue 9) and append its row to a results table.

    .venv/bin/python tools/research/gan_experiment.py NAME [--base params/demo.yaml] [section.param=value ...]
        [train.METHOD.param=value ...]

Stages 01, 02 and 04 run (or are reused) in the base profile; 03 and 05 run with the overrides in the
scratch profile ``<base profile>-<NAME>`` under the same data root, then the report-only evaluation of
stage 05 (held-out PER, chance, supervised reference, unit purity, objective check) is computed.
The row (overrides, label-free selection, PERs, purity, training seconds, machine and versions) is written
to ``reports/research/gan_experiments.json``. Labels are used only by the evaluation, never by training
or selection. Stage 05's method settings are nested sections (``train.gan.updates=500``); the rows read the
GAN's runs, so a base profile whose method is not ``gan`` needs ``train.method=gan``. Example::

    .venv/bin/python tools/research/gan_experiment.py pool03 features.pool_rate=0.3 train.method=gan
    .venv/bin/python tools/research/gan_experiment.py gan500 train.method=gan train.gan.updates=500
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

from aitranscribe.core import registry, stage
from aitranscribe.core.errors import KitError
from aitranscribe.core.files import atomic_write_json
from aitranscribe.core.logs import setup_logging
from aitranscribe.core.params import load_profile, validate, stage_spec
from aitranscribe.core.paths import REPO_ROOT

log = logging.getLogger("gan_experiment")

RESULTS = REPO_ROOT / "reports" / "research" / "gan_experiments.json"
SHARED = ("data", "audio_prep", "text")


def parse_overrides(items: list[str]) -> dict[str, dict]:
    """``section.param=value`` (value in YAML) -> ``{section: {param: value}}``; ``section.sub.param=value`` (a
    nested section such as ``train.gan``) -> ``{section: {sub: {param: value}}}``."""
    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        names = key.split(".")
        if not sep or len(names) not in (2, 3) or not all(names):
            raise KitError(f"override {item!r}: expected section.param=value or section.sub.param=value")
        target = out.setdefault(names[0], {})
        if len(names) == 3:
            target = target.setdefault(names[1], {})
            if not isinstance(target, dict):
                raise KitError(f"override {item!r}: {names[0]}.{names[1]} is already set to a value")
        target[names[-1]] = yaml.safe_load(value)
    return out


def machine() -> dict:
    import torch

    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    return {"machine": platform.machine(), "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "torch": torch.__version__, "git_sha": sha.stdout.strip()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("overrides", nargs="*", help="section.param=value or train.METHOD.param=value")
    parser.add_argument("--base", default="params/demo.yaml")
    parser.add_argument("--note", default="", help="what the experiment tests")
    parser.add_argument("--features-from", default="", metavar="NAME",
                        help="reuse the 03 features of experiment NAME (its overrides of features must be the same)")
    args = parser.parse_args(argv)
    setup_logging("INFO")
    infos = {s.key: s for s in registry.STAGES[:5]}
    specs = {key: info.load().PARAMS for key, info in infos.items()}
    base = load_profile(REPO_ROOT / args.base, {**specs, **{s.key: s.load().PARAMS for s in registry.STAGES[5:]}})
    overrides = parse_overrides(args.overrides)
    unknown = set(overrides) - set(specs)
    if unknown:
        raise KitError(f"overrides for unknown sections {sorted(unknown)}; known: {sorted(specs)}")
    scratch = f"{base['data']['profile']}-{args.name}"
    p = {}
    own_corpus = any(overrides.get(key) for key in SHARED)  # then every stage runs in the scratch profile
    for key in specs:
        values = {**base[key], **overrides.get(key, {})}
        for name, value in overrides.get(key, {}).items():  # a nested section (train.gan): the base's, changed
            if isinstance(value, dict) and getattr(specs[key].get(name), "spec", None) is not None:
                values[name] = {**base[key][name], **value}
        if own_corpus or key not in SHARED:
            values["profile"] = scratch
        p[key] = validate(values, stage_spec(specs[key]), f"{args.name} [{key}]")

    modules = {key: infos[key].load() for key in specs}
    start = time.time()
    modules["data"].run(p["data"])
    modules["audio_prep"].run(p["audio_prep"])
    modules["text"].run(p["text"])
    for key in SHARED:  # the scratch profile reads the shared stages' records
        if p[key]["profile"] != scratch:
            stage.record_stage({**p[key], "profile": scratch}, key, stage.load_stage(p[key], key))
    if args.features_from:  # the record of the other experiment's finished 03 (its own profile holds the files)
        source = {**p["features"], "profile": f"{base['data']['profile']}-{args.features_from}"}
        features_record = stage.load_stage(source, "features")
        stage.record_stage(p["features"], "features", features_record)
    else:
        features_record = modules["features"].run(p["features"])
    train = modules["train"]
    record = train.run(p["train"])
    report = train.evaluate(p["train"], record)
    selection = stage.load_summary(record)
    curves = {}
    for run in selection["runs"]:
        history = json.loads((Path(run["dir"]) / "history.json").read_text())
        curves[run["run"]] = [(e["update"], round(e["weighted_lm_ppl"], 1), round(e.get("per_valid_report_only", -1), 4))
                              for e in history]
    summary = stage.load_summary(features_record)
    row = {
        "name": args.name, "note": args.note, "base": args.base, "overrides": overrides,
        "per_test": report.get("per_test"), "per_valid": report.get("per_valid"), "per_chance": report.get("per_chance"),
        "per_supervised": report.get("per_supervised"), "unit_purity": report.get("unit_purity", {}).get("purity"),
        "segments_per_second": summary["segments_per_second"],
        "selection": report["selection"], "objective_check": report.get("objective_check"),
        "train_seconds": round(sum(r["seconds"] for r in selection["runs"]), 1),
        "train_wall_seconds": selection["seconds"], "features_seconds": summary.get("seconds"),
        "updates": [r["updates"] for r in selection["runs"]],
        "curves (update, weighted_lm_ppl, per_valid report-only)": curves,
        "wall_seconds": round(time.time() - start, 1), **machine(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    rows = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    rows = [r for r in rows if r["name"] != args.name] + [row]
    atomic_write_json(RESULTS, rows)
    log.info("%s: test PER %.3f (valid %.3f, chance %.3f, supervised %.3f), purity %s, training %.0f s wall",
             args.name, row["per_test"], row["per_valid"], row["per_chance"], row["per_supervised"] or -1,
             row["unit_purity"], row["train_wall_seconds"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
