"""Research (issue 22): word decoding over frame-level scores, measured on a profile's trained model.

    .venv/bin/python tools/research/words_screen.py --profile demo [--scales 0.1,0.2,0.3] [--text extra.txt]

For the selected model of stage 05: word error rates of a lexicon + word n-gram graph (H o L o G,
kaldi-decoder) over every frame's scaled likelihoods, at several acoustic scales (the rows of 2026-12-01 also
measured flashlight-text's lexicon beam search over the hybrid HMM's phone runs, stage 06's decoder then); phone error rates of the hybrid HMM (bigram) and of a
phone n-gram graph; and the decoder's ceiling: the reference phones themselves through the same graph. Labels
are used only to score. One JSON row per setting is appended to ``reports/research/words_screen.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import math
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
from aitranscribe.transcription import transcribe as tr
from aitranscribe.text import error_rates
from aitranscribe.decoding.phones import collapse

OUT = REPO_ROOT / "reports" / "research" / "words_screen.jsonl"


def read_lexicon(path) -> dict[str, list[str]]:
    return {w: p.split() for w, p in (line.split("\t") for line in Path(path).read_text(encoding="utf-8").splitlines())}


def frame_scores(model, items, batch=32):
    """Per item: the model's step scores and its own decoded segments (logp, ids, spans)."""
    steps, segments = [], []
    with torch.inference_mode():
        for chunk, (x, padding) in tr.batches(items, batch):
            logits = model.net(x, padding)
            steps.extend(model.step_scores(logits, padding))
            segments.extend(model.decode(logits, padding))
    return steps, segments


def reference_scores(refs: list[list[str]], symbols: list[str], frames: int = 3, sure: float = 0.9):
    """Scores that say the reference phones (``frames`` steps each, probability ``sure``), <SIL> at both ends."""
    out = []
    other = math.log((1 - sure) / (len(symbols) - 1))
    for ref in refs:
        seq = ["<SIL>", *[p for p in ref if p in symbols], "<SIL>"]
        x = np.full((len(seq) * frames, len(symbols)), other, np.float32)
        for i, p in enumerate(seq):
            x[i * frames:(i + 1) * frames, symbols.index(p)] = math.log(sure)
        out.append(x)
    return out


def words_of(decoder, scores) -> list[str]:
    out = []
    for s in scores:
        r = decoder(s)
        out.append(" ".join(decoder.words[w] for w in r["words"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--data-root", default="data", help="root of the profiles' data (relative to the repository)")
    ap.add_argument("--split", default="valid", choices=("valid", "test"),
                    help="split scored (valid: settings are chosen on valid; test only for a final report)")
    ap.add_argument("--scales", default="0.1,0.2,0.3,0.5")
    ap.add_argument("--beam", type=float, default=14.0)
    ap.add_argument("--sil-prob", type=float, default=0.25)
    ap.add_argument("--graph-dir", default="", help="reuse (or build into) this LG directory")
    ap.add_argument("--arpa", default="", help="word LM ARPA (default: stage 04's)")
    ap.add_argument("--lexicon", default="", help="lexicon (default: stage 04's lexicon_filtered.lst)")
    ap.add_argument("--name", default="", help="label of the rows")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: phones,ceiling,words")
    args = ap.parse_args(argv)
    setup_logging("INFO")
    p = {"profile": args.profile, "data_root": args.data_root}
    records = {k: stage.load_stage(p, k) for k in ("train", "features", "audio_prep", "text")}
    model = models.load(records["train"]["checkpoint"])
    symbols = model.symbols
    text = records["text"]
    arpa = args.arpa or str(Path(text["dir"]) / "kenlm.wrd.o4.arpa")
    lexicon = read_lexicon(args.lexicon or text["lexicon"])
    skip = set(args.skip.split(",")) if args.skip else set()
    base = {"profile": args.profile, "name": args.name, "split": args.split, "checkpoint": records["train"]["checkpoint"],
            "arpa": arpa, "lexicon_words": len(lexicon), "sil_prob": args.sil_prob, "beam": args.beam}
    rows = []

    items = tr.split_items(model, args.split, records)
    refs_words = [it["ref_words"] for it in items]
    refs_phones = [it["ref_phones"] for it in items]
    oov = sum(w not in lexicon for r in refs_words for w in r.split()) / sum(len(r.split()) for r in refs_words)
    t0 = time.time()
    steps, segments = frame_scores(model, items)
    hyps_hmm = [collapse(ids, symbols) for _, ids, _ in segments]
    rows.append({**base, "what": "phones: hybrid HMM, bigram", "per": error_rates.per(hyps_hmm, refs_phones),
                 "oov_rate_report_only": oov, "seconds": round(time.time() - t0, 1)})
    print(rows[-1], flush=True)

    if "phones" not in skip:
        phone_dir = Path(f"/tmp/words_screen/{args.profile}/phone_graph")
        if not (phone_dir / "HLG.fst").is_file():
            graph.build_graph({s: [s] for s in symbols}, text["phone_lm_arpa"], symbols, phone_dir)
        for scale in (0.3, 0.5, 1.0):
            dec = graph.GraphDecoder(phone_dir, stay=model.stay, acoustic_scale=scale, beam=args.beam)
            t0 = time.time()
            hyps = []
            for s in steps:
                r = dec(s)
                hyps.append(collapse(np.array([run[0] for run in r["runs"]]), symbols))
            rows.append({**base, "what": "phones: phone 4-gram graph", "acoustic_scale": scale,
                         "per": error_rates.per(hyps, refs_phones), "seconds": round(time.time() - t0, 1)})
            print(rows[-1], flush=True)

    word_dir = Path(args.graph_dir or f"/tmp/words_screen/{args.profile}/word_graph")
    if not (word_dir / "HLG.fst").is_file():
        sizes = graph.build_graph(lexicon, arpa, symbols, word_dir, sil_prob=args.sil_prob)
        rows.append({**base, "what": "word graph built", **sizes})
        print(rows[-1], flush=True)
    if "ceiling" not in skip:
        dec = graph.GraphDecoder(word_dir, stay=0.6, acoustic_scale=1.0, beam=args.beam)
        t0 = time.time()
        hyps = words_of(dec, reference_scores(refs_phones, symbols))
        rows.append({**base, "what": "ceiling: reference phones through the word graph",
                     "wer": error_rates.wer(hyps, refs_words), "seconds": round(time.time() - t0, 1)})
        print(rows[-1], flush=True)
    if "words" not in skip:
        for scale in [float(s) for s in args.scales.split(",")]:
            dec = graph.GraphDecoder(word_dir, stay=model.stay, acoustic_scale=scale, beam=args.beam)
            t0 = time.time()
            hyps = words_of(dec, steps)
            rows.append({**base, "what": "words: word graph over frame scores", "acoustic_scale": scale,
                         "wer": error_rates.wer(hyps, refs_words), "seconds": round(time.time() - t0, 1),
                         "audio_seconds": round(sum(it["seconds"] for it in items), 1)})
            print(rows[-1], flush=True)
    with open(OUT, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
