"""Research (issue 37): a profile's final model decoded on valid through its word graph and through a graph built
from the same text with the word LM's rare n-grams pruned (``lmplz --prune``), to see what a smaller graph costs
in words before any profile trains on one.

    .venv/bin/python tools/research/pruned_word_graph.py --profile demo --scale 0.5 --prune 0 1

The model is stage 05's selected checkpoint of ``--profile``; ``--scale`` is the word graph's acoustic scale (give
the run's chosen one). The pruned graph is built from stage 04's ``train_words.txt`` with the stage's order and
silence probability and kept in ``<data_root>/.graph-cache``. Labels only score; test is never read. One JSON row
to ``reports/research/pruned_word_graph.jsonl``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from _rows import append_row, valid_inputs, valid_words_parser

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "pruned_word_graph.jsonl"


def main(argv=None) -> int:
    ap = valid_words_parser(__doc__)
    ap.add_argument("--prune", type=int, nargs="+", default=[0, 1], help="lmplz --prune thresholds from unigrams")
    args = ap.parse_args(argv)
    records = valid_inputs(args.profile, REPO_ROOT)
    from aitranscribe import models
    from aitranscribe.core import machine, stage
    from aitranscribe.decoding import graph
    from aitranscribe.text import error_rates, lm
    from aitranscribe.text.phones import read_lexicon
    from aitranscribe.transcription import transcribe as tr
    from words_screen import frame_scores, words_of

    p = {"profile": args.profile, "data_root": str(REPO_ROOT / "data")}
    train = stage.load_stage(p, "train")
    text_dir = Path(records["text"]["dir"])
    done = stage.done_params(text_dir)
    scratch = REPO_ROOT / "data" / "research" / "pruned_word_graph" / args.profile / "-".join(map(str, args.prune))
    t0 = time.time()
    arpa = lm.train_arpa(text_dir / "train_words.txt", scratch / "kenlm.wrd.arpa", order=done["lm_order"],
                         memory=done["lm_memory"], prune=args.prune)
    lexicon = read_lexicon(text_dir / "lexicon_filtered.lst")
    model = models.load(train["checkpoint"])
    built = graph.build_graph(lexicon, arpa, model.symbols, scratch / "graph", sil_prob=done["sil_prob"],
                              cache_dir=REPO_ROOT / "data" / ".graph-cache")
    build_seconds = time.time() - t0
    items = tr.split_items(model, "valid", {**records, "train": train})
    steps, _ = frame_scores(model, items)
    refs = [it["ref_words"] for it in items]
    row = {"profile": args.profile, "prune": args.prune, "scale": args.scale, "model": train["run"],
           "graph_build_seconds": round(build_seconds, 1), "pruned_graph": {k: built[k] for k in ("states", "arcs")}}
    for name, graph_dir in (("full", records["text"]["word_graph"]), ("pruned", str(scratch / "graph"))):
        t1 = time.time()
        decoder = graph.GraphDecoder(graph_dir, stay=model.stay, acoustic_scale=args.scale)
        row[f"wer_valid_{name}_report_only"] = round(error_rates.wer(words_of(decoder, steps), refs), 4)
        row[f"decode_seconds_{name}"] = round(time.time() - t1, 1)
    append_row(OUT, {**row, "cpu": machine.cpu().get("model"), "note": args.note,
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
