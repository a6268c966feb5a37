"""Stage 05, method ``decipher``: decipherment, then rounds of self-training a frame classifier (no labels).

1. :mod:`.decipherment` gives every train segment token a phone; Viterbi decoding of the token sequences with the
   text's phone transitions gives every frame a phone.
2. Each round trains a :class:`.FrameClassifier` on those frame labels, then decodes every utterance with the
   hybrid HMM (:class:`.FrameModel`): posteriors over the label prior as emission scores, the text's phone
   transitions and one self-loop read off the labels. The round's train paths restart the decipherment (each
   token's majority phone, refined by EM on the triples), whose Viterbi labels train the next round.
3. The round whose train transcripts have the lowest phone-LM perplexity is selected (label-free).

Several chains (one per seed) run a few rounds each and only the most promising one (lowest phone-LM
perplexity) continues: a chain's fate is set by its decipherment's basin, and a failing chain shows it early.
Outputs per chain in ``chain-seed<seed>/``: ``decipherment.npz`` (tokens, segment bounds, table, first frame
labels), ``rounds/round-<k>/`` (``model.pt``, ``round.json``, ``next_labels.npy``); a finished round is
never redone.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ...core.errors import KitError
from ...core.files import atomic_save_npy, atomic_save_npz, atomic_write_json
from ...text.error_rates import per as phone_error_rate
from ...decoding import graph
from ...text import lm
from ...decoding.phones import collapse
from ..training import fit_labels
from . import decipherment as decipher
from .frame_classifier import FrameClassifier
from .hmm import PhoneHMM, label_statistics, transitions
from .model import FrameModel

log = logging.getLogger(__name__)


def train_classifier(frames: list[np.ndarray], labels: list[np.ndarray], vocab: int, epochs: int, hidden: int,
                     seed: int, batch: int = 32, quiet: bool = False, bf16: bool = False,
                     init: FrameClassifier | None = None, input_dropout: float = 0.0,
                     shrink: float = 1.0) -> FrameClassifier:
    """A frame classifier trained by cross-entropy on per-frame labels (Adam, 1e-3, batches of utterances; matrix
    products in bfloat16 with ``bf16``; inputs zeroed with probability ``input_dropout``), from random weights or
    from ``init``'s: ``shrink`` x its weights + (1 - ``shrink``) x the random ones (1: a copy)."""
    torch.manual_seed(seed)
    net = FrameClassifier(frames[0].shape[1], vocab, hidden)
    if init is not None:
        fresh, warm = net.state_dict(), init.state_dict()
        net.load_state_dict(warm if shrink == 1.0 else
                            {k: shrink * warm[k] + (1.0 - shrink) * fresh[k] for k in fresh})
    return fit_labels(net, frames, labels, epochs, batch, 1e-3, seed, quiet, desc="classifier epochs", bf16=bf16,
                      input_dropout=input_dropout)


def _concat(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate(arrays), np.array([len(a) for a in arrays])


def _split(flat: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    return np.split(flat, np.cumsum(lengths)[:-1])


def _decipherment(out_dir: Path, frames, units, lines, n_phones: int, s: dict, quiet: bool) -> dict:
    """Tokens, segment bounds, the selected table and the first frame labels; cached in ``decipherment.npz`` (read
    from there when it exists: ``frames`` and ``units`` are then not needed)."""
    path = out_dir / "decipherment.npz"
    if path.is_file():
        z = np.load(path)
        return {**{name: _split(z[name], z[f"{name}_lengths"]) for name in ("tokens", "bounds", "labels")},
                "table": torch.from_numpy(z["table"]), "objective": float(z["objective"]), "seconds": float(z["seconds"])}
    t0 = time.time()
    tokens, bounds = decipher.segment_tokens({"train": frames}, {"train": units}, s["groups"], s["min_run"],
                                             s["tokens"], s["seed"])
    tokens, bounds = tokens["train"], bounds["train"]
    model = decipher.SkipGramModel(tokens, s["tokens"], lines, n_phones, split=s["split"])
    tables = decipher.restarts(model, n_phones, s["tokens"], s["restarts"], s["iters"], s["refine"],
                               s["refine_iters"], s["seed"], quiet)
    objective, table = decipher.best_table(model, tables)
    labels = _frame_labels(s["hmm_tokens"], table, tokens, bounds)
    result = {"tokens": tokens, "bounds": bounds, "table": table, "objective": objective, "labels": labels,
              "seconds": time.time() - t0}
    arrays = {}
    for name in ("tokens", "bounds", "labels"):
        arrays[name], arrays[f"{name}_lengths"] = _concat(result[name])
    atomic_save_npz(path, table=table.numpy(), objective=objective, seconds=result["seconds"], **arrays)
    log.info("decipherment: objective %.4f from %d restarts in %.0f s", objective, s["restarts"], result["seconds"])
    return result


def _frame_labels(hmm: PhoneHMM, table: torch.Tensor, tokens, bounds) -> list[np.ndarray]:
    return [np.repeat(p, np.diff(b)) for p, b in zip(hmm.token_paths(table, tokens), bounds)]


def _round(frames: dict, labels: list[np.ndarray], trans: dict, symbols: list[str], s: dict, seed: int, phone_lm,
           refs_valid, quiet: bool, init: FrameClassifier | None = None,
           epochs: int | None = None, input_dropout: float = 0.0,
           shrink: float = 1.0) -> tuple[FrameModel, dict, list[np.ndarray], list[np.ndarray]]:
    """One self-training round on frame ``labels``: a classifier (``epochs``, default ``s["epochs"]``, from random
    weights or from ``init``'s, shrunk toward random ones by ``shrink``; its inputs zeroed with probability
    ``input_dropout`` in training), its hybrid HMM
    (prior and self-loop read off the labels), the train frames decoded again, and the round's signals: the train
    transcripts' phone-LM perplexity (label-free), the share of labels changed and (report-only) the valid PER.
    Returns the model, the signals, the train paths and the train frames' scores (the next word round decodes
    them)."""
    flat = np.concatenate(labels)
    log_prior, stay = label_statistics(labels, len(symbols))
    hmm = PhoneHMM(trans["start"], trans["end"], trans["between"], stay)
    net = train_classifier(frames["train"], labels, len(symbols), epochs or s["epochs"], s["hidden"], seed,
                           quiet=quiet, bf16=s.get("precision") == "bf16", init=init, input_dropout=input_dropout,
                           shrink=shrink)
    model = FrameModel(net, log_prior, hmm, symbols)
    scores = model.frame_scores(frames["train"])
    decoded = model.hmm.best_paths(scores)
    transcripts = [" ".join(collapse(p, symbols)) for p in decoded]
    entry = {"self_loop": round(hmm.stay, 4), "label_change": round(float(np.mean(np.concatenate(decoded) != flat)), 4),
             "phone_lm_ppl_train": round(lm.perplexity(phone_lm, [t for t in transcripts if t]), 3)}
    if refs_valid is not None:
        hyps = [collapse(p, symbols) for p in model.frame_paths(frames["valid"])]
        entry["per_valid_report_only"] = round(phone_error_rate(hyps, refs_valid), 4)
    return model, entry, decoded, scores


def _redecipher(paths: list[np.ndarray], first: dict, objective, n_phones: int, s: dict) -> tuple[list, float]:
    """The next round's frame labels from train ``paths``: each segment's majority phone gives the decipherment
    ``first`` (tokens, segment bounds) a new table, refined by EM on ``objective`` (the token triples), whose Viterbi
    labels over the tokens are returned with its objective."""
    segment_phones = [decipher.majority(p, b) for p, b in zip(paths, first["bounds"])]
    table = decipher.table_from_labels(segment_phones, first["tokens"], n_phones, s["tokens"])
    table = decipher.em(objective.loglik, table, s["refine_iters"])
    return _frame_labels(s["hmm_tokens"], table, first["tokens"], first["bounds"]), round(float(objective.loglik(table)), 4)


def relabel(chain_dir: Path, paths: list[np.ndarray], lines: list[np.ndarray], symbols: list[str], s: dict) -> list:
    """The frame labels a round of the chain in ``chain_dir`` (its ``decipherment.npz``) gives its next round when
    its train paths are ``paths``: the decipherment restarted from them, as after every round (:func:`run_chain`).
    ``s``: the chain's settings (tokens, split, refine_iters)."""
    n_phones = len(symbols)
    trans = transitions(lines, n_phones)
    s = {**s, "hmm_tokens": PhoneHMM(trans["start"], trans["end"], trans["between"], s["split"])}
    first = _decipherment(chain_dir, None, None, lines, n_phones, s, quiet=True)
    objective = decipher.SkipGramModel(first["tokens"], s["tokens"], lines, n_phones, split=s["split"])
    return _redecipher(paths, first, objective, n_phones, s)[0]


def _finished(round_dir: Path) -> dict | None:
    path = round_dir / "round.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _stalled(rounds: list[dict], patience: int) -> bool:
    """Whether the last ``patience`` rounds (0: never) brought no lower phone-LM perplexity than the rounds before."""
    if patience <= 0 or len(rounds) <= patience:
        return False
    before = min(r["phone_lm_ppl_train"] for r in rounds[:-patience])
    return min(r["phone_lm_ppl_train"] for r in rounds[-patience:]) >= before


def _words_stalled(start: dict, rounds: list[dict], s: dict) -> bool:
    """Whether the word rounds after ``start`` stop: at least ``word_rounds_min`` ran and the last ``patience`` of
    them (counting ``start`` before them) brought no lower phone-LM perplexity."""
    return len(rounds) >= s.get("word_rounds_min", 0) and _stalled([start, *rounds], s.get("patience", 0))


def run_chain(out_dir: Path, frames: dict[str, list[np.ndarray]], units: list[np.ndarray], lines: list[np.ndarray],
              symbols: list[str], s: dict, phone_lm, refs_valid: list[list[str]] | None, quiet: bool = False) -> dict:
    """Decipherment and ``s["rounds"]`` rounds of self-training, resuming finished rounds; returns the rounds.

    ``frames``: train and valid utterances (frames x D); ``units``: the train frames' k-means units; ``lines``:
    the phone text (index arrays); ``s``: groups, min_run, tokens, split, restarts, iters, refine, refine_iters,
    rounds, epochs, hidden, seed, patience (the chain stops early after that many rounds without a lower phone-LM
    perplexity; 0: never), patience_from (optional: the rounds before it do not count, e.g. a chain restarted on new
    labels after them). ``refs_valid`` (report-only, may be None) give each round a valid PER.
    """
    n_phones = len(symbols)
    trans = transitions(lines, n_phones)
    s = {**s, "hmm_tokens": PhoneHMM(trans["start"], trans["end"], trans["between"], s["split"])}
    first = _decipherment(out_dir, frames["train"], units, lines, n_phones, s, quiet)
    labels, objective = first["labels"], None
    rounds = []
    for k in range(1, s["rounds"] + 1):
        if _stalled(rounds[s.get("patience_from", 0):], s.get("patience", 0)):
            log.info("self-training, seed %d: no better phone-LM perplexity in %d rounds, the chain stops at round %d",
                     s["seed"], s["patience"], k - 1)
            break
        round_dir = out_dir / "rounds" / f"round-{k}"
        if (done := _finished(round_dir)) is not None:
            rounds.append(done)
            labels = _split(np.load(round_dir / "next_labels.npy"), np.array([len(x) for x in frames["train"]]))
            continue
        t0 = time.time()
        model, entry, decoded, _ = _round(frames, labels, trans, symbols, s, s["seed"] + k - 1, phone_lm, refs_valid,
                                       quiet)
        entry = {"round": k, **entry}
        round_dir.mkdir(parents=True, exist_ok=True)
        model.save(round_dir / "model.pt", {"round": k})
        # the round's labels restart the decipherment; its Viterbi labels train the next round (if one follows)
        if objective is None:
            objective = decipher.SkipGramModel(first["tokens"], s["tokens"], lines, n_phones, split=s["split"])
        labels, entry["redecipher_objective"] = _redecipher(decoded, first, objective, n_phones, s)
        atomic_save_npy(round_dir / "next_labels.npy", np.concatenate(labels).astype(np.int16))
        entry["seconds"] = round(time.time() - t0, 1)
        atomic_write_json(round_dir / "round.json", entry)
        rounds.append(entry)
        log.info("self-training, seed %d, round %d: %s", s["seed"], k, entry)
    return {"decipherment": {"objective": round(first["objective"], 4), "seconds": round(first["seconds"], 1)},
            "rounds": rounds}


def run_word_rounds(out_dir: Path, frames: dict[str, list[np.ndarray]], start: dict, lines: list[np.ndarray],
                    symbols: list[str], s: dict, phone_lm, refs_valid, word_graph, scale: float,
                    quiet: bool = False) -> list[dict]:
    """``s["word_rounds"]`` rounds from the model of ``start`` (a chain's round; the new rounds are numbered from
    ``start["next"]``): each decodes every
    train utterance with the model before it through the lexicon + word LM graph at acoustic ``scale``, and trains
    the next classifier on the frame phones of the best word path (wav2vec-U's self-training idea: the lexicon and
    the word LM correct the labels; with ``s["word_warm_start"]`` the classifier goes on from the round before's
    weights, shrunk toward a random start by ``s["word_warm_shrink"]``, for ``s["word_epochs"]`` epochs; with
    ``s["word_input_dropout"]`` its inputs are zeroed with that
    probability in training, a noisy student). After ``s["word_rounds_min"]`` rounds (0 if absent) they stop early
    after ``s["patience"]`` rounds without a lower phone-LM perplexity (0: never). Finished rounds are not redone."""
    with graph.decoding_pool(max(1, s["workers"])) as pool:  # the word graph is read once for all rounds
        return _word_rounds(out_dir, frames, start, lines, symbols, s, phone_lm, refs_valid, word_graph, scale,
                            quiet, pool)


def _word_rounds(out_dir, frames, start, lines, symbols, s, phone_lm, refs_valid, word_graph, scale, quiet, pool):
    trans = transitions(lines, len(symbols))
    model = FrameModel.load(out_dir / "rounds" / f"round-{start['round']}" / "model.pt")
    scores = None  # the train frames' scores under ``model`` (a round returns its own)
    warm = s.get("word_warm_start", False)
    rounds = []
    for k in range(start["next"], start["next"] + s["word_rounds"]):
        if _words_stalled(start, rounds, s):
            log.info("self-training on word labels: no better phone-LM perplexity in %d rounds, stopped at round %d",
                     s["patience"], k - 1)
            break
        round_dir = out_dir / "rounds" / f"round-{k}"
        if (done := _finished(round_dir)) is not None:
            rounds.append(done)
            model, scores = FrameModel.load(round_dir / "model.pt"), None
            continue
        t0 = time.time()
        if scores is None:
            scores = model.frame_scores(frames["train"])
        labels = [r["steps"] for r in graph.decode_all(word_graph, scores, model.stay, scale, workers=s["workers"],
                                                        pool=pool)]
        label_seconds = time.time() - t0
        model, entry, _, scores = _round(frames, labels, trans, symbols, s, s["seed"] + k - 1, phone_lm, refs_valid,
                                         quiet, init=model.net if warm else None,
                                         epochs=s.get("word_epochs", 1) if warm else None,
                                         input_dropout=s.get("word_input_dropout", 0.0),
                                         shrink=s.get("word_warm_shrink", 1.0))
        entry = {"round": k, "labels": "words", "word_scale": scale, **entry, "label_seconds": round(label_seconds, 1),
                 "seconds": round(time.time() - t0, 1),
                 **({"polish": {"hidden": s["hidden"], "epochs": s["epochs"]}} if s.get("polish") else {}),
                 **({"input_dropout": s["word_input_dropout"]} if s.get("word_input_dropout") else {})}
        round_dir.mkdir(parents=True, exist_ok=True)
        model.save(round_dir / "model.pt", {"round": k})
        atomic_write_json(round_dir / "round.json", entry)
        rounds.append(entry)
        log.info("self-training on word labels, seed %d, round %d: %s", s["seed"], k, entry)
    return rounds


def select_round(rounds: list[dict]) -> dict:
    """The round whose train transcripts have the lowest phone-LM perplexity (label-free)."""
    if not rounds:
        raise KitError("self-training ran no round")
    return min(rounds, key=lambda r: r["phone_lm_ppl_train"])
