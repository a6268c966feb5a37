"""Research (issue 34): can a label-free search find phones a final model has swapped, and does undoing them help?

    .venv/bin/python tools/research/phone_swaps.py --profile demo MODEL [--utterances 300] [--steps 4] [--scale 0.5]

A run's final model can keep a few of its decipherment's phones permuted through every word round (on the demo
corpus, every run of training seed 2 writes the rhotic vowel ɑːɹ as another one). Here the model's output phones
are relabelled by swapping two of them (its scaled likelihoods' columns exchanged; the HMM and the phone LM stay),
and the swap is judged without labels: the phone-LM perplexity of ``--utterances`` train utterances decoded with
the hybrid HMM. Every pair of phones is tried on the first third of those utterances, the ten best on all of them;
the best swap is kept when it lowers the perplexity, then the search goes on from it, at most ``--steps`` swaps.
For each kept swap (and none) the row gives the train perplexity (the rule) and, report-only, valid PER and WER
(word graph at ``--scale``). Test is never read. One JSON row per model to ``reports/research/phone_swaps.jsonl``.
"""
from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np

from _rows import append_row, valid_inputs, valid_words_parser

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "phone_swaps.jsonl"


def main(argv=None) -> int:
    ap = valid_words_parser(__doc__)
    ap.add_argument("--utterances", type=int, default=300)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("model")
    args = ap.parse_args(argv)
    records = valid_inputs(args.profile, REPO_ROOT)
    import torch

    from aitranscribe import models
    from aitranscribe.core import machine
    from aitranscribe.decoding import graph
    from aitranscribe.decoding.phones import collapse
    from aitranscribe.io import feature_files
    from aitranscribe.text import error_rates, lm
    from aitranscribe.text.phones import SIL
    from aitranscribe.transcription import transcribe as tr
    from words_screen import words_of

    torch.set_num_threads(1)
    t0 = time.time()
    model = models.load(args.model)
    phone_lm = lm.load(records["text"]["phone_lm"])
    train = feature_files.read_utterances(records["features"]["dir"], "train")[:args.utterances]
    train_scores = model.frame_scores(train)
    items = tr.split_items(model, "valid", {**records, "train": {"checkpoint": args.model}})
    valid_scores = model.frame_scores([it["feats"] for it in items])
    decoder = graph.GraphDecoder(records["text"]["word_graph"], stay=model.stay, acoustic_scale=args.scale)

    def relabelled(scores, perm):
        return [s[:, perm] for s in scores]

    def perplexity(perm, n=None):
        paths = model.hmm.best_paths(relabelled(train_scores[:n], perm))
        return lm.perplexity(phone_lm, [t for t in (" ".join(collapse(p, model.symbols)) for p in paths) if t])

    def report(perm):
        scores = relabelled(valid_scores, perm)
        phones = [collapse(p, model.symbols) for p in model.hmm.best_paths(scores)]
        words = words_of(decoder, [s.astype(np.float32) for s in scores])
        return {"per_valid_report_only": round(error_rates.per(phones, [it["ref_phones"] for it in items]), 4),
                "wer_valid_report_only": round(error_rates.wer(words, [it["ref_words"] for it in items]), 4)}

    phones = [i for i, s in enumerate(model.symbols) if s != SIL]
    perm = np.arange(len(model.symbols))
    best = perplexity(perm)
    steps = [{"swap": None, "phone_lm_ppl_train": round(best, 3), **report(perm)}]
    for _ in range(args.steps):
        tried = []
        for i, j in itertools.combinations(phones, 2):
            p = perm.copy()
            p[[i, j]] = p[[j, i]]
            tried.append((perplexity(p, args.utterances // 3), (i, j), p))
        tried.sort(key=lambda x: x[0])
        confirmed = sorted(((perplexity(p), ij, p) for _, ij, p in tried[:10]), key=lambda x: x[0])
        ppl, (i, j), p = confirmed[0]
        if ppl >= best:
            break
        best, perm = ppl, p
        steps.append({"swap": [model.symbols[i], model.symbols[j]], "phone_lm_ppl_train": round(ppl, 3),
                      **report(perm)})
        print(steps[-1], flush=True)
    append_row(OUT, {"profile": args.profile, "model": str(Path(args.model).resolve().relative_to(REPO_ROOT)),
                     "utterances": len(train), "scale": args.scale, "steps": steps,
                     "seconds": round(time.time() - t0, 1), "cpu": machine.cpu().get("model"), "note": args.note,
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
