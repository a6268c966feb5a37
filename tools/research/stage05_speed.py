"""Stage 05 (method decipher) component times of two versions of the kit, side by side (issue 18, item 4).

    .venv/bin/python tools/research/stage05_speed.py PROFILE RUN_DIR --lib OLD/lib --lib NEW/lib [--repeats 2] [--whole]

Each version's components run in a fresh process of their own, the versions alternating (A B A B ...), so both see
the same machine: one decipherment (segment tokens, EM restarts, triples' refinement), one self-training round on
phone labels (classifier, hybrid-HMM decoding, the triples' EM restarted from its labels) and one round on
word-graph labels (the train utterances decoded through the word graph, then the round). RUN_DIR: a finished
stage-05 run of PROFILE (its chain's round-5 labels and round-19 model are the inputs). A row per version and
repeat is appended to ``reports/research/stage05_speed.jsonl``.

With ``--whole`` each version instead runs all of stage 05 (``stages.train.run``, no report-only figures) on
PROFILE's stage 03-04 outputs, into a data root of its own under ``--scratch``, and the row holds its wall time and
its selection (chain, round, label-free metric, report-only valid PER). A fixed single-thread probe (float32 matrix products, ~10 s) runs
before every version, so a change of the machine's speed between the runs shows in the rows.
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

WHOLE = r'''
import json, sys, time
lib, params_path, data_root = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, lib)
from aitranscribe.core import registry
from aitranscribe.core.params import load_profile
from aitranscribe.stages import train

if __name__ == "__main__":
    profile = load_profile(params_path, {s.key: s.load().PARAMS for s in registry.STAGES})
    p = {**profile["train"], "data_root": data_root}
    t = time.time()
    record = train.run(p)
    seconds = time.time() - t
    summary = json.load(open(f"{train.output_dir(p)}/summary.json"))
    chosen = [r for r in summary["rounds"] if (r["seed"], r["round"]) == (summary["seed"], summary["round"])][0]
    print(json.dumps({"stage_wall_s": round(seconds, 1), "train_seconds": summary.get("seconds"),
                      "rounds": len(summary["rounds"]), "per_valid_report_only": chosen["per_valid_report_only"],
                      "run": summary["run"], "metric": summary["metric"], "rule": summary["rule"],
                      "precision": summary.get("precision", "fp32")}))
'''

PROBE = r'''
import time, torch
torch.set_num_threads(1)
a = torch.randn(1024, 1024)
t = time.time()
for _ in range(400):
    a @ a
print(round(400 * 2 * 1024 ** 3 / (time.time() - t) / 1e9, 1))
'''

CHILD = r'''
import json, sys, time
import numpy as np, torch
lib, data, run_dir, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, lib)
from aitranscribe.models import decipher
from aitranscribe.models.decipher import selftrain, decipherment as D
from aitranscribe.models.decipher.hmm import transitions, PhoneHMM
from aitranscribe.models.decipher.model import FrameModel
from aitranscribe.decoding import graph

if __name__ == "__main__":
    torch.set_num_threads(2)
    feat = json.load(open(f"{data}/stages/features.json"))
    text = json.load(open(f"{data}/stages/text.json"))
    symbols = json.load(open(f"{data}/stages/train.json"))["symbols"]
    inputs = decipher._inputs(feat, text, symbols)
    s = {name: spec.default for name, spec in decipher.PARAMS.items()}
    s.update({"restarts": 60, "seed": seed, "epochs": 3, "hidden": 256, "workers": 2})
    if "precision" in s:
        s["precision"] = decipher.precision(s)
    trans = transitions(inputs["lines"], len(symbols))
    s["hmm_tokens"] = PhoneHMM(trans["start"], trans["end"], trans["between"], s["split"])
    s["hmm_tokens"].paths(np.zeros((1, 3, len(symbols))), [3])  # numba compiled before timing
    out = {}
    t = time.time()
    tokens, bounds = D.segment_tokens({"train": inputs["frames"]["train"]}, {"train": inputs["units"]}, s["groups"],
                                      s["min_run"], s["tokens"], seed)
    tokens, bounds = tokens["train"], bounds["train"]
    model = D.SkipGramModel(tokens, s["tokens"], inputs["lines"], len(symbols), split=s["split"])
    tables = D.restarts(model, len(symbols), s["tokens"], s["restarts"], s["iters"], s["refine"], s["refine_iters"],
                        seed, True)
    objective, table = D.best_table(model, tables)
    out["decipherment_s"] = time.time() - t
    lengths = [len(x) for x in inputs["frames"]["train"]]
    chain = f"{run_dir}/chain-seed{seed}/rounds"
    labels = np.split(np.load(f"{chain}/round-5/next_labels.npy").astype(np.int64), np.cumsum(lengths)[:-1])
    t = time.time()
    got = selftrain._round(inputs["frames"], labels, trans, symbols, s, 5, inputs["phone_lm"], inputs["refs_valid"], True)
    decoded = got[2]
    phones = [D.majority(p, b) for p, b in zip(decoded, bounds)]
    table = D.em(model.loglik, D.table_from_labels(phones, tokens, len(symbols), s["tokens"]), s["refine_iters"])
    selftrain._frame_labels(s["hmm_tokens"], table, tokens, bounds)
    out["phone_round_s"] = time.time() - t
    out["phone_round_per_valid"] = got[1]["per_valid_report_only"]
    start = FrameModel.load(f"{chain}/round-19/model.pt")
    t = time.time()
    scores = start.utterance_scores(inputs["frames"]["train"])
    steps = [r["steps"] for r in graph.decode_all(text["word_graph"], scores, start.stay, 0.5, workers=2)]
    out["word_labels_s"] = time.time() - t
    got = selftrain._round(inputs["frames"], steps, trans, symbols, s, 20, inputs["phone_lm"], inputs["refs_valid"], True)
    out["word_round_s"] = time.time() - t
    out["word_round_per_valid"] = got[1]["per_valid_report_only"]
    print(json.dumps({k: round(v, 4 if "per" in k else 1) for k, v in out.items()}))
'''


def git_of(lib: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=lib, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("run_dir", help="a finished stage-05 run of the profile (decipher method)")
    parser.add_argument("--lib", action="append", required=True, help="a version's lib/ directory (two or more)")
    parser.add_argument("--seed", type=int, default=1, help="the chain whose rounds are the inputs")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--whole", action="store_true", help="time all of stage 05 per version (see above)")
    parser.add_argument("--scratch", default="/tmp/stage05_whole", help="--whole: where each version writes")
    args = parser.parse_args()
    if args.whole:
        return whole(args)
    data = REPO_ROOT / "data" / args.profile
    out = REPO_ROOT / "reports" / "research" / "stage05_speed.jsonl"
    sys.path.insert(0, str(REPO_ROOT / "lib"))
    from aitranscribe.core import machine

    for repeat in range(args.repeats):
        for lib in args.lib:
            result = subprocess.run([sys.executable, "-c", CHILD, lib, str(data), args.run_dir, str(args.seed)],
                                    capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if result.returncode:
                raise SystemExit(f"{lib}: {result.stderr[-2000:]}")
            row = {"profile": args.profile, "version": git_of(Path(lib)), "repeat": repeat,
                   **json.loads(result.stdout.strip().splitlines()[-1]), "cpu": machine.cpu().get("model"),
                   "load_before": os.getloadavg()[0], "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            with out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


def whole(args) -> None:
    """All of stage 05 per version, each in a fresh data root fed with PROFILE's stage 01-04 records."""
    data = REPO_ROOT / "data" / args.profile
    params_path = REPO_ROOT / "params" / f"{args.profile}.yaml"
    out = REPO_ROOT / "reports" / "research" / "stage05_speed.jsonl"
    sys.path.insert(0, str(REPO_ROOT / "lib"))
    from aitranscribe.core import machine

    for repeat in range(args.repeats):
        for i, lib in enumerate(args.lib):
            root = Path(args.scratch) / f"v{i}-r{repeat}"
            (root / args.profile / "stages").mkdir(parents=True, exist_ok=True)
            for key in ("data", "audio_prep", "features", "text"):
                (root / args.profile / "stages" / f"{key}.json").write_text((data / "stages" / f"{key}.json").read_text())
            probe = float(subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                                         check=True).stdout)
            started = time.strftime("%Y-%m-%dT%H:%M:%S")
            result = subprocess.run([sys.executable, "-c", WHOLE, lib, str(params_path), str(root)],
                                    capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if result.returncode:
                raise SystemExit(f"{lib}: {result.stderr[-3000:]}")
            row = {"profile": args.profile, "mode": "whole_stage", "version": git_of(Path(lib)), "repeat": repeat,
                   **json.loads(result.stdout.strip().splitlines()[-1]), "probe_gflops_1thread": probe,
                   "cpu": machine.cpu().get("model"), "started": started,
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            with out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
