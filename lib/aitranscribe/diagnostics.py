"""Report-only diagnostics of unsupervised training (they use the audio's reference phones).

* chance PER: phones drawn from the text's unigram distribution, as many as the reference has;
* supervised reference: the CTC probe on the same segments (an upper reference);
* unit purity: how phone-pure the k-means units are, with phones placed on merged segments by CTC forced
  alignment;
* objective check: the GAN's generator losses and the label-free selection scores at the supervised
  solution (a GAN generator trained on force-aligned segment labels) versus at the solution found, to
  tell a failing objective from a failing search.
None of these numbers feeds training, selection or defaults.
"""
from __future__ import annotations

import collections
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import gan, probe, segments
from .probe import per as phone_error_rate

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
    feats, lengths = segments.read_features(merged_dir, "train", mmap=False)
    src = (Path(features_record["centroids"]) / "train.src").read_text().split("\n")
    counts = collections.defaultdict(collections.Counter)
    model.eval()
    for u, (utt, ids_line, ref) in enumerate(zip(segments.utterances(feats, lengths), src, references)):
        if u >= max_utterances:
            break
        ids = np.array(ids_line.split(), dtype=np.int64)
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


def aligned_generator(probe_model: probe.LinearCTC, probe_symbols: list[str], feats: list[torch.Tensor],
                      references: list[list[str]], symbols: list[str], kernel: int, epochs: int,
                      seed: int = 0) -> gan.Generator:
    """The supervised solution in the GAN's own model family (report-only).

    Every train segment gets the reference phone the CTC probe's forced alignment places on it; a GAN
    generator (no bias, ``<SIL>`` in its output, kernel ``kernel``) is trained on these labels with
    cross-entropy. ``feats`` are the pooled segments, one tensor per utterance, in reference order.
    """
    index = {s: i + 1 for i, s in enumerate(probe_symbols)}
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
    torch.manual_seed(seed)
    cfg = gan.GanConfig(input_dim=feats[0].shape[1], vocab=len(symbols), generator_kernel=kernel)
    generator = gan.Generator(cfg)
    opt = torch.optim.Adam(generator.parameters(), lr=probe.LEARNING_RATE)
    rng = np.random.default_rng(seed)
    from .train import pad_features

    for _ in range(epochs):
        generator.train()
        order = rng.permutation(len(data))
        for start in range(0, len(order), probe.BATCH_SIZE):
            batch = [data[i] for i in order[start:start + probe.BATCH_SIZE]]
            x, pad = pad_features([u for u, _ in batch])
            y = torch.full(pad.shape, -100, dtype=torch.long)
            for j, (_, labels) in enumerate(batch):
                y[j, : len(labels)] = labels
            loss = F.cross_entropy(generator(x, pad).reshape(-1, len(symbols)), y.reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
    log.info("aligned generator: %d utterances, %d epochs", len(data), epochs)
    return generator.eval()


def objective_check(generator: gan.Generator, supervised: gan.Generator, disc: gan.Discriminator, cfg: gan.GanConfig,
                    feats: list[torch.Tensor], symbols: list[str], phone_lm, refs: list[list[str]]) -> dict:
    """Generator losses and label-free scores of the found and the supervised solutions on the same audio."""
    from .train import greedy_decode, pad_features, unsupervised_scores

    inventory = [s for s in symbols if s != "<SIL>"]
    x, pad = pad_features(feats)
    out = {}
    for name, g in (("found", generator), ("supervised", supervised)):
        g.eval()
        disc.eval()
        with torch.no_grad():
            logits = g(x, pad)
            seg, seg_pad = gan.join_segments(logits, pad, random_frame=False)
            _, parts = gan.generator_loss(disc, cfg, seg, seg_pad)
        hyps = greedy_decode(g, feats, symbols)
        out[name] = {**parts, **unsupervised_scores(hyps, phone_lm, inventory),
                     "per_report_only": phone_error_rate(hyps, refs)}
    return out
