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

from ..io import feature_files
from ..models.batching import pad
from ..models.gan import network as gan
from ..models.gan.model import GanModel
from ..models.gan.training import load_checkpoint, segment_tensors
from ..models.selection import unsupervised_scores
from ..models.training import fit_labels
from ..text.phones import SIL
from ..models.decipher.model import FrameModel
from . import probe
from . import supervised as supervised_reference
from .scoring import per as phone_error_rate

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
    cfg = gan.GanConfig(input_dim=feats[0].shape[1], vocab=len(symbols), generator_kernel=kernel,
                        generator_crop=True)  # one output per segment, as the labels are
    generator = fit_labels(gan.Generator(cfg), [u for u, _ in data], [y for _, y in data], epochs, probe.BATCH_SIZE,
                           probe.LEARNING_RATE, seed)
    log.info("aligned generator: %d utterances, %d epochs", len(data), epochs)
    return generator


def objective_check(generator: gan.Generator, supervised: gan.Generator, disc: gan.Discriminator, cfg: gan.GanConfig,
                    feats: list[torch.Tensor], symbols: list[str], phone_lm, refs: list[list[str]]) -> dict:
    """Generator losses and label-free scores of the found and the supervised solutions on the same audio."""
    inventory = [s for s in symbols if s != SIL]
    x, padding = pad(feats)
    out = {}
    for name, g in (("found", generator), ("supervised", supervised)):
        g.eval()
        disc.eval()
        with torch.no_grad():
            seg, _, seg_pad = gan.generator_forward(g, x, padding, cfg, training=False)
            _, parts = gan.generator_loss(disc, cfg, seg, seg_pad)
        hyps = GanModel(g, symbols).phones(feats)
        out[name] = {**parts, **unsupervised_scores(hyps, phone_lm, inventory),
                     "per_report_only": phone_error_rate(hyps, refs)}
    return out


def method_checks(model, summary: dict, supervised: dict, features_record: dict, phone_lm, refs: dict, epochs: int,
                  seed: int, out_dir: Path) -> dict:
    """Report-only references particular to the model's method. Decipher: the supervised reference (the model's
    architecture trained on force-aligned reference labels, saved in ``out_dir/supervised_reference/model.pt``).
    GAN: the objective check, its losses and label-free scores at the supervised solution (a generator trained on
    force-aligned labels) vs at the one found. ``refs``: reference phones of train, valid and test."""
    if isinstance(model, FrameModel):
        frames = feature_files.read_utterances(features_record["dir"], "train")
        reference = supervised_reference.train_reference(model, frames, refs["train"], seed=seed)
        path = out_dir / "supervised_reference" / "model.pt"
        reference.save(path, {"supervised_reference": True})
        return {"supervised_reference": {"checkpoint": str(path), "epochs": supervised_reference.EPOCHS, **{
            f"per_{split}": phone_error_rate(reference.split_phones(features_record, split), refs[split])
            for split in ("valid", "test")}}}
    if not isinstance(model, GanModel):
        return {}
    train_refs, valid_refs = refs["train"], refs["valid"]
    cfg = model.net.cfg
    disc = gan.Discriminator(cfg)
    disc.load_state_dict(load_checkpoint(Path(summary["checkpoint"]).with_name("checkpoint_last.pt"))["discriminator"])
    aligned = aligned_generator(supervised["model"], supervised["symbol_list"], segment_tensors(features_record, "train"),
                                train_refs, model.symbols, cfg.generator_kernel, epochs, seed)
    return {"objective_check": objective_check(model.net, aligned, disc, cfg, segment_tensors(features_record, "valid"),
                                               model.symbols, phone_lm, valid_refs)}
