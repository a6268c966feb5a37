"""Research (issue 34): stage 05's rounds on word-graph labels from one start model, with changed settings.

    .venv/bin/python tools/research/word_rounds_screen.py --params PROFILE.yaml --start MODEL.pt --name NAME \
        --rounds 10 [--scale 0.5] [KEY=VALUE ...]

From ``--start`` (a round's ``model.pt`` of a finished or interrupted stage 05 run of the profile), ``--rounds``
rounds on labels from the lexicon + word LM graph at acoustic ``--scale`` (stage 05 chooses it on valid without
labels; give the chosen one) with the profile's ``train.decipher`` settings changed by KEY=VALUE (e.g.
``word_warm_start=true``, ``epochs=5``, ``hidden=512``); the stop rule is off, every round runs. One JSON row per
screen to ``reports/research/word_rounds_screen.jsonl``: per round the train phone-LM perplexity (label-free) and
the valid PER (report-only); test is never read.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

from _rows import append_row

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "word_rounds_screen.jsonl"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", required=True)
    ap.add_argument("--start", required=True, help="a round's model.pt")
    ap.add_argument("--name", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0, help="the rounds' classifier seeds start here")
    ap.add_argument("--scratch", default=str(REPO_ROOT / "data" / "word_rounds_screen"))
    ap.add_argument("--note", default="")
    ap.add_argument("settings", nargs="*")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT / "lib"))
    from aitranscribe.core import machine, registry
    from aitranscribe.core.logs import setup_logging
    from aitranscribe.core.params import load_profile
    from aitranscribe.core.stage import load_stage
    from aitranscribe.models import decipher
    from aitranscribe.models.decipher import selftrain
    from aitranscribe.text.phones import read_dictionary

    setup_logging("INFO")
    changed = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.settings)}
    p = load_profile(args.params, {s.key: s.load().PARAMS for s in registry.STAGES})["train"]
    s = {**p["decipher"], **changed}
    feat, text = load_stage(p, "features"), load_stage(p, "text")
    symbols = read_dictionary(text["dict_phn"])
    inputs = decipher._inputs(feat, text, symbols)
    out = Path(args.scratch) / p["profile"] / args.name
    shutil.rmtree(out, ignore_errors=True)
    (out / "rounds" / "round-0").mkdir(parents=True)
    shutil.copy(args.start, out / "rounds" / "round-0" / "model.pt")
    settings = {**s, "precision": decipher.precision(s), "patience": 0, "word_rounds": args.rounds,
                "seed": args.seed}
    load, t0 = os.getloadavg()[0], time.time()
    rounds = selftrain.run_word_rounds(out, inputs["frames"], {"round": 0, "next": 1, "phone_lm_ppl_train": 0.0},
                                       inputs["lines"], symbols, settings, inputs["phone_lm"], inputs["refs_valid"],
                                       text["word_graph"], args.scale, quiet=True)
    start = str(Path(args.start).resolve().relative_to(REPO_ROOT))
    row = {"name": args.name, "profile": p["profile"], "start": start,
           "scale": args.scale, "changed": changed, "precision": settings["precision"],
           "rounds": [[r["round"], r["phone_lm_ppl_train"], r.get("per_valid_report_only"), r["seconds"]]
                      for r in rounds],
           "wall_seconds": round(time.time() - t0, 1), "cpu": machine.cpu().get("model"),
           "load_before": round(load, 2), "note": args.note, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    append_row(OUT, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
