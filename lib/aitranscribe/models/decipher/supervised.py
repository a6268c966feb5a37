"""The supervised reference, report-only: the unsupervised model's own architecture trained on frame labels placed
by forced alignment of the reference phones. Decoded like the unsupervised model (same HMM, same word decoder), it
shows what the kit's decoding does with a good acoustic model on the same features.

Forced alignment: Viterbi through the reference phones in order, each lasting one or more frames, with an optional
``<SIL>`` before, between and after them, scored by a model's scaled likelihoods.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from ...text.phones import SIL
from ..batching import pad
from ..training import fit_labels
from .frame_classifier import FrameClassifier
from .hmm import PhoneHMM, label_statistics
from .model import FrameModel

log = logging.getLogger(__name__)

# epochs of each pass: on the demo, 10 gave 8.7% test PER, 20 gave 9.2% and 40 gave 8.9% (2 passes each)
EPOCHS = 10


def force_align(scores: np.ndarray, phones: list[int], sil: int) -> np.ndarray:
    """The frame labels of the best path through ``phones`` (ids) with optional ``sil`` around and between them,
    for one utterance's (T, V) log scores. An utterance with fewer frames than phones keeps its best-scoring labels."""
    T = len(scores)
    chain = [sil]
    for p in phones:
        chain += [p, sil]
    states = np.array(chain)
    optional = states == sil
    S = len(states)
    if T < len(phones):
        return scores.argmax(1)
    emit = scores[:, states]
    delta = np.full(S, -np.inf)
    delta[:2] = emit[0, :2]
    back = np.zeros((T, S), dtype=np.int8)  # 0 stay, 1 from the state before, 2 skipping an optional silence
    skip_ok = np.zeros(S, dtype=bool)
    skip_ok[2:] = optional[1:-1] & ~optional[2:]  # phone -> phone over the silence between them
    for t in range(1, T):
        before = np.r_[-np.inf, delta[:-1]]
        skip = np.where(skip_ok, np.r_[-np.inf, -np.inf, delta[:-2]], -np.inf)
        moves = np.stack([delta, before, skip])
        back[t] = moves.argmax(0)
        delta = moves.max(0) + emit[t]
    s = S - 1 if delta[S - 1] >= delta[S - 2] else S - 2
    path = np.empty(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = states[s]
        s -= int(back[t, s])
    return path


def align_split(model: FrameModel, frames: list[np.ndarray], refs: list[list[str]], batch: int = 64) -> list[np.ndarray]:
    """Frame labels of every utterance: its reference phones force-aligned with ``model``'s scores (phones outside
    the model's inventory are left out)."""
    index = {s: i for i, s in enumerate(model.symbols)}
    out = []
    with torch.inference_mode():
        for start in range(0, len(frames), batch):
            x, padding = pad(frames[start:start + batch])
            logits = model.net(x, padding)
            for scores, ref in zip(model.step_scores(logits, padding), refs[start:start + batch]):
                out.append(force_align(scores, [index[p] for p in ref if p in index], index[SIL]))
    return out


def train_reference(model: FrameModel, frames: list[np.ndarray], refs: list[list[str]], epochs: int = EPOCHS,
                    seed: int = 0, passes: int = 2) -> FrameModel:
    """A classifier of ``model``'s architecture trained on force-aligned reference labels; each of ``passes``
    realigns with the model before it (the first with ``model``). Its HMM is ``model``'s, with the label prior and
    self-loop read off the aligned labels."""
    current = model
    for k in range(passes):
        labels = align_split(current, frames, refs)
        log_prior, stay = label_statistics(labels, len(model.symbols))
        torch.manual_seed(seed + k)
        net = fit_labels(FrameClassifier(**model.net.config()), frames, labels, epochs, 32, 1e-3, seed + k)
        hmm = PhoneHMM(model.hmm.start, model.hmm.end, model.hmm.between, stay)
        current = FrameModel(net, log_prior, hmm, model.symbols)
        log.info("supervised reference: pass %d of %d trained on %d aligned frames", k + 1, passes,
                 sum(len(y) for y in labels))
    return current
