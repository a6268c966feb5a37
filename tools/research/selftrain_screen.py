"""Decipherment, then self-training of a frame classifier on its transcripts (issue 9; labels are report-only).

    .venv/bin/python tools/research/selftrain_screen.py PROFILE [--restarts 10] [--rounds 3] [--epochs 3]

1. Unit-group segments and skip-gram EM of P(token | phone) as in ``decipher_screen.py`` (``--bounds
   groups --solver skipgrams``, optionally ``--triples``); the restart with the best objective is kept
   (label-free).
2. Viterbi decoding of the train tokens with the text's phone bigram gives every frame a phone.
3. Each round trains a frame classifier (convolution over 5 frames, 256 hidden, on stage 03's frames) on
   those frame labels, then decodes every utterance with the hybrid HMM: the classifier's posteriors over
   the label prior, the text bigram between phones and a self-loop read off the current labels. The new
   train paths are the next round's labels; with ``--redecipher`` they first restart the decipherment
   (the table they give each token, refined by EM) and its Viterbi labels replace them when its objective
   beats the best so far (``better``: a label-free move between the decipherment's basins) or ``always``.
Label-free per round: the share of train frames whose label the round changed and the 4-gram phone-LM
perplexity of the train transcripts. PER against the references is report-only. One JSON row per run is
appended to ``reports/research/selftrain_screen.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import decipher_screen as screen  # noqa: E402

from aitranscribe import lm, probe, segments, stage, train  # noqa: E402
from aitranscribe.paths import REPO_ROOT  # noqa: E402

RESULTS = REPO_ROOT / "reports" / "research" / "selftrain_screen.jsonl"


def hybrid_paths(net: nn.Module, frames: list[torch.Tensor], log_prior: np.ndarray, text: dict, self_loop: float):
    """Best phone path over the frames of every utterance: classifier log posteriors over the label prior as
    emission scores, the text bigram between phones and one self-loop for all."""
    with torch.no_grad():
        scores = [F.log_softmax(net(x.T[None])[0].T, -1).double() - torch.from_numpy(log_prior) for x in frames]
    padded = torch.nn.utils.rnn.pad_sequence(scores, batch_first=True)
    positions = [np.zeros(len(x), dtype=np.int64) for x in frames]  # only the lengths matter here
    hmm = screen.TokenHMM(positions, text["start"], text["end"], text["between"])
    return [np.array(p) for p in hmm.viterbi_scores(padded, torch.full((len(log_prior),), self_loop, dtype=torch.float64))]


def phones_of(path: np.ndarray, symbols: list[str]) -> list[str]:
    merged = path[np.r_[True, path[1:] != path[:-1]]]
    return [symbols[p] for p in merged if symbols[p] != screen.SIL]


def train_classifier(frames: list[torch.Tensor], labels: list[np.ndarray], n_phones: int, epochs: int, seed: int):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv1d(frames[0].shape[1], 256, 5, padding=2), nn.ReLU(), nn.Dropout(0.2),
                        nn.Conv1d(256, n_phones, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    rng = np.random.RandomState(seed)
    for _ in range(epochs):
        order = rng.permutation(len(frames))
        for start in range(0, len(order), 32):
            batch = order[start:start + 32]
            loss = sum(F.cross_entropy(net(frames[i].T[None])[0].T, torch.from_numpy(labels[i]), reduction="sum")
                       for i in batch) / sum(len(labels[i]) for i in batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--min-gap", type=int, default=2)
    parser.add_argument("--distances", default="2,3,4,5")
    parser.add_argument("--split", type=float, default=0.2)
    parser.add_argument("--triples", default="", help="token triples d1,d2 apart, e.g. '2,2;3,3;2,3;3,2'")
    parser.add_argument("--pair-weight", type=float, default=1.0)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--refine", type=int, default=3, help="with triples: best pair restarts refined with them")
    parser.add_argument("--refine-iters", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--redecipher", choices=("no", "better", "always"), default="no",
                        help="after each round, restart the decipherment from the round's labels; the next round "
                             "trains on its Viterbi labels if its objective beats the best so far (better) or always")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    stage.setup_logging("WARNING")
    t0 = time.time()
    features_record, text_record, symbols = screen.profile_inputs(args.profile)
    n_phones = len(symbols)
    text = screen.text_statistics(Path(text_record["phone_text"]), symbols)
    labels = screen.reference_frame_labels(args.profile, features_record, text_record)
    token_args = argparse.Namespace(seed=args.seed, k=128, min_gap=args.min_gap, bounds="groups", groups=args.groups,
                                    label_tokens=False, segment_part="mean", prominence=0.0)
    tokens, _, n_tokens, stats, bounds = screen.make_tokens("segments", token_args, features_record, labels, symbols)

    model = screen.SkipGramModel(tokens["train"], n_tokens, text["lines"], n_phones,
                                 [int(d) for d in args.distances.split(",")], args.split, 0.0,
                                 screen.parse_triples(args.triples), args.pair_weight)

    em_args = argparse.Namespace(seed=args.seed, restarts=args.restarts, iters=300, refine=args.refine,
                                 refine_iters=args.refine_iters)
    found = screen.skipgram_restarts(model, n_phones, n_tokens, em_args)
    best = max(((float(model.loglik(emit)), emit) for emit in found), key=lambda x: x[0])
    refs = {split: train.load_references(text_record, split) for split in ("train", "test")}
    stay = torch.full((n_phones,), args.split, dtype=torch.float64)
    hmm = {split: screen.TokenHMM(tokens[split], text["start"], text["end"], text["between"]) for split in tokens}
    paths = hmm["train"].viterbi(best[1], stay)
    decipher_per = {split: probe.per(screen.viterbi_phones(hmm[split], best[1], stay, symbols), refs[split])
                    for split in hmm}
    frame_labels = [np.repeat(np.array(p), np.diff(b)) for p, b in zip(paths, bounds["train"])]
    decipher_seconds, decipher_objective = time.time() - t0, best[0]

    frames = {}
    for split in ("train", "test"):
        feats, lengths = segments.read_features(features_record["dir"], split)
        frames[split] = [torch.from_numpy(np.array(x, dtype=np.float32)) for x in segments.utterances(feats, lengths)]
    phone_lm = lm.load(text_record["phone_lm"])
    rounds = []
    for k in range(args.rounds):
        prior = np.bincount(np.concatenate(frame_labels), minlength=n_phones) + 1.0
        log_prior = np.log(prior / prior.sum())
        changes = sum(1 + int((y[1:] != y[:-1]).sum()) for y in frame_labels)
        self_loop = 1 - changes / sum(map(len, frame_labels))
        net = train_classifier(frames["train"], frame_labels, n_phones, args.epochs, args.seed + k)
        decoded = {split: hybrid_paths(net, frames[split], log_prior, text, self_loop) for split in frames}
        train_phones = [" ".join(phones_of(p, symbols)) for p in decoded["train"]]
        rounds.append({"round": k + 1, "self_loop": round(self_loop, 3),
                       "label_change": round(float(np.mean(np.concatenate(decoded["train"])
                                                           != np.concatenate(frame_labels))), 4),
                       "phone_lm_ppl_train": round(lm.perplexity(phone_lm, [t for t in train_phones if t]), 2),
                       **{f"per_{split}": round(probe.per([phones_of(p, symbols) for p in decoded[split]], refs[split]), 4)
                          for split in decoded}, "seconds": round(time.time() - t0, 1)})
        frame_labels = decoded["train"]
        if args.redecipher != "no":  # the round's labels restart the decipherment
            phones = [screen.majority(path, b) for path, b in zip(frame_labels, bounds["train"])]
            table = screen.token_counts(phones, tokens["train"], n_phones, n_tokens) + 0.01
            emit = torch.tensor(table / table.sum(1, keepdims=True))
            emit = screen.CountModel.em(model.loglik, emit, args.refine_iters)
            value = float(model.loglik(emit))
            taken = value > best[0] or args.redecipher == "always"
            rounds[-1]["redecipher"] = {"objective": round(value, 4), "taken": taken, "per_test": round(
                probe.per(screen.viterbi_phones(hmm["test"], emit, stay, symbols), refs["test"]), 4)}
            if taken:
                best = max(best, (value, emit), key=lambda x: x[0])
                frame_labels = [np.repeat(np.array(p), np.diff(b))
                                for p, b in zip(hmm["train"].viterbi(emit, stay), bounds["train"])]
        print(json.dumps(rounds[-1]), flush=True)
    row = {"profile": args.profile, "settings": {k: v for k, v in vars(args).items() if k != "profile"}, **stats,
           "decipherment": {"objective": round(decipher_objective, 4), **{f"per_{s}": round(v, 4) for s, v in decipher_per.items()},
                            "seconds": round(decipher_seconds, 1)},
           "self_training": rounds, "seconds": round(time.time() - t0, 1), "machine": platform.machine(),
           "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(), "torch": torch.__version__,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    print(json.dumps(row), flush=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
