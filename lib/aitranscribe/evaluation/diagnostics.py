"""Report-only diagnostics of unsupervised training (they use the audio's reference phones).

* chance PER: phones drawn from the text's unigram distribution, as many as the reference has;
* supervised reference: the CTC probe on the same segments (an upper reference);
* unit purity: how phone-pure the k-means units are, with phones placed on merged segments by CTC forced
  alignment;
* the method's own checks (its package's ``report_checks``: e.g. the decipher method's model trained with labels,
  the GAN's objective check), given segments force-aligned by the probe.
None of these numbers feeds training, selection or defaults.
"""
from __future__ import annotations

import collections
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import models
from ..io import feature_files
from ..models.base import ReportInputs
from ..text.error_rates import per as phone_error_rate
from . import probe

log = logging.getLogger(__name__)


def chance_per(references: list[list[str]], phone_counts: dict, seed: int = 0, draws: int = 3) -> float:
    """PER of random transcripts drawn from the unigram phone distribution with the reference lengths."""
    symbols = list(phone_counts)
    probs = np.array([phone_counts[s] for s in symbols], dtype=np.float64)
    probs /= probs.sum()
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        hyps = [list(rng.choice(symbols, size=len(r), p=probs)) for r in references]
        values.append(phone_error_rate(hyps, references))
    return float(np.mean(values))


def ctc_align(log_probs: np.ndarray, targets: list[int]) -> np.ndarray:
    """Viterbi CTC alignment: for each of T frames the target position (0..L-1) it belongs to.

    ``log_probs`` (T, V+1) with blank at index 0; ``targets`` use indices 1..V. Blank frames take the
    position of the closest preceding label (the first label at the start).
    """
    T, L = len(log_probs), len(targets)
    states = [0] + [x for t in targets for x in (t, 0)]
    S = len(states)
    score = np.full((T, S), -np.inf)
    back = np.zeros((T, S), dtype=np.int64)
    score[0, 0] = log_probs[0, 0]
    if S > 1:
        score[0, 1] = log_probs[0, states[1]]
    for t in range(1, T):
        prev = score[t - 1]
        stay = prev
        step = np.concatenate([[-np.inf], prev[:-1]])
        skip = np.concatenate([[-np.inf, -np.inf], prev[:-2]])
        allowed = np.array([s % 2 == 1 and s >= 3 and states[s] != states[s - 2] for s in range(S)])
        skip = np.where(allowed, skip, -np.inf)
        stacked = np.stack([stay, step, skip])
        best = stacked.argmax(0)
        score[t] = stacked[best, np.arange(S)] + log_probs[t, states]
        back[t] = np.arange(S) - best
    s = S - 1 if S == 1 or score[-1, S - 1] >= score[-1, S - 2] else S - 2
    path = np.zeros(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = s
        s = back[t, s]
    position = np.where(path % 2 == 1, (path - 1) // 2, -1)
    for t in range(T):  # blanks take the preceding label's position
        if position[t] < 0:
            position[t] = position[t - 1] if t > 0 else 0
    return np.clip(position, 0, max(L - 1, 0))


def unit_purity(features_record: dict, references: list[list[str]], epochs: int, seed: int = 0,
                max_utterances: int = 500) -> dict:
    """Phone purity of k-means units on train merged segments, phones placed by CTC forced alignment."""
    merged_dir = features_record["merged"]
    result = probe.train_probe(merged_dir, epochs=epochs, seed=seed, eval_split="valid", return_model=True)
    model, symbols = result["model"], result["symbol_list"]
    index = {s: i + 1 for i, s in enumerate(symbols)}
    feats, lengths = feature_files.read_features(merged_dir, "train", mmap=False)
    frame_units = feature_files.read_units(features_record["centroids"], "train")
    counts = collections.defaultdict(collections.Counter)
    model.eval()
    for u, (utt, ids, ref) in enumerate(zip(feature_files.utterances(feats, lengths), frame_units, references)):
        if u >= max_utterances:
            break
        units = ids[np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1])]  # one unit per merged segment
        targets = [index[p] for p in ref if p in index]
        if not targets or len(targets) > len(utt):
            continue
        with torch.inference_mode():
            logp = F.log_softmax(model(torch.from_numpy(np.asarray(utt))[None]), -1)[0].numpy()
        positions = ctc_align(logp, targets)
        for unit, pos in zip(units, positions):
            counts[int(unit)][symbols[targets[pos] - 1]] += 1
    total = sum(sum(c.values()) for c in counts.values())
    purity = sum(max(c.values()) for c in counts.values()) / max(total, 1)
    return {"purity": purity, "segments": total, "units": len(counts), "aligner_per_valid": result["per"]}


def segment_aligner(probe_model: probe.LinearCTC, probe_symbols: list[str]):
    """``align(feats, references, symbols) -> [(segments, labels)]``: every utterance's segments (a (T, D) tensor,
    in reference order) with the index in ``symbols`` of the reference phone the CTC probe's forced alignment
    places on each (report-only: labels). Utterances with more kept phones than segments are left out."""
    index = {s: i + 1 for i, s in enumerate(probe_symbols)}

    def align(feats: list[torch.Tensor], references: list[list[str]], symbols: list[str]) -> list[tuple]:
        where = {s: i for i, s in enumerate(symbols)}
        data = []
        probe_model.eval()
        for utt, ref in zip(feats, references):
            kept = [p for p in ref if p in index and p in where]
            if not kept or len(kept) > len(utt):
                continue
            with torch.inference_mode():
                logp = F.log_softmax(probe_model(utt[None]), -1)[0].numpy()
            positions = ctc_align(logp, [index[p] for p in kept])
            data.append((utt, torch.tensor([where[kept[k]] for k in positions])))
        return data

    return align


def method_checks(model, summary: dict, supervised: dict, features_record: dict, phone_lm, refs: dict, epochs: int,
                  seed: int, out_dir: Path) -> dict:
    """Report-only references particular to the model's method (its package's ``report_checks``): ``supervised``
    is the CTC probe's result (its ``model`` and ``symbol_list``, the forced aligner of segments); ``refs``:
    reference phones of train, valid and test."""
    inputs = ReportInputs(features_record=features_record, phone_lm=phone_lm, refs=refs, epochs=epochs, seed=seed,
                          out_dir=Path(out_dir), align_segments=segment_aligner(supervised["model"],
                                                                                supervised["symbol_list"]),
                          fit_batch_size=probe.BATCH_SIZE, fit_lr=probe.LEARNING_RATE)
    return models.METHODS[model.method].report_checks(model, summary, inputs)
