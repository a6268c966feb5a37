"""Research (issue 37): what a label-free stop rule would save of stage 05's word rounds, read off finished runs.

    .venv/bin/python tools/research/word_stop_rule.py [--patience 3 5 8] [--from-round 10]

Reads every finished chain with at least 40 word rounds under ``data/*/05_train/`` (their ``round.json`` files;
nothing runs) and replays a stop after ``patience`` word rounds without a lower train phone-LM perplexity, from
round ``--from-round`` of the word rounds on. Per patience: the mean share of rounds run and how much higher the
valid PER (report-only) of the round then selected is than that of the run's own selection. One JSON row per
patience to ``reports/research/word_stop_rule.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _rows import append_row

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "word_stop_rule.jsonl"


def word_rounds(rounds_dir: Path) -> list[dict]:
    """The word rounds (not polishing ones) of a chain's ``rounds/``, in order."""
    found = [json.loads(f.read_text()) for f in rounds_dir.glob("round-*/round.json")]
    return sorted((r for r in found if r.get("labels") == "words" and not r.get("polish")), key=lambda r: r["round"])


def replay(rounds: list[dict], patience: int, from_round: int) -> tuple[dict, int]:
    """The round a stop rule would select and how many rounds it would run."""
    best, since = None, 0
    for i, r in enumerate(rounds):
        if best is None or r["phone_lm_ppl_train"] < best["phone_lm_ppl_train"]:
            best, since = r, 0
        else:
            since += 1
        if i + 1 >= from_round and since >= patience:
            return best, i + 1
    return best, len(rounds)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patience", type=int, nargs="+", default=[3, 5, 8])
    ap.add_argument("--from-round", type=int, default=10)
    args = ap.parse_args(argv)
    runs = {}
    for rounds_dir in sorted((REPO_ROOT / "data").glob("*/05_train/*/*/rounds")):
        rounds = word_rounds(rounds_dir)
        if len(rounds) >= 40:
            runs[str(rounds_dir.relative_to(REPO_ROOT))] = rounds
    if not runs:
        raise SystemExit("no finished chain with 40 word rounds under data/*/05_train/")
    selected = {k: min(w, key=lambda r: r["phone_lm_ppl_train"]) for k, w in runs.items()}
    for patience in args.patience:
        used, higher = [], []
        for k, rounds in runs.items():
            best, n = replay(rounds, patience, args.from_round)
            used.append(n / len(rounds))
            higher.append(best["per_valid_report_only"] - selected[k]["per_valid_report_only"])
        row = {"patience": patience, "from_round": args.from_round, "chains": len(runs),
               "share_of_rounds_run": round(sum(used) / len(used), 3),
               "valid_per_higher_mean": round(sum(higher) / len(higher), 4), "valid_per_higher_max": round(max(higher), 4),
               "selected_word_round": sorted(selected[k]["round"] - runs[k][0]["round"] + 1 for k in runs),
               "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        print(json.dumps(row))
        append_row(OUT, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
