"""Research (issue 34, item 3): where two arithmetic paths make one decipher chain part ways.

    .venv/bin/python tools/research/divergence_screen.py --params PROFILE.yaml --seed 0 --rounds 3 \
        --path bf16:2 --path fp32:2 --path fp32:1 [--word-rounds 2]

Each ``--path PRECISION:THREADS`` runs one chain of stage 05's decipher method (the profile's ``train.decipher``
settings, chain ``--seed``) in a process of its own with that classifier precision and that many torch/BLAS
threads, into a scratch directory, then fingerprints every step: the segment tokens and bounds, the decipherment's
table and objective, the first frame labels, and per round the classifier's weights, the train paths' labels, the
label-free perplexity and the report-only valid PER; with ``--word-rounds`` also that many rounds on word-graph
labels from the chain's best round. One JSON row per path is appended to ``reports/research/divergence.jsonl``;
the printed table says at which step the paths first differ. Labels are used only for the valid PER; test is
never read.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "divergence.jsonl"

CHILD = r'''
import hashlib, json, sys
import numpy as np, torch
params_path, seed, rounds, word_rounds, precision, scratch = sys.argv[1:7]
from aitranscribe.core import registry
from aitranscribe.core.logs import setup_logging
from aitranscribe.core.params import load_profile
from aitranscribe.core.stage import load_stage
from aitranscribe.models import decipher
from aitranscribe.models.decipher import selftrain
from aitranscribe.text.phones import read_dictionary
from pathlib import Path

def digest(*arrays):
    h = hashlib.sha1()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:12]

setup_logging("WARNING")
profile = load_profile(params_path, {s.key: s.load().PARAMS for s in registry.STAGES})
p = profile["train"]
s = dict(p["decipher"])
feat, text = load_stage(p, "features"), load_stage(p, "text")
symbols = read_dictionary(text["dict_phn"])
settings = {k: s[k] for k in ("groups", "min_run", "tokens", "split", "restarts", "iters", "refine", "refine_iters",
                              "epochs", "hidden", "word_rounds", "workers", "patience")}
settings.update({"precision": precision, "patience": 0, "word_rounds": int(word_rounds)})
inputs = decipher._inputs(feat, text, symbols)
out = Path(scratch)
chain = decipher._chain(out, inputs, symbols, settings, int(seed), int(rounds), quiet=True)
z = np.load(out / f"chain-seed{seed}" / "decipherment.npz")
steps = {"tokens": digest(z["tokens"], z["bounds"]), "table": digest(z["table"]),
         "objective": float(z["objective"]), "labels0": digest(z["labels"])}
rows = []
for r in chain["rounds"]:
    d = out / f"chain-seed{seed}" / "rounds" / f"round-{r['round']}"
    state = torch.load(d / "model.pt", weights_only=True)
    rows.append({"round": r["round"], "weights": digest(*[v.numpy() for v in state["net"].values()]),
                 "next_labels": digest(np.load(d / "next_labels.npy")), "ppl": r["phone_lm_ppl_train"],
                 "per_valid_report_only": r.get("per_valid_report_only")})
if int(word_rounds):
    start = selftrain.select_round(chain["rounds"])
    more = selftrain.run_word_rounds(out / f"chain-seed{seed}", inputs["frames"],
                                     {**start, "next": len(chain["rounds"]) + 1}, inputs["lines"], symbols,
                                     {**settings, "seed": int(seed)}, inputs["phone_lm"], inputs["refs_valid"],
                                     text["word_graph"], 0.5, quiet=True)
    for r in more:
        d = out / f"chain-seed{seed}" / "rounds" / f"round-{r['round']}"
        state = torch.load(d / "model.pt", weights_only=True)
        rows.append({"round": r["round"], "labels": "words", "weights": digest(*[v.numpy() for v in state["net"].values()]),
                     "ppl": r["phone_lm_ppl_train"], "per_valid_report_only": r.get("per_valid_report_only")})
print(json.dumps({"steps": steps, "rounds": rows, "decipherment_seconds": chain["decipherment"]["seconds"]}))
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", required=True)
    ap.add_argument("--seed", type=int, default=0, help="the chain seed")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--word-rounds", type=int, default=0)
    ap.add_argument("--path", action="append", required=True, help="PRECISION:THREADS, e.g. bf16:2 (two or more)")
    ap.add_argument("--scratch", default=str(REPO_ROOT / "data" / "divergence"))
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT / "lib"))
    from aitranscribe.core import machine

    results = {}
    for path in args.path:
        precision, threads = path.split(":")
        scratch = Path(args.scratch) / Path(args.params).stem / f"seed{args.seed}-{precision}-t{threads}"
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
               "OPENBLAS_NUM_THREADS": threads, "NUMBA_NUM_THREADS": threads,
               "PYTHONPATH": str(REPO_ROOT / "lib"), "PYTHONWARNINGS": "ignore"}
        load, t0 = os.getloadavg()[0], time.time()
        done = subprocess.run([sys.executable, "-c", CHILD, args.params, str(args.seed), str(args.rounds),
                               str(args.word_rounds), precision, str(scratch)], capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(f"{path}: {done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        row = {"params": Path(args.params).name, "seed": args.seed, "precision": precision, "threads": int(threads),
               **result, "wall_seconds": round(time.time() - t0, 1), "cpu": machine.cpu().get("model"),
               "load_before": round(load, 2), "note": args.note, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with OUT.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        results[path] = row
        print(json.dumps(row), flush=True)
    first, *others = args.path
    for other in others:
        a, b = results[first], results[other]
        parted = next((k for k in ("tokens", "table", "labels0") if a["steps"][k] != b["steps"][k]), None)
        if parted is None:
            parted = next((f"round {x['round']} {k}" for x, y in zip(a["rounds"], b["rounds"])
                           for k in ("weights", "next_labels") if x.get(k) != y.get(k)), "nowhere")
        print(f"{first} vs {other}: first differ at {parted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
