"""Research (issue 34): does a chain started from several weak screening chains' averaged labels learn?

    .venv/bin/python tools/research/ensemble_start.py --params data/profiles/demo-seed1-t1-bf16.yaml DIR --k 3 \
        --name NAME [--phone-rounds 5] [--word-rounds 12] [--scale 0.5]

DIR is the profile's stage-05 decipher folder. Its chains are ranked by their train phone-LM perplexity at the last
screening round (label-free, as stage 05 ranks them); the best ``k`` models' scaled likelihoods of every train frame
are averaged and decoded with the best chain's hybrid HMM, and those frame labels replace the best chain's own for
its next round, in a copy of that chain under ``--scratch`` (the original is not touched). The chain then runs
``--phone-rounds`` more phone rounds as stage 05 runs them (same settings, its patience) and ``--word-rounds``
word rounds from its lowest-perplexity round at acoustic ``--scale`` (no stop rule). One JSON row to
``reports/research/ensemble_start.jsonl``: per round the train perplexity (label-free) and valid PER (report-only).
Test is never read.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from _rows import append_row

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "ensemble_start.jsonl"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--params", required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--phone-rounds", type=int, default=5)
    ap.add_argument("--word-rounds", type=int, default=12)
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--scratch", default=str(REPO_ROOT / "data" / "ensemble_start"))
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT / "lib"))
    from aitranscribe.core import machine, registry
    from aitranscribe.core.files import atomic_save_npy
    from aitranscribe.core.logs import setup_logging
    from aitranscribe.core.params import load_profile
    from aitranscribe.core.stage import load_stage
    from aitranscribe.models import decipher
    from aitranscribe.models.decipher import selftrain
    from aitranscribe.text.phones import read_dictionary

    setup_logging("INFO")
    p = load_profile(args.params, {s.key: s.load().PARAMS for s in registry.STAGES})["train"]
    s = {**p["decipher"], "precision": decipher.precision(p["decipher"])}
    feat, text = load_stage(p, "features"), load_stage(p, "text")
    symbols = read_dictionary(text["dict_phn"])
    inputs = decipher._inputs(feat, text, symbols)
    screen = s["screen_rounds"]
    ranked = []
    for chain_dir in sorted(args.dir.glob("chain-seed*")):
        entry = chain_dir / "rounds" / f"round-{screen}" / "round.json"
        if entry.is_file():
            ranked.append((json.loads(entry.read_text())["phone_lm_ppl_train"], chain_dir))
    ranked.sort(key=lambda c: c[0])
    top = [chain_dir for _, chain_dir in ranked[:args.k]]
    t0, load = time.time(), os.getloadavg()[0]
    out = Path(args.scratch) / p["profile"] / args.name / top[0].name
    shutil.rmtree(out.parent, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy(top[0] / "decipherment.npz", out / "decipherment.npz")
    for k in range(1, screen + 1):
        shutil.copytree(top[0] / "rounds" / f"round-{k}", out / "rounds" / f"round-{k}")
    train = inputs["frames"]["train"]
    models = [decipher.load(chain_dir / "rounds" / f"round-{screen}" / "model.pt") for chain_dir in top]
    scores = [m.frame_scores(train) for m in models]
    mean = [np.mean([sc[i] for sc in scores], axis=0) for i in range(len(train))]
    labels = models[0].hmm.best_paths(mean)
    atomic_save_npy(out / "rounds" / f"round-{screen}" / "next_labels.npy", np.concatenate(labels).astype(np.int16))
    seed = int(top[0].name.removeprefix("chain-seed"))
    settings = {**s, "seed": seed, "rounds": screen + args.phone_rounds}
    chain = selftrain.run_chain(out, inputs["frames"], inputs["units"], inputs["lines"], symbols, settings,
                                inputs["phone_lm"], inputs["refs_valid"])
    start = selftrain.select_round(chain["rounds"])
    words = selftrain.run_word_rounds(out, inputs["frames"], {**start, "next": len(chain["rounds"]) + 1},
                                      inputs["lines"], symbols,
                                      {**settings, "word_rounds": args.word_rounds, "word_rounds_min": 0, "patience": 0},
                                      inputs["phone_lm"], inputs["refs_valid"], text["word_graph"], args.scale)
    row = {"name": args.name, "profile": p["profile"], "run": args.dir.name, "k": args.k,
           "chains": [c.name for c in top], "scale": args.scale, "precision": s["precision"],
           "rounds": [[r["round"], r.get("labels", "phones"), r["phone_lm_ppl_train"], r.get("per_valid_report_only"),
                       r.get("seconds")] for r in chain["rounds"] + words],
           "wall_seconds": round(time.time() - t0, 1), "cpu": machine.cpu().get("model"),
           "load_before": round(load, 2), "note": args.note, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    append_row(OUT, row)
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
