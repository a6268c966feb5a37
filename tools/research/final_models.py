"""Research (issue 34): what the final models of several training runs get wrong, and what averaging them gives.

    .venv/bin/python tools/research/final_models.py --profile demo NAME MODEL [NAME MODEL ...] \
        [--combine NAME+NAME ...] [--scale 0.5] [--top 12]

Each ``MODEL`` is a stage-05 ``model.pt`` (e.g. the round a run selected) trained on the profile's corpus. For each
model alone: valid PER (hybrid HMM), valid WER (stage 04's word graph at acoustic ``--scale``), the valid
transcripts' phone-LM perplexity (label-free) and its ``--top`` most frequent phone errors (substitution
``a>b``, deletion ``a>-``, insertion ``->b``, from the edit-distance alignment against the reference). For each
``--combine`` (names joined by ``+``): the models' scaled likelihoods averaged frame by frame and decoded the same
way with the first model's HMM, as ``round_ensemble.py`` averages rounds of one chain. Valid only; labels only
score. One JSON row per model or combination to ``reports/research/final_models.jsonl``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from _rows import append_row, name_pairs, valid_inputs, valid_words_parser

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "final_models.jsonl"


def main(argv=None) -> int:
    ap = valid_words_parser(__doc__)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--combine", nargs="*", default=[], help="NAME+NAME[+NAME...]")
    ap.add_argument("runs", nargs="+", help="NAME MODEL pairs")
    args = ap.parse_args(argv)
    pairs = dict(name_pairs(ap, args.runs, "MODEL"))
    records = valid_inputs(args.profile, REPO_ROOT)
    import torch

    from aitranscribe import models
    from aitranscribe.core import machine
    from aitranscribe.decoding import graph
    from aitranscribe.decoding.phones import collapse
    from aitranscribe.text import error_rates, lm
    from aitranscribe.transcription import transcribe as tr
    from words_screen import words_of

    torch.set_num_threads(1)
    loaded = {name: models.load(path) for name, path in pairs.items()}
    first = next(iter(pairs))
    items = tr.split_items(loaded[first], "valid", {**records, "train": {"checkpoint": pairs[first]}})
    feats = [it["feats"] for it in items]
    refs_phones, refs_words = [it["ref_phones"] for it in items], [it["ref_words"] for it in items]
    scores = {name: m.frame_scores(feats) for name, m in loaded.items()}
    phone_lm = lm.load(records["text"]["phone_lm"])
    groups = [[name] for name in pairs] + [c.split("+") for c in args.combine]
    for group in groups:
        t0 = time.time()
        base = loaded[group[0]]
        averaged = [np.mean([scores[name][i] for name in group], axis=0) for i in range(len(feats))]
        phones = [collapse(path, base.symbols) for path in base.hmm.best_paths(averaged)]
        decoder = graph.GraphDecoder(records["text"]["word_graph"], stay=base.stay, acoustic_scale=args.scale)
        words = words_of(decoder, [s.astype(np.float32) for s in averaged])
        append_row(OUT, {"profile": args.profile, "models": group,
                         "paths": [str(Path(pairs[n]).resolve().relative_to(REPO_ROOT)) for n in group],
                         "scale": args.scale, "per_valid_report_only": round(error_rates.per(phones, refs_phones), 4),
                         "wer_valid_report_only": round(error_rates.wer(words, refs_words), 4),
                         "phone_lm_ppl_valid": round(lm.perplexity(phone_lm, [" ".join(p) for p in phones if p]), 3),
                         "top_errors": ([list(e) for e in error_rates.confusions(phones, refs_phones, args.top)]
                                        if len(group) == 1 else None),
                         "seconds": round(time.time() - t0, 1), "cpu": machine.cpu().get("model"), "note": args.note,
                         "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
