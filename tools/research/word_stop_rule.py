"""Research (issue 37): what a label-free stop rule would save of stage 05's word rounds, read off finished runs.

    .venv/bin/python tools/research/word_stop_rule.py [--patience 3 5 8] [--from-round 10]

Reads every finished chain with at least 40 word rounds under ``data/*/05_train/`` (their ``round.json`` files;
nothing runs) and replays stage 05's own stop rule (``patience`` word rounds without a lower train phone-LM
perplexity than the rounds before them and the chain's start, once ``--from-round`` word rounds ran) and its
selection (the lowest perplexity). Per patience: the mean share of rounds run and how much higher the
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
sys.path.insert(0, str(REPO_ROOT / "lib"))
from aitranscribe.models.decipher import selftrain  # noqa: E402 (the kit's own stop rule and selection)

OUT = REPO_ROOT / "reports" / "research" / "word_stop_rule.jsonl"


def chain_rounds(rounds_dir: Path) -> tuple[dict, list[dict]]:
    """A chain's start (its phone round of lowest perplexity, from which the word rounds went on) and its word
    rounds (not polishing ones), in order, from its ``rounds/``."""
    found = sorted((json.loads(f.read_text()) for f in rounds_dir.glob("round-*/round.json")), key=lambda r: r["round"])
    phones = [r for r in found if r.get("labels") != "words"]
    words = [r for r in found if r.get("labels") == "words" and not r.get("polish")]
    return (selftrain.select_round(phones) if phones else None), words


def replay(start: dict, rounds: list[dict], patience: int, from_round: int) -> tuple[dict, int]:
    """The round stage 05's stop rule and selection would keep of ``rounds``, and how many it would run."""
    s = {"patience": patience, "word_rounds_min": from_round}
    ran = next((n for n in range(len(rounds)) if selftrain._words_stalled(start, rounds[:n], s)), len(rounds))
    return selftrain.select_round(rounds[:ran]), ran


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patience", type=int, nargs="+", default=[3, 5, 8])
    ap.add_argument("--from-round", type=int, default=10)
    args = ap.parse_args(argv)
    runs = {}
    for rounds_dir in sorted((REPO_ROOT / "data").glob("*/05_train/*/*/rounds")):
        start, rounds = chain_rounds(rounds_dir)
        if start is not None and len(rounds) >= 40:
            runs[str(rounds_dir.relative_to(REPO_ROOT))] = start, rounds
    if not runs:
        raise SystemExit("no finished chain with 40 word rounds under data/*/05_train/")
    selected = {k: selftrain.select_round(w) for k, (_, w) in runs.items()}
    for patience in args.patience:
        used, higher = [], []
        for k, (start, rounds) in runs.items():
            best, n = replay(start, rounds, patience, args.from_round)
            used.append(n / len(rounds))
            higher.append(best["per_valid_report_only"] - selected[k]["per_valid_report_only"])
        row = {"patience": patience, "from_round": args.from_round, "chains": len(runs),
               "share_of_rounds_run": round(sum(used) / len(used), 3),
               "valid_per_higher_mean": round(sum(higher) / len(higher), 4), "valid_per_higher_max": round(max(higher), 4),
               "selected_word_round": sorted(selected[k]["round"] - runs[k][1][0]["round"] + 1 for k in runs),
               "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        print(json.dumps(row))
        append_row(OUT, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
