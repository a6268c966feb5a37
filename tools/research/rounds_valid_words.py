"""Research (issues 34, 37): valid PER and WER of the round a set of word rounds would select, to compare settings.

    .venv/bin/python tools/research/rounds_valid_words.py --profile demo --scale 0.5 NAME ROUNDS_DIR [NAME ROUNDS_DIR ...]

For each ``ROUNDS_DIR`` (a chain's ``rounds/`` of stage 05, or a ``word_rounds_screen.py`` scratch run's): the word
round with the lowest train phone-LM perplexity (the label-free selection), decoded on valid with the hybrid HMM
(PER) and through stage 04's word graph at acoustic ``--scale`` (WER; give the run's chosen scale). The train
perplexity compares rounds of one run; across settings it can mislead (a setting may lower it without better
words), so settings are compared here on valid words. Labels only score; test is never read. One JSON row per
run to ``reports/research/rounds_valid_words.jsonl``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from _rows import append_row, name_pairs, valid_inputs, valid_words_parser

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "rounds_valid_words.jsonl"


def selected(rounds_dir: Path) -> dict:
    """The word round of ``rounds_dir`` with the lowest train phone-LM perplexity: its round.json and model path."""
    found = [(json.loads(f.read_text()), f.parent / "model.pt") for f in rounds_dir.glob("round-*/round.json")]
    words = [(r, m) for r, m in found if r.get("labels") == "words"]
    if not words:
        raise SystemExit(f"{rounds_dir}: no word round")
    r, model = min(words, key=lambda x: x[0]["phone_lm_ppl_train"])
    return {"round": r["round"], "phone_lm_ppl_train": r["phone_lm_ppl_train"], "word_rounds": len(words),
            "model": model}


def main(argv=None) -> int:
    ap = valid_words_parser(__doc__)
    ap.add_argument("runs", nargs="+", help="NAME ROUNDS_DIR pairs")
    args = ap.parse_args(argv)
    pairs = name_pairs(ap, args.runs, "ROUNDS_DIR")
    records = valid_inputs(args.profile, REPO_ROOT)
    from aitranscribe import models
    from aitranscribe.core import machine
    from aitranscribe.decoding import graph
    from aitranscribe.decoding.phones import collapse
    from aitranscribe.text import error_rates
    from aitranscribe.transcription import transcribe as tr
    from words_screen import frame_scores, words_of
    for name, folder in pairs:
        t0 = time.time()
        chosen = selected(Path(folder))
        model = models.load(str(chosen["model"]))
        items = tr.split_items(model, "valid", {**records, "train": {"checkpoint": str(chosen["model"])}})
        steps, segments = frame_scores(model, items)
        per = error_rates.per([collapse(ids, model.symbols) for _, ids, _ in segments],
                              [it["ref_phones"] for it in items])
        decoder = graph.GraphDecoder(records["text"]["word_graph"], stay=model.stay, acoustic_scale=args.scale)
        wer = error_rates.wer(words_of(decoder, steps), [it["ref_words"] for it in items])
        append_row(OUT, {"name": name, "profile": args.profile, "rounds_dir": str(Path(folder).resolve().relative_to(REPO_ROOT)),
                         "selected_round": chosen["round"], "word_rounds": chosen["word_rounds"],
                         "phone_lm_ppl_train": chosen["phone_lm_ppl_train"], "scale": args.scale,
                         "per_valid_report_only": round(per, 4), "wer_valid_report_only": round(wer, 4),
                         "seconds": round(time.time() - t0, 1), "cpu": machine.cpu().get("model"), "note": args.note,
                         "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
