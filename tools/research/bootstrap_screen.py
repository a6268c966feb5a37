"""Research (issue 34): stage 05's decipher method on one corpus with changed settings, judged on valid only.

    .venv/bin/python tools/research/bootstrap_screen.py --params PROFILE.yaml --name NAME [KEY=VALUE ...]

KEY is a setting of ``train.decipher`` (``restarts=120``, ``seeds=[0,1,2,3]``, ``training_seed=1``,
``precision=fp32``...), VALUE YAML. Stage 05 trains on the profile's stage 03-04 outputs (they must exist: run
the profile ``--to 04`` first) into its own hashed directory, so screens never overwrite each other; a finished
screen is read back, not trained again. One JSON row per screen is appended to
``reports/research/bootstrap_screen.jsonl``: the corpus seed, the settings changed, every chain's decipherment
objective and its rounds (train phone-LM perplexity, the label-free signal; valid PER, report-only), the chain
continued and the round selected, training seconds, the CPU and the load before the run. No test figure is read:
choices made from these rows see valid only.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from _rows import append_row

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "bootstrap_screen.jsonl"


def chains(summary: dict) -> dict:
    """Per chain seed: decipherment objective, then (round, labels, ppl, valid PER) of each of its rounds."""
    out = {}
    for seed, d in summary["decipherment"].items():
        rounds = [r for r in summary["rounds"] if str(r["seed"]) == seed]
        out[seed] = {"objective": d["objective"], "seconds": d["seconds"],
                     "rounds": [[r["round"], r.get("labels", "phones"), r["phone_lm_ppl_train"],
                                 r.get("per_valid_report_only")] for r in rounds]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", required=True, help="the profile whose stage 03-04 outputs are trained on")
    ap.add_argument("--name", required=True, help="the screen's name in the row")
    ap.add_argument("--note", default="", help="free text kept in the row (e.g. what else ran on the machine)")
    ap.add_argument("settings", nargs="*", help="train.decipher KEY=VALUE (VALUE in YAML)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT / "lib"))
    from aitranscribe.core import machine, registry
    from aitranscribe.core.logs import setup_logging
    from aitranscribe.core.params import load_profile, stage_spec, validate
    from aitranscribe.core.stage import load_summary
    from aitranscribe.stages import train

    setup_logging("INFO")
    changed = {}
    for item in args.settings:
        key, _, value = item.partition("=")
        changed[key] = yaml.safe_load(value)
    profile = load_profile(args.params, {s.key: s.load().PARAMS for s in registry.STAGES})
    p = profile["train"]
    p = validate({**p, "decipher": {**p["decipher"], **changed}}, stage_spec(train.PARAMS), args.params)
    load = os.getloadavg()[0]
    t0 = time.time()
    record = train.run(p)
    summary = load_summary(record)
    chosen = next(r for r in summary["rounds"] if (r["seed"], r["round"]) == (summary["seed"], summary["round"]))
    row = {"name": args.name, "profile": p["profile"], "corpus_seed": p["seed"], "changed": changed,
           "selected": summary["run"], "continued_seed": summary.get("continued_seed"),
           "metric": summary["metric"], "per_valid_report_only": chosen.get("per_valid_report_only"),
           "train_seconds": summary["seconds"], "wall_seconds": round(time.time() - t0, 1),
           "precision": summary.get("precision"), "word_scale": summary.get("word_scale"),
           "chains": chains(summary), "dir": Path(record["dir"]).name, "cpu": machine.cpu().get("model"),
           "load_before": round(load, 2), "note": args.note, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    append_row(OUT, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
