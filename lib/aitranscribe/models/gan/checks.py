"""Report-only checks of the GAN method (they read labels; nothing here feeds training or selection).

The objective check compares the generator's losses and the label-free selection scores at the supervised solution
(a generator of the same family trained on segments labelled by forced alignment of the reference phones) with
those at the solution found: a failing objective (it prefers a wrong answer) tells apart from a failing search.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ...text.error_rates import per as phone_error_rate
from ...text.phones import SIL
from ..base import ReportInputs
from ..batching import pad
from ..selection import unsupervised_scores
from ..training import fit_labels
from . import network as gan
from .model import GanModel
from .training import load_checkpoint, segment_tensors

log = logging.getLogger(__name__)


def aligned_generator(data: list[tuple], symbols: list[str], kernel: int, epochs: int, batch_size: int, lr: float,
                      seed: int = 0) -> gan.Generator:
    """The supervised solution in the GAN's own model family: a generator (no bias, ``<SIL>`` in its output, kernel
    ``kernel``, one output per segment) trained with cross-entropy on ``data``, pairs of an utterance's segments
    (T, D) and each segment's label (an index in ``symbols``)."""
    torch.manual_seed(seed)
    cfg = gan.GanConfig(input_dim=data[0][0].shape[1], vocab=len(symbols), generator_kernel=kernel,
                        generator_crop=True)
    generator = fit_labels(gan.Generator(cfg), [u for u, _ in data], [y for _, y in data], epochs, batch_size, lr, seed)
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


def report_checks(model: GanModel, summary: dict, inputs: ReportInputs) -> dict:
    """The objective check of the selected run on valid, against its last discriminator."""
    cfg = model.net.cfg
    disc = gan.Discriminator(cfg)
    disc.load_state_dict(load_checkpoint(Path(summary["checkpoint"]).with_name("checkpoint_last.pt"))["discriminator"])
    data = inputs.align_segments(segment_tensors(inputs.features_record, "train"), inputs.refs["train"], model.symbols)
    aligned = aligned_generator(data, model.symbols, cfg.generator_kernel, inputs.epochs, inputs.fit_batch_size,
                                inputs.fit_lr, inputs.seed)
    return {"objective_check": objective_check(model.net, aligned, disc, cfg,
                                               segment_tensors(inputs.features_record, "valid"), model.symbols,
                                               inputs.phone_lm, inputs.refs["valid"])}
