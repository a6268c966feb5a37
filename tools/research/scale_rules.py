"""Research (issue 34, the words): label-free rules for the word graph's acoustic scale, compared on valid.

    .venv/bin/python tools/research/scale_rules.py --profile demo [--scales 0.2,0.3,0.5] NAME MODEL.pt [NAME MODEL.pt ...]

For each model, valid is decoded through stage 04's word graph at every scale, and per scale the row holds what a
label-free rule can read: the model's own phones (its phone-graph path, as stage 06's rule reads them), the UER of
the decoded words' pronunciations against them, the word-LM perplexity of the words and the phone-LM perplexity of
their pronunciations (fairseq's kaldi self-training selects word decoding by log phone-LM perplexity of the
phonemized words x UER, with an optional floor on the UER); and, report-only, the valid WER. Which scale each rule
would pick is for the reader of the rows: no rule is chosen here, and test is never read. One JSON row per model
to ``reports/research/scale_rules.jsonl``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _rows import append_row, name_pairs, valid_inputs

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "reports" / "research" / "scale_rules.jsonl"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--scales", default="0.2,0.3,0.5")
    ap.add_argument("--note", default="")
    ap.add_argument("models", nargs="+", help="NAME MODEL.pt pairs")
    args = ap.parse_args(argv)
    pairs = name_pairs(ap, args.models, "MODEL.pt")
    records = valid_inputs(args.profile, REPO_ROOT)
    from aitranscribe import models
    from aitranscribe.core import machine
    from aitranscribe.decoding import graph
    from aitranscribe.decoding.phones import collapse
    from aitranscribe.text import error_rates, lm
    from aitranscribe.transcription import transcribe as tr
    from words_screen import frame_scores
    text = records["text"]
    spelled = graph.pronunciations(text["word_graph"])
    words_of = dict(enumerate(spelled))
    word_lm, phone_lm = lm.load(text["word_lm"]), lm.load(text["phone_lm"])
    for name, path in pairs:
        t0 = time.time()
        model = models.load(path)
        items = tr.split_items(model, "valid", {**records, "train": {"checkpoint": path}})
        steps, _ = frame_scores(model, items)
        own = [collapse([r[0] for r in q["runs"]], model.symbols)
               for q in graph.decode_all(text["phone_graph"], steps, model.stay, 1.0)]
        rows = []
        for scale in [float(s) for s in args.scales.split(",")]:
            decoded = graph.decode_all(text["word_graph"], steps, model.stay, scale)
            words = [[words_of[w] for w in r["words"]] for r in decoded]
            phones = [[ph for w in ws for ph in spelled[w]] for ws in words]
            rows.append({"scale": scale, "uer": round(error_rates.per(phones, own), 4),
                         "word_lm_ppl": round(lm.perplexity(word_lm, [" ".join(ws) for ws in words if ws]), 1),
                         "phone_lm_ppl_of_words": round(lm.perplexity(phone_lm, [" ".join(q) for q in phones if q]), 3),
                         "wer_valid_report_only": round(error_rates.wer([" ".join(ws) for ws in words],
                                                                        [it["ref_words"] for it in items]), 4)})
        append_row(OUT, {"name": name, "profile": args.profile, "model": str(Path(path).resolve().relative_to(REPO_ROOT)),
                         "scales": rows, "seconds": round(time.time() - t0, 1), "cpu": machine.cpu().get("model"),
                         "note": args.note, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
