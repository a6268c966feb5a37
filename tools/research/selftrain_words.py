"""Research (issue 22): self-training on labels from a decoding graph, starting from a trained model.

    .venv/bin/python tools/research/selftrain_words.py --profile demo --rounds 2 --labels words --layers 5,1:3,2:3,3

Each round decodes every train utterance with the current model through a graph (``--labels words``: the lexicon +
word LM graph; ``phones``: the phone 4-gram graph; ``hmm``: the model's own bigram HMM), takes the best path's
phone of every frame as its label, trains a new frame classifier on them (``--layers``, ``--hidden``, ``--epochs``)
and scores it on ``--split`` (valid unless asked; rows before 2026-12-05 scored test): PER of the bigram HMM and of
the phone graph, WER through the word graph at ``--scales``; and the label-free signal of stage 05's selection, the train transcripts' phone-LM perplexity.
Labels are used only to score. Rows go to ``reports/research/selftrain_words.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
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
from aitranscribe.io import feature_files
from aitranscribe.decoding.phones import collapse
from aitranscribe.models.batching import pad
from aitranscribe.models.decipher.frame_classifier import FrameClassifier
from aitranscribe.models.decipher.hmm import PhoneHMM
from aitranscribe.models.decipher.model import FrameModel
from aitranscribe.models.training import fit_labels
from aitranscribe.text import lm

OUT = REPO_ROOT / "reports" / "research" / "selftrain_words.jsonl"


def _decode_part(job):
    torch.set_num_threads(1)
    decoder = graph.GraphDecoder(job["graph"], job["stay"], job["scale"], job["beam"])
    out = []
    for scores in job["scores"]:
        r = decoder(scores)
        out.append((r["steps"], [decoder.words[w] for w in r["words"]]))
    return out


def graph_decode(graph_dir, scores, stay, scale, beam=14.0, workers=2):
    """Best paths of every utterance through a graph, in ``workers`` processes: (frame phone ids, words)."""
    parts = [scores[i::workers] for i in range(workers)]
    jobs = [{"graph": str(graph_dir), "stay": stay, "scale": scale, "beam": beam, "scores": part} for part in parts]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_decode_part, jobs))
    out = [None] * len(scores)
    for i, part in enumerate(results):
        for j, r in enumerate(part):
            out[i + j * workers] = r
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--data-root", default="data")
    ap.add_argument("--checkpoint", default="", help="start model (default: stage 05's selection)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--labels", default="words", choices=("words", "phones", "hmm"))
    ap.add_argument("--label-scale", type=float, default=0.3, help="acoustic scale of the labelling graph")
    ap.add_argument("--layers", default="5,1", help="kernel,dilation:kernel,dilation:...")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--scales", default="0.3,0.5")
    ap.add_argument("--word-graph", default="/tmp/words_screen/demo/word_graph")
    ap.add_argument("--phone-graph", default="/tmp/words_screen/demo/phone_graph")
    ap.add_argument("--save", default="", help="directory for each round's model")
    ap.add_argument("--name", default="")
    ap.add_argument("--split", default="valid", choices=("valid", "test"),
                    help="split scored (valid: settings are chosen on valid; rows before 2026-12-05 scored test)")
    args = ap.parse_args(argv)
    setup_logging("INFO")
    p = {"profile": args.profile, "data_root": args.data_root}
    records = {k: stage.load_stage(p, k) for k in ("train", "features", "audio_prep", "text")}
    model = models.load(args.checkpoint or records["train"]["checkpoint"])
    symbols = model.symbols
    layers = [[int(v) for v in part.split(",")] for part in args.layers.split(":")]
    frames = feature_files.read_utterances(records["features"]["dir"], "train")
    held = tr.split_items(model, args.split, records)
    phone_lm = lm.load(records["text"]["phone_lm"])
    base = {"profile": args.profile, "name": args.name, "labels": args.labels, "label_scale": args.label_scale,
            "layers": layers, "hidden": args.hidden, "epochs": args.epochs}
    for k in range(1, args.rounds + 1):
        t0 = time.time()
        scores = model.utterance_scores(frames)
        if args.labels == "hmm":
            with torch.inference_mode():
                labels = []
                for start in range(0, len(frames), 64):
                    x, padding = pad(frames[start:start + 64])
                    labels.extend(model.paths(model.net(x, padding), padding))
        else:
            g = args.word_graph if args.labels == "words" else args.phone_graph
            labels = [steps for steps, _ in graph_decode(g, scores, model.stay, args.label_scale)]
        label_seconds = time.time() - t0
        flat = np.concatenate(labels)
        prior = np.bincount(flat, minlength=len(symbols)) + 1.0
        changes = sum(1 + int((y[1:] != y[:-1]).sum()) for y in labels)
        torch.manual_seed(k)
        net = fit_labels(FrameClassifier(frames[0].shape[1], len(symbols), args.hidden, layers=layers), frames,
                         labels, args.epochs, 32, 1e-3, k, quiet=False)
        hmm = PhoneHMM(model.hmm.start, model.hmm.end, model.hmm.between, 1 - changes / len(flat))
        model = FrameModel(net, np.log(prior / prior.sum()), hmm, symbols)
        train_seconds = time.time() - t0 - label_seconds
        if args.save:
            model.save(Path(args.save) / f"round-{k}.pt")
        # label-free signal: the train transcripts' phone-LM perplexity (bigram HMM), as stage 05 selects
        with torch.inference_mode():
            paths = []
            for start in range(0, len(frames), 64):
                x, padding = pad(frames[start:start + 64])
                paths.extend(model.paths(model.net(x, padding), padding))
        ppl = lm.perplexity(phone_lm, [s for s in (" ".join(collapse(q, symbols)) for q in paths) if s])
        held_scores = model.utterance_scores([it["feats"] for it in held])
        refs_p, refs_w = [it["ref_phones"] for it in held], [it["ref_words"] for it in held]
        row = {**base, "round": k, "label_seconds": round(label_seconds, 1), "train_seconds": round(train_seconds, 1),
               "self_loop": round(model.stay, 4), "phone_lm_ppl_train": round(ppl, 3),
               f"per_{args.split}_hmm": error_rates.per(model.phones([it["feats"] for it in held]), refs_p)}
        phone_paths = graph_decode(args.phone_graph, held_scores, model.stay, 1.0)
        row[f"per_{args.split}_phone_graph"] = error_rates.per([collapse(s, symbols) for s, _ in phone_paths], refs_p)
        for scale in [float(s) for s in args.scales.split(",")]:
            hyps = [" ".join(w) for _, w in graph_decode(args.word_graph, held_scores, model.stay, scale)]
            row[f"wer_{args.split}_scale{scale}"] = error_rates.wer(hyps, refs_w)
        print(json.dumps(row), flush=True)
        with open(OUT, "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
