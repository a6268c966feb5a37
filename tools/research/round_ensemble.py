"""Research (issue 34): does averaging the frame scores of a chain's best rounds narrow the spread over training seeds?

    .venv/bin/python tools/research/round_ensemble.py --profile demo DIR [DIR ...] [--ks 1,3,5] [--name NAME]

Each DIR is a stage-05 decipher folder (``data/<profile>/05_train/decipher-<hash>``) of one training run on the
profile's corpus. For its continued chain, the ``k`` rounds with the lowest train phone-LM perplexity (label-free,
as the selection) are read, their scaled likelihoods of every valid frame averaged, and the average decoded as
stage 06 decodes: phones by the selected round's hybrid HMM, words through stage 04's word graph at the chain's
acoustic scale. ``k = 1`` is the selected model alone. Valid only (a choice is made here); labels only score.
One JSON row per run and ``k`` is appended to ``reports/research/round_ensemble.jsonl``.

    .venv/bin/python tools/research/round_ensemble.py --profile demo-seed1 DIR [DIR ...] --chains 3 [--name NAME]

With ``--chains R``, across chains instead: when every screening chain is weak, are several together better than
the best one? Every chain's model of screening round ``R`` scores every valid frame; the chains are ranked by their
train phone-LM perplexity at that round (label-free, as the screening ranks them); the scaled likelihoods of the
best ``k`` are averaged and decoded with the best chain's hybrid HMM, for every ``k``. Per ``k``: the valid
transcripts' phone-LM perplexity (label-free: it reads no reference) and valid PER (report-only); one JSON row
per run to ``reports/research/chain_ensemble.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aitranscribe import models
from aitranscribe.core import stage
from aitranscribe.core.logs import setup_logging
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.decoding import graph
from aitranscribe.decoding.phones import collapse
from aitranscribe.text import error_rates, lm
from aitranscribe.transcription import transcribe as tr

sys.path.insert(0, str(Path(__file__).parent))
from _rows import append_row  # noqa: E402
from words_screen import words_of  # noqa: E402

OUT = REPO_ROOT / "reports" / "research" / "round_ensemble.jsonl"
CHAINS_OUT = REPO_ROOT / "reports" / "research" / "chain_ensemble.jsonl"


def best_rounds(summary: dict, k: int) -> list[dict]:
    """The ``k`` rounds of the continued chain with the lowest train phone-LM perplexity, lowest first."""
    own = [r for r in summary["rounds"] if r["seed"] == summary["continued_seed"]]
    return sorted(own, key=lambda r: r["phone_lm_ppl_train"])[:k]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="+", help="stage-05 decipher folders of one profile's corpus")
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--ks", default="1,3,5")
    ap.add_argument("--name", default="")
    ap.add_argument("--chains", type=int, metavar="R", help="across the chains' screening round R instead")
    args = ap.parse_args(argv)
    setup_logging("INFO")
    torch.set_num_threads(1)
    p = {"profile": args.profile, "data_root": args.data_root}
    records = {k: stage.load_stage(p, k) for k in ("features", "audio_prep", "text")}
    if args.chains:
        for d in map(Path, args.dirs):
            append_row(CHAINS_OUT, {"name": args.name, "profile": args.profile, **across_chains(d, records,
                                                                                                args.chains)})
        return 0
    ks = [int(k) for k in args.ks.split(",")]
    for d in map(Path, args.dirs):
        summary = json.loads((d / "summary.json").read_text())
        chain_dir = d / summary.get("chain_dirs", {}).get(str(summary["continued_seed"]),
                                                          f"chain-seed{summary['continued_seed']}")
        selected = models.load(summary["checkpoint"])
        items = tr.split_items(selected, "valid", records)
        feats = [it["feats"] for it in items]
        refs_phones = [it["ref_phones"] for it in items]
        refs_words = [it["ref_words"] for it in items]
        cache = {}
        for k in ks:
            t0 = time.time()
            rounds = best_rounds(summary, k)
            parts = []
            for r in rounds:
                if r["round"] not in cache:
                    m = models.load(chain_dir / "rounds" / f"round-{r['round']}" / "model.pt")
                    cache[r["round"]] = m.frame_scores(feats)
                parts.append(cache[r["round"]])
            scores = [np.mean([p_[i] for p_ in parts], axis=0) for i in range(len(feats))]
            phones = [collapse(path, selected.symbols) for path in selected.hmm.best_paths(scores)]
            dec = graph.GraphDecoder(records["text"]["word_graph"], stay=selected.stay,
                                     acoustic_scale=summary["word_scale"])
            words = words_of(dec, [s.astype(np.float32) for s in scores])
            row = {"name": args.name, "profile": args.profile, "run": d.name, "split": "valid", "k": k,
                   "rounds": [r["round"] for r in rounds], "selected_round": summary["round"],
                   "training_seed": summary["continued_seed"] // 1000, "precision": summary.get("precision"),
                   "per": round(error_rates.per(phones, refs_phones), 4),
                   "wer": round(error_rates.wer(words, refs_words), 4), "seconds": round(time.time() - t0, 1)}
            append_row(OUT, row)
    return 0


def across_chains(d: Path, records: dict, screening_round: int) -> dict:
    """The row of ``--chains`` for the stage-05 folder ``d`` (see the module docstring)."""
    t0 = time.time()
    chains = []
    for chain_dir in sorted(d.glob("chain-seed*")):
        round_dir = chain_dir / "rounds" / f"round-{screening_round}"
        if (round_dir / "round.json").is_file():
            chains.append((json.loads((round_dir / "round.json").read_text())["phone_lm_ppl_train"], chain_dir.name,
                           models.load(round_dir / "model.pt")))
    chains.sort(key=lambda c: c[0])
    best = chains[0][2]
    items = tr.split_items(best, "valid", records)
    feats, refs = [it["feats"] for it in items], [it["ref_phones"] for it in items]
    scores = [m.frame_scores(feats) for _, _, m in chains]
    phone_lm = lm.load(records["text"]["phone_lm"])

    def decoded(frame_scores):
        return [collapse(path, best.symbols) for path in best.hmm.best_paths(frame_scores)]

    single = [{"chain": name, "phone_lm_ppl_train": ppl, "per_valid_report_only": round(error_rates.per(
        decoded(s), refs), 4)} for (ppl, name, _), s in zip(chains, scores)]
    ensembles = []
    for k in range(1, len(chains) + 1):
        phones = decoded([np.mean([s[i] for s in scores[:k]], axis=0) for i in range(len(feats))])
        ensembles.append({"k": k, "chains": [c[1] for c in chains[:k]],
                          "phone_lm_ppl_valid": round(lm.perplexity(phone_lm, [" ".join(x) for x in phones if x]), 3),
                          "per_valid_report_only": round(error_rates.per(phones, refs), 4)})
    return {"run": d.name, "round": screening_round, "single": single, "ensembles": ensembles,
            "seconds": round(time.time() - t0, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


if __name__ == "__main__":
    sys.exit(main())
