"""Screen decipherment of audio tokens into phones with the unpaired text's statistics (issue 9).

    .venv/bin/python tools/research/decipher_screen.py PROFILE --tokens {units,segments,oracle} --solver {hmm,counts,hard}

Tokens of each utterance (labels never used to make them):
  ``units``     the 10 ms frames' k-means units of stage 03 (``CLUS{K}/{split}.src``);
  ``segments``  label-free phone-like segments: peaks of spectral change between frames t-1 and t+1
                (at least ``--min-gap`` frames apart, prominence ``--prominence`` x the median change),
                each segment's mean frame given one of ``--k`` k-means units;
                ``--bounds groups`` cuts instead where the frames' unit group changes (``--groups`` groups of
                units that often follow each other, runs of at least ``--min-gap`` frames);
                ``--bounds reference`` and ``--label-tokens`` swap in the references for the boundaries or
                the tokens, to tell which of the two breaks a solver;
  ``oracle``    the forced-aligned reference phone of each frame through a random permutation, runs merged
                (an ideal substitution cipher, to test a solver); ``--homophones H`` splits each phone into H
                tokens at random and ``--noise R`` replaces a share R of tokens by the token of a phone drawn
                by frequency, to measure how clean tokens must be for a solver to work.
Solvers (label-free; the restart with the best objective on train is selected):
  ``hmm``     Baum-Welch of P(token | phone) and self-loops in a phone HMM whose transitions are the text's
              phone bigram;
  ``counts``  EM of P(token | phone) matching the train tokens' bigram counts to the text's phone bigram,
              then the restarts with the best bigram fit are refined on trigram counts;
  ``skipgrams`` EM of P(token | phone) matching the counts of token pairs ``--distances`` apart to the
              text's phone pairs as far apart (adjacent tokens share coarticulation, which the models
              above cannot explain); ``--split``/``--merge`` give the chance that a token continues its
              phone or skips one, so a token distance maps to a mixture of phone distances; ``--triples``
              adds token triples (d1, d2 apart) matched to the text's phone triples, and the best pair
              restarts are refined on both (``--pair-weight 0``: on the triples alone);
  ``hard``    simulated annealing of a many-to-one map token -> phone under the likelihood of the mapped,
              merged sequence (text phone bigram, per-phone run lengths and token frequencies).
Report-only, with labels: the same objective at the supervised solution (counted from a forced alignment of
the references) and after the solver is started there, and PER on ``--eval-split`` (valid unless asked; rows
before 2026-12-05 read test) of Viterbi decoding with the text
bigram. A found objective above the supervised one with a worse PER means the objective prefers a wrong
answer; a supervised basin above every restart means the search fails. One JSON row per run is appended to
``reports/research/decipher_screen.jsonl``.
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
from scipy.signal import find_peaks

from aitranscribe.core.files import atomic_save_npy
from aitranscribe.core.logs import setup_logging
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.text import error_rates
from aitranscribe.features import units as unit_pipeline
from aitranscribe.io import feature_files
from aitranscribe.models.decipher import decipherment as decipher
from aitranscribe.models.decipher.hmm import PhoneHMM, transitions
from aitranscribe.text.phones import SIL, read_dictionary, read_references

RESULTS = REPO_ROOT / "reports" / "research" / "decipher_screen.jsonl"
EVAL = "valid"  # the split the report-only PER is measured on (--eval-split; rows before 2026-12-05 used test)


def reference_frame_labels(profile: str, features_record: dict, text_record: dict) -> dict[str, list[np.ndarray]]:
    """Phone of every train and ``EVAL`` frame from a forced alignment (report-only), cached in the profile's data."""
    cache = REPO_ROOT / "data" / profile / f"research_frame_labels_{EVAL}.npy"
    if cache.is_file():
        return np.load(cache, allow_pickle=True).item()
    sys.path.insert(0, str(Path(__file__).parent))
    from unit_purity_screen import frame_alignment

    labels = {}
    for split in ("train", EVAL):
        feats, lengths = feature_files.read_features(features_record["dir"], split)
        frames = [np.asarray(f, dtype=np.float32) for f in feature_files.utterances(feats, lengths)]
        labels[split] = frame_alignment(frames, read_references(text_record["references"], split))
    atomic_save_npy(cache, np.array(labels, dtype=object))
    return labels


def profile_inputs(profile: str) -> tuple[dict, dict, list[str]]:
    """Stage 03 and 04 records of a profile and the text's phone symbols with <SIL>."""
    stages_dir = REPO_ROOT / "data" / profile / "stages"
    features_record = json.loads((stages_dir / "features.json").read_text())
    text_record = json.loads((stages_dir / "text.json").read_text())
    symbols = read_dictionary(text_record["dict_phn"])
    return features_record, text_record, symbols + ([SIL] if SIL not in symbols else [])


def change_segments(frames: np.ndarray, min_gap: int, prominence: float) -> np.ndarray:
    """Segment bounds (0, ..., len) at peaks of the change of the centre frame between t-1 and t+1."""
    centre = frames[:, frames.shape[1] * 2 // 5: frames.shape[1] * 3 // 5] if frames.shape[1] % 5 == 0 else frames
    change = np.r_[0, np.linalg.norm(centre[2:] - centre[:-2], axis=1), 0]
    peaks, _ = find_peaks(change, distance=min_gap, prominence=prominence * np.median(change))
    return np.unique(np.r_[0, peaks, len(frames)])


def segment_vector(frames: np.ndarray, part: str) -> np.ndarray:
    """Mean of a segment's frames, or of its middle third only (less of its neighbours' coarticulation)."""
    if part == "middle" and len(frames) >= 3:
        third = len(frames) // 3
        frames = frames[third: len(frames) - third]
    return frames.mean(0)


def majority_phones(labels: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The most frequent phone symbol of each segment (``decipher.majority`` takes integer labels; a tie goes to
    the symbol first in sort order)."""
    names, ids = np.unique(labels, return_inverse=True)
    return names[decipher.majority(ids.reshape(-1), bounds).astype(np.int64)]


def make_tokens(kind: str, args, features_record: dict, labels: dict, symbols: list[str]):
    """(tokens, reference phone of each token) per split, the token inventory size, report-only stats and, for
    segments, each split's segment bounds (else None)."""
    index = {s: i for i, s in enumerate(symbols)}
    stats = {}
    if kind == "oracle":
        rng = np.random.RandomState(args.seed)
        n_tokens = len(symbols) * args.homophones
        perm = rng.permutation(n_tokens)
        tokens, token_labels = {}, {}
        for split in ("train", EVAL):
            phones = [np.array([index[p] for p in majority_phones(l, decipher.run_bounds(l))]) for l in labels[split]]
            frequency = np.bincount(np.concatenate(phones), minlength=len(symbols)) / sum(map(len, phones))
            tokens[split], token_labels[split] = [], []
            for ph in phones:
                if args.indels:  # a share of tokens dropped, as many doubled (merged and split segments)
                    fate = rng.rand(len(ph))
                    ph = np.repeat(ph, np.where(fate < args.indels / 2, 0, np.where(fate > 1 - args.indels / 2, 2, 1)))
                token_labels[split].append(np.array(symbols, dtype=object)[ph])
                ph = np.where(rng.rand(len(ph)) < args.noise, rng.choice(len(symbols), len(ph), p=frequency), ph)
                tokens[split].append(perm[ph * args.homophones + rng.randint(args.homophones, size=len(ph))])
        return tokens, token_labels, n_tokens, stats, None
    if kind == "units":
        tokens = {split: feature_files.read_units(features_record["centroids"], split) for split in ("train", EVAL)}
        return tokens, {s: labels[s] for s in tokens}, int(Path(features_record["centroids"]).name[4:]), stats, None
    bounds, means = {}, {}
    groups = (decipher.unit_groups(feature_files.read_units(features_record["centroids"], "train"), args.groups,
                                   args.seed) if args.bounds == "groups" else None)
    for split in ("train", EVAL):
        feats, lengths = feature_files.read_features(features_record["dir"], split)
        frames = [np.asarray(f, dtype=np.float32) for f in feature_files.utterances(feats, lengths)]
        if args.bounds == "reference":
            bounds[split] = [decipher.run_bounds(l) for l in labels[split]]
        elif args.bounds == "groups":
            bounds[split] = [decipher.group_segments(groups[u], args.min_gap)
                             for u in feature_files.read_units(features_record["centroids"], split)]
        else:
            bounds[split] = [change_segments(f, args.min_gap, args.prominence) for f in frames]
        means[split] = [np.stack([segment_vector(f[a:b], args.segment_part) for a, b in zip(bd[:-1], bd[1:])])
                        for f, bd in zip(frames, bounds[split])]
    x = np.concatenate(means["train"])
    centroids = unit_pipeline.fit_kmeans(unit_pipeline.sample_rows(x, 100000, args.seed), args.k, 20, 1, args.seed)
    tokens = {split: [unit_pipeline.assign(m, centroids) for m in means[split]] for split in means}
    token_labels = {split: [majority_phones(l, b) for l, b in zip(labels[split], bounds[split])] for split in bounds}
    if args.label_tokens:
        perm = np.random.RandomState(args.seed).permutation(len(symbols))
        tokens = {split: [perm[[index[p] for p in l]] for l in token_labels[split]] for split in token_labels}
    n_phones = sum(1 + int((l[1:] != l[:-1]).sum()) for l in labels["train"])
    hits = found = n_ref = n_hyp = 0
    for l, b in zip(labels["train"], bounds["train"]):
        ref, hyp = np.flatnonzero(l[1:] != l[:-1]) + 1, b[1:-1]
        n_ref, n_hyp = n_ref + len(ref), n_hyp + len(hyp)
        if len(ref) and len(hyp):
            gap = np.abs(ref[:, None] - hyp[None])
            hits, found = hits + int((gap.min(1) <= 2).sum()), found + int((gap.min(0) <= 2).sum())
    stats = {"segments_per_phone": round(len(x) / n_phones, 3), "boundary_recall_2frames": round(hits / n_ref, 3),
             "boundary_precision_2frames": round(found / n_hyp, 3)}
    return tokens, token_labels, len(symbols) if args.label_tokens else args.k, stats, bounds


def text_statistics(phone_text: Path, symbols: list[str], smoothing: float = 0.1) -> dict:
    """Start/end probabilities, between-phone transitions (self removed), unigram and trigram joint of the text,
    and its phone lines as index arrays with runs merged."""
    index = {s: i for i, s in enumerate(symbols)}
    n = len(symbols)
    unigram, triple, lines = np.zeros(n), np.full((n, n, n), 1e-3), []
    for line in phone_text.read_text().splitlines():
        seq = [index[p] for p in line.split() if p in index]
        seq = np.array([p for k, p in enumerate(seq) if k == 0 or p != seq[k - 1]], dtype=np.int64)
        if not len(seq):
            continue
        lines.append(seq)
        np.add.at(unigram, seq, 1)
        if len(seq) >= 3:
            np.add.at(triple, (seq[:-2], seq[1:-1], seq[2:]), 1)
    return {**transitions(lines, n, smoothing),
            "unigram": unigram / unigram.sum(), "trigram": triple / triple.sum(), "lines": lines}


class TokenHMM:
    """Phone HMM over padded token sequences: batched scaled forward-backward (Viterbi: ``viterbi_phones``)."""

    def __init__(self, units: list[np.ndarray], start, end, between):
        """``between``: transitions between different phones; each phone also has a self-loop ``stay``."""
        self.tokens = units
        self.lengths = torch.tensor([len(u) for u in units])
        self.T = int(self.lengths.max())
        self.units = torch.zeros(len(units), self.T, dtype=torch.long)
        for i, u in enumerate(units):
            self.units[i, :len(u)] = torch.from_numpy(u)
        self.valid = torch.arange(self.T)[None] < self.lengths[:, None]
        self.start = torch.tensor(start, dtype=torch.float64)
        self.end = torch.tensor(end, dtype=torch.float64)
        self.between = torch.tensor(between, dtype=torch.float64)

    def transitions(self, stay: torch.Tensor) -> torch.Tensor:
        return torch.diag(stay) + (1 - stay)[:, None] * self.between

    def e_step(self, emit: torch.Tensor, stay: torch.Tensor):
        """Log-likelihood per token, expected emission counts (S x K) and expected self/total occupancy."""
        A = self.transitions(stay)
        E = emit.T[self.units]  # N x T x S
        N, T, S = E.shape
        alpha = torch.empty(N, T, S, dtype=torch.float64)
        scale = torch.ones(N, T, dtype=torch.float64)
        a = self.start[None] * E[:, 0]
        scale[:, 0] = a.sum(1)
        alpha[:, 0] = a / scale[:, 0, None]
        for t in range(1, T):
            a = (alpha[:, t - 1] @ A) * E[:, t]
            s = a.sum(1)
            live = self.valid[:, t]
            scale[:, t] = torch.where(live, s, torch.ones_like(s))
            alpha[:, t] = torch.where(live[:, None], a / scale[:, t, None], alpha[:, t - 1])
        beta = torch.empty_like(alpha)
        last = self.lengths - 1
        beta[:, T - 1] = self.end[None]
        for t in range(T - 2, -1, -1):
            b = ((E[:, t + 1] * beta[:, t + 1]) @ A.T) / scale[:, t + 1, None]
            beta[:, t] = torch.where((t < last)[:, None], b, self.end[None].expand(N, S))
        end_norm = (alpha[torch.arange(N), last] * self.end[None]).sum(1)
        loglik = scale.log().sum(1) + end_norm.log()
        gamma = alpha * beta / end_norm[:, None, None]
        gamma = gamma * self.valid[..., None]
        counts = torch.zeros(emit.shape[1], S, dtype=torch.float64)
        counts.index_add_(0, self.units.reshape(-1), gamma.reshape(-1, S))
        # expected self transitions: alpha_{t-1}(i) A_ii E_t(i) beta_t(i) / scale_t / end_norm
        both = self.valid[:, 1:, None]
        selfs = (alpha[:, :-1] * torch.diag(A)[None, None] * E[:, 1:] * beta[:, 1:] / scale[:, 1:, None]
                 / end_norm[:, None, None] * both).sum((0, 1))
        leaving = (gamma[:, :-1] * both).sum((0, 1))
        return float(loglik.sum() / self.lengths.sum()), counts.T, selfs, leaving


class LoopsHMM(PhoneHMM):
    """The library's Viterbi HMM with a self-loop per phone (``stay``: one value per phone, as the hmm solver
    learns them; the library has one self-loop for all)."""

    def __init__(self, hmm: TokenHMM, stay: torch.Tensor):
        super().__init__(hmm.start, hmm.end, hmm.between, 0.0)
        self.transition = hmm.transitions(stay)

    def log_transitions(self) -> torch.Tensor:
        return self.transition.log()


def baum_welch(hmm: TokenHMM, emit: torch.Tensor, stay: torch.Tensor, iters: int, learn_stay: bool,
               prior: float = 0.01):
    """EM of the emission table (and self-loops); returns (log-likelihood per token, emit, stay)."""
    for _ in range(iters):
        _, counts, selfs, leaving = hmm.e_step(emit, stay)
        emit = (counts + prior) / (counts + prior).sum(1, keepdim=True)
        if learn_stay:
            stay = ((selfs + 1) / (leaving + 2)).clamp(0.05, 0.98)
    return hmm.e_step(emit, stay)[0], emit, stay


class CountModel:
    """Token bigram (trigram) counts explained by phone bigrams (trigrams) of the text through P(token | phone)."""

    def __init__(self, tokens: list[np.ndarray], n_tokens: int, text: dict, stay: float):
        n = len(text["unigram"])
        self.pair = torch.tensor(text["unigram"][:, None] * (stay * np.eye(n) + (1 - stay) * text["between"]))
        self.triple = torch.tensor(text["trigram"])
        bigrams, trigrams = np.zeros((n_tokens,) * 2), np.zeros((n_tokens,) * 3)
        for u in tokens:
            np.add.at(bigrams, (u[:-1], u[1:]), 1)
            if len(u) >= 3:
                np.add.at(trigrams, (u[:-2], u[1:-1], u[2:]), 1)
        self.bigrams, self.trigrams = torch.tensor(bigrams), torch.tensor(trigrams)

    def bigram_loglik(self, emit: torch.Tensor) -> torch.Tensor:
        joint = emit.T @ self.pair @ emit
        return (self.bigrams * joint.clamp_min(1e-300).log()).sum() / self.bigrams.sum()

    def trigram_loglik(self, emit: torch.Tensor) -> torch.Tensor:
        x = torch.einsum("pa,pqr,rc->aqc", emit, self.triple, emit)
        joint = torch.einsum("aqc,qb->abc", x, emit)
        return (self.trigrams * joint.clamp_min(1e-300).log()).sum() / self.trigrams.sum()


def swap_search(objective, emit: torch.Tensor, steps: int, rng, iters: int = 60) -> tuple[float, torch.Tensor]:
    """Local search from an EM solution: swap the rows of two phones, run a short EM, keep it if better."""
    best = float(objective(emit))
    for _ in range(steps):
        p, q = rng.choice(len(emit), 2, replace=False)
        candidate = emit.clone()
        candidate[[p, q]] = emit[[q, p]]
        candidate = decipher.em(objective, candidate, iters)
        value = float(objective(candidate))
        if value > best:
            best, emit = value, candidate
    return best, emit


def parse_triples(text: str) -> list[tuple[int, int]]:
    """"2,2;3,3" -> [(2, 2), (3, 3)]."""
    return [tuple(int(d) for d in part.split(",")) for part in text.split(";") if part]


def xlogx(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x * np.log(np.maximum(x, 1e-300)), 0.0)


class HardMap:
    """Likelihood of a many-to-one map token -> phone: the merged phone sequence under the text bigram, the
    per-phone probability of continuing a run, and each token's share of its phone (from token bigram counts)."""

    def __init__(self, tokens: list[np.ndarray], n_tokens: int, text: dict):
        self.n_phones = len(text["unigram"])
        self.log_start, self.log_end = np.log(text["start"]), np.log(text["end"])
        self.log_between = np.log(np.maximum(text["between"], 1e-300))
        self.bigrams, self.starts, self.ends, self.counts = (np.zeros((n_tokens, n_tokens)), np.zeros(n_tokens),
                                                             np.zeros(n_tokens), np.zeros(n_tokens))
        for u in tokens:
            np.add.at(self.bigrams, (u[:-1], u[1:]), 1)
            self.starts[u[0]] += 1
            self.ends[u[-1]] += 1
            np.add.at(self.counts, u, 1)

    def score(self, f: np.ndarray) -> float:
        same = f[:, None] == f[None, :]
        lm = ((self.bigrams * np.where(same, 0.0, self.log_between[f[:, None], f[None, :]])).sum()
              + self.starts @ self.log_start[f] + self.ends @ self.log_end[f])
        per_phone = np.bincount(f, weights=self.counts, minlength=self.n_phones)
        emission = xlogx(self.counts).sum() - xlogx(per_phone).sum()
        stays = np.bincount(f, weights=(self.bigrams * same).sum(1), minlength=self.n_phones)
        moves = np.bincount(f, weights=(self.bigrams * ~same).sum(1), minlength=self.n_phones)
        runs = xlogx(stays).sum() + xlogx(moves).sum() - xlogx(stays + moves).sum()
        return float((lm + emission + runs) / self.counts.sum())

    def climb(self, f: np.ndarray, rng, sweeps: int = 30) -> tuple[np.ndarray, float]:
        """Coordinate ascent: each token in turn takes its best phone, until nothing changes."""
        best = self.score(f)
        for _ in range(sweeps):
            changed = False
            for u in rng.permutation(len(f)):
                current, values = f[u], np.empty(self.n_phones)
                for p in range(self.n_phones):
                    f[u] = p
                    values[p] = self.score(f)
                f[u] = current
                if values.max() > best + 1e-12:
                    f[u], best, changed = int(values.argmax()), float(values.max()), True
            if not changed:
                break
        return f, best

    def anneal(self, f: np.ndarray, rng, steps: int, t_start: float = 0.02, t_end: float = 0.0002):
        """Simulated annealing over swaps of two phones' tokens and single reassignments, then climb."""
        current = self.score(f)
        best, best_f = current, f.copy()
        for i in range(steps):
            temperature = t_start * (t_end / t_start) ** (i / steps)
            g = f.copy()
            if rng.rand() < 0.5:
                p, q = rng.choice(self.n_phones, 2, replace=False)
                g[f == p], g[f == q] = q, p
            else:
                g[rng.randint(len(f))] = rng.randint(self.n_phones)
            value = self.score(g)
            if value >= current or rng.rand() < np.exp((value - current) / temperature):
                f, current = g, value
                if current > best:
                    best, best_f = current, f.copy()
        return self.climb(best_f, rng)

    @staticmethod
    def decode(f: np.ndarray, tokens: list[np.ndarray], symbols: list[str]) -> list[list[str]]:
        out = []
        for u in tokens:
            phones = f[u]
            phones = phones[np.r_[True, phones[1:] != phones[:-1]]]
            out.append([symbols[p] for p in phones if symbols[p] != SIL])
        return out


def viterbi_phones(hmm: TokenHMM, emit: torch.Tensor, stay: torch.Tensor, symbols: list[str]) -> list[list[str]]:
    """Phones of the best paths of ``hmm``'s token sequences under the emission table (S x K), runs merged,
    <SIL> dropped: the library's Viterbi (one self-loop for all phones, else ``LoopsHMM``)."""
    if bool((stay == stay[0]).all()):
        viterbi = PhoneHMM(hmm.start, hmm.end, hmm.between, float(stay[0]))
    else:
        viterbi = LoopsHMM(hmm, stay)
    out = []
    for path in viterbi.token_paths(emit, hmm.tokens):
        seq = [symbols[s] for k, s in enumerate(path) if k == 0 or s != path[k - 1]]
        out.append([p for p in seq if p != SIL])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--tokens", choices=("units", "segments", "oracle"), required=True)
    parser.add_argument("--solver", choices=("hmm", "counts", "skipgrams", "hard"), required=True)
    parser.add_argument("--k", type=int, default=128, help="segments: k-means units of segment means")
    parser.add_argument("--min-gap", type=int, default=3, help="segments: least frames between two boundaries")
    parser.add_argument("--prominence", type=float, default=0.05, help="segments: peak prominence / median change")
    parser.add_argument("--segment-part", choices=("mean", "middle"), default="mean",
                        help="segments: token of the whole segment's mean or of its middle third")
    parser.add_argument("--bounds", choices=("change", "groups", "reference"), default="change",
                        help="segments: spectral change points, changes of unit group, or the forced alignment's "
                             "phone boundaries (report-only diagnosis)")
    parser.add_argument("--groups", type=int, default=20, help="segments, bounds groups: unit groups")
    parser.add_argument("--label-tokens", action="store_true",
                        help="segments: each segment's token is its majority reference phone, permuted (diagnosis)")
    parser.add_argument("--resample", action="store_true",
                        help="redraw every token from P(token | its reference phone) (diagnosis: confusions without context)")
    parser.add_argument("--homophones", type=int, default=1, help="oracle: tokens per phone")
    parser.add_argument("--noise", type=float, default=0.0, help="oracle: share of tokens replaced at random")
    parser.add_argument("--indels", type=float, default=0.0, help="oracle: share of tokens dropped or doubled")
    parser.add_argument("--stay", type=float, default=0.0, help="self-loop of every phone; 0: hmm learns them")
    parser.add_argument("--distances", default="2,3,4,5", help="skipgrams: token distances, comma-separated")
    parser.add_argument("--split", type=float, default=0.0, help="skipgrams: chance a token continues its phone")
    parser.add_argument("--triples", default="",
                        help="skipgrams: also token triples d1,d2 apart, e.g. '2,2;3,3;2,3;3,2'")
    parser.add_argument("--pair-weight", type=float, default=1.0, help="skipgrams: weight of the pairs with triples")
    parser.add_argument("--refine-iters", type=int, default=100,
                        help="skipgrams with triples: EM iterations of the refinement")
    parser.add_argument("--merge", type=float, default=0.0, help="skipgrams: chance a token step skips a phone")
    parser.add_argument("--swaps", type=int, default=0,
                        help="skipgrams: phone-swap local search steps from the best restart (its result is one more row)")
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--iters", type=int, default=40, help="EM iterations (counts: per stage)")
    parser.add_argument("--refine", type=int, default=4,
                        help="counts: best bigram restarts refined on trigrams; skipgrams: best pair restarts refined with triples")
    parser.add_argument("--steps", type=int, default=50000, help="hard: annealing steps per restart")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-split", default="valid", choices=("valid", "test"),
                        help="split of the report-only PER (valid: choices are never made on test)")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    global EVAL
    EVAL = args.eval_split
    torch.set_num_threads(args.threads)
    setup_logging("WARNING")
    t0 = time.time()
    features_record, text_record, symbols = profile_inputs(args.profile)
    index = {s: i for i, s in enumerate(symbols)}
    text = text_statistics(Path(text_record["phone_text"]), symbols)
    labels = reference_frame_labels(args.profile, features_record, text_record)
    tokens, token_labels, n_tokens, stats, _ = make_tokens(args.tokens, args, features_record, labels, symbols)
    if args.resample:  # each token drawn afresh from P(token | its phone): same confusions, no context effects
        phone_ids = [[index[p] for p in l] for l in token_labels["train"]]
        confusion = decipher.token_counts(phone_ids, tokens["train"], len(symbols), n_tokens) + 1e-9
        cumulative = np.cumsum(confusion / confusion.sum(1, keepdims=True), 1)
        draw = np.random.RandomState(args.seed)
        for split in tokens:
            tokens[split] = [np.minimum((cumulative[[index[p] for p in l]] < draw.rand(len(l), 1)).sum(1), n_tokens - 1)
                             for l in token_labels[split]]
    refs = read_references(text_record["references"], EVAL)
    n_phones = len(symbols)

    counts = decipher.token_counts([[index[p] for p in l] for l in token_labels["train"]], tokens["train"],
                                   n_phones, n_tokens)
    purity = float(counts.max(0).sum() / counts.sum())
    supervised = torch.tensor((counts + 0.01) / (counts + 0.01).sum(1, keepdims=True))
    rng = np.random.RandomState(args.seed)

    if args.solver == "hard":
        model = HardMap(tokens["train"], n_tokens, text)
        per = lambda f: error_rates.per(HardMap.decode(f, tokens[EVAL], symbols), refs)
        f_sup = supervised.argmax(0).numpy()
        at_supervised = (model.score(f_sup), per(f_sup))
        f, value = model.climb(f_sup.copy(), rng)
        from_supervised = (value, per(f))
        restarts = []
        for r in range(args.restarts):
            f, value = model.anneal(rng.randint(0, n_phones, n_tokens), rng, args.steps)
            restarts.append((value, per(f)))
    else:
        stay = torch.full((n_phones,), args.stay or 0.5, dtype=torch.float64)
        test_hmm = TokenHMM(tokens[EVAL], text["start"], text["end"], text["between"])
        per = lambda emit, stay: error_rates.per(viterbi_phones(test_hmm, emit, stay, symbols), refs)
        if args.solver == "skipgrams":
            model = decipher.SkipGramModel(tokens["train"], n_tokens, text["lines"], n_phones,
                                           [int(d) for d in args.distances.split(",")], args.split, args.merge,
                                           parse_triples(args.triples), args.pair_weight)
            at_supervised = (float(model.loglik(supervised)), per(supervised, stay))
            emit = decipher.em(model.loglik, supervised, args.iters)
            from_supervised = (float(model.loglik(emit)), per(emit, stay))
            restarts, best = [], None
            for emit in decipher.restarts(model, n_phones, n_tokens, args.restarts, args.iters, args.refine,
                                          args.refine_iters, args.seed, quiet=True):
                restarts.append((float(model.loglik(emit)), per(emit, stay)))
                if best is None or restarts[-1][0] > best[0]:
                    best = (restarts[-1][0], emit)
            if args.swaps:
                value, emit = swap_search(model.loglik, best[1], args.swaps, rng)
                emit = decipher.em(model.loglik, emit, args.iters)
                restarts.append((float(model.loglik(emit)), per(emit, stay)))
        elif args.solver == "hmm":
            hmm = TokenHMM(tokens["train"], text["start"], text["end"], text["between"])
            at_supervised = (hmm.e_step(supervised, stay)[0], per(supervised, stay))
            value, emit, stay_found = baum_welch(hmm, supervised, stay, args.iters, not args.stay)
            from_supervised = (value, per(emit, stay_found))
            restarts = []
            for r in range(args.restarts):
                start = decipher.random_emission(n_phones, n_tokens, args.seed + r)
                value, emit, stay_found = baum_welch(hmm, start, stay, args.iters, not args.stay)
                restarts.append((value, per(emit, stay_found)))
        else:
            model = CountModel(tokens["train"], n_tokens, text, args.stay)
            at_supervised = (float(model.trigram_loglik(supervised)), per(supervised, stay))

            def solve(emit):
                emit = decipher.em(model.bigram_loglik, emit, args.iters)
                return float(model.bigram_loglik(emit)), emit

            emit = decipher.em(model.trigram_loglik, solve(supervised)[1], args.iters)
            from_supervised = (float(model.trigram_loglik(emit)), per(emit, stay))
            firsts = sorted((solve(decipher.random_emission(n_phones, n_tokens, args.seed + r))
                             for r in range(args.restarts)), key=lambda x: -x[0])
            restarts = []
            for _, emit in firsts[:args.refine]:
                emit = decipher.em(model.trigram_loglik, emit, args.iters)
                restarts.append((float(model.trigram_loglik(emit)), per(emit, stay)))
    selected = max(restarts)
    row = {
        "profile": args.profile, "tokens": args.tokens, "solver": args.solver, "note": args.note,
        "settings": {k: v for k, v in vars(args).items() if k not in ("profile", "tokens", "solver", "note", "threads")},
        "n_tokens": n_tokens, "train_tokens": int(sum(map(len, tokens["train"]))), "token_purity": round(purity, 3),
        **stats,
        "supervised": {"objective": round(at_supervised[0], 4), f"per_{EVAL}": round(at_supervised[1], 4)},
        "solver_from_supervised": {"objective": round(from_supervised[0], 4), f"per_{EVAL}": round(from_supervised[1], 4)},
        f"restarts (objective, per_{EVAL})": [(round(v, 4), round(p, 4)) for v, p in restarts],
        "selected_without_labels": {"objective": round(selected[0], 4), f"per_{EVAL}": round(selected[1], 4)},
        "seconds": round(time.time() - t0, 1), "machine": platform.machine(), "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(), "torch": torch.__version__, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(json.dumps(row), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
