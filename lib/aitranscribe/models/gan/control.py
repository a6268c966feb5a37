"""A positive control for the GAN machinery: the oracle cipher (issue 20).

The "audio" side is phone sequences themselves, each phone a fixed random orthogonal vector (a substitution
cipher the generator only has to invert), ``<SIL>`` placed as the phone text places it; the real side is the
unpaired phone text. If the GAN cannot solve this, it cannot solve real segments. A :class:`Recipe` says how to
train (batch, learning rates, discriminator steps and resets, penalties, clipping); :func:`train` runs it and
reports the valid PER (labels: this is a diagnostic of the optimiser, never a model anyone selects).

Inputs: word transcripts and a lexicon (the oracle side), the phone text (the real side), the phone inventory.
Output: a history of ``{"update", "seconds", "per", ...losses}`` and the trained generator.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from ...core.errors import KitError
from ...text.error_rates import per as phone_error_rate
from ...text.phones import insert_silences
from ..batching import one_hot, pad
from ..decipher import decipherment as D
from . import network as gan
from .model import GanModel
from .training import Schedule, discriminator_step, fit_to_labels, generator_step

log = logging.getLogger(__name__)


@dataclass
class Recipe:
    """How the control trains. Defaults: fairseq's w2vu settings at batch 64, the one recipe that has learnt the
    demo's oracle so far (docs/research.md); 6,000 updates take ~20 minutes on 2 cores."""

    updates: int = 6000           # generator updates
    batch_size: int = 64          # utterances and text sentences per update
    d_steps: int = 1              # discriminator updates before each generator update
    d_reset_every: int = 0        # generator updates between re-initialisations of D (0: never)
    g_lr: float = 4e-4
    d_lr: float = 5e-4
    betas: tuple = (0.5, 0.98)
    clip_norm: float = 5.0        # 0: no clipping; gradients are divided by the batch size first (fairseq)
    join: bool = True             # JOIN segmentation of the generator's outputs (fairseq); False: every step
    fake: str = "softmax"         # what D sees of the generator: "softmax" (fairseq) or "sampled" one-hot phones
                                  # with straight-through gradients (Gumbel-softmax, hard)
    temperature: float = 1.0      # of the Gumbel-softmax ("sampled")
    network: dict = field(default_factory=lambda: {
        "generator_kernel": 4, "generator_dropout": 0.1, "disc_dim": 256, "disc_kernel": 6, "disc_depth": 3,
        "gradient_penalty": 1.5, "code_penalty": 4.0, "smoothness": 0.5})
    eval_every: int = 250
    seed: int = 0
    init_epochs: int = 0          # epochs fitting the generator to initial labels (when train gets them)


def oracle_sequences(transcripts: list[str], lexicon: dict[str, list[str]], sil_prob: float,
                     seed: int) -> list[list[str]]:
    """Phones of each transcript through the lexicon, ``<SIL>`` at both ends and between words with ``sil_prob``
    (as stage 04 writes the phone text); transcripts with a word outside the lexicon are left out."""
    rng = random.Random(seed)
    out = [insert_silences([lexicon[w] for w in t.split()], sil_prob, rng)
           for t in transcripts if t.split() and all(w in lexicon for w in t.split())]
    if not out:
        raise KitError("oracle control: no transcript has all its words in the lexicon")
    return out


def cipher(sequences: list[list[str]], symbols: list[str], dim: int, scale: float, repeat: float,
           seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each phone -> ``scale`` x a row of a random orthogonal (V, dim) basis, and a second copy of it with
    probability ``repeat`` (segmentation noise). Returns the segment tensors and the basis."""
    if dim < len(symbols):
        raise KitError(f"oracle control: dimension {dim} is below the {len(symbols)} phones")
    gen = torch.Generator().manual_seed(seed)
    basis = scale * torch.linalg.qr(torch.randn(dim, len(symbols), generator=gen))[0].T.contiguous()
    rng = np.random.default_rng(seed)
    where = {p: i for i, p in enumerate(symbols)}
    out = []
    for seq in sequences:
        ids = [where[p] for p in seq]
        ids = [i for i in ids for _ in range(1 + int(rng.random() < repeat))]
        out.append(basis[torch.tensor(ids)])
    return out, basis


def oracle_tokens(segments: list[torch.Tensor]) -> torch.Tensor:
    """The token of every oracle segment (its distinct vector's index), all sequences concatenated."""
    return torch.unique(torch.cat(segments).round(decimals=5), dim=0, return_inverse=True)[1]


def decipherment_labels(segments: list[torch.Tensor], text: list[torch.Tensor], n_symbols: int, restarts: int = 20,
                        seed: int = 0) -> tuple[list[torch.Tensor], dict]:
    """Label-free initial labels of oracle ``segments``: each distinct segment vector is a token, the decipherment
    of :mod:`...decipher.decipherment` (EM of P(token | phone) on the text's phone pairs and triples) maps each
    token to its most probable phone. Returns one label tensor per sequence and ``{"objective", "tokens"}``."""
    token_of = oracle_tokens(segments)
    n_tokens = int(token_of.max()) + 1
    tokens = [t.numpy() for t in torch.split(token_of, [len(s) for s in segments])]
    lines = [t.numpy() for t in text]
    model = D.SkipGramModel(tokens, n_tokens, lines, n_symbols)
    objective, table = D.best_table(model, D.restarts(model, n_symbols, n_tokens, restarts, 300, 3, 100, seed,
                                                      quiet=True))
    prior = torch.tensor(np.bincount(np.concatenate(lines), minlength=n_symbols), dtype=table.dtype)
    phone_of = (table * prior[:, None]).argmax(0)
    return [phone_of[torch.from_numpy(t)] for t in tokens], {"objective": objective, "tokens": n_tokens}


def corrupt_labels(segments: list[torch.Tensor], labels: list[torch.Tensor], n_symbols: int, share: float,
                   seed: int) -> list[torch.Tensor]:
    """``labels`` with ``share`` of the distinct segment vectors (tokens) given a random phone instead: a start
    that far from the answer, to measure whether the GAN moves towards it."""
    token_of = oracle_tokens(segments)
    gen = torch.Generator().manual_seed(seed)
    n_tokens = int(token_of.max()) + 1
    hit = torch.rand(n_tokens, generator=gen) < share
    wrong = torch.randint(0, n_symbols, (n_tokens,), generator=gen)
    flat = torch.cat(labels).clone()
    flat[hit[token_of]] = wrong[token_of][hit[token_of]]
    return list(torch.split(flat, [len(x) for x in labels]))


def decode(generator, segments: list[torch.Tensor], symbols: list[str]) -> list[list[str]]:
    """Argmax phones of each sequence, runs merged, ``<SIL>`` dropped: the GAN model's own decoding."""
    return GanModel(generator.eval(), symbols).phones(segments)


def train(segments: list[torch.Tensor], valid: list[torch.Tensor], valid_refs: list[list[str]],
          text: list[torch.Tensor], symbols: list[str], recipe: Recipe, quiet: bool = False,
          init_labels: list[torch.Tensor] | None = None):
    """Train a generator on oracle ``segments`` against the phone ``text`` (index tensors) with ``recipe``, first
    fitted for ``recipe.init_epochs`` epochs to ``init_labels`` (label-free, one per segment) when given.

    Returns ``(generator, history)``; history entries hold the update, seconds, valid PER and the last losses
    (update 0: after the initialisation)."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    cfg = gan.GanConfig(input_dim=segments[0].shape[1], vocab=len(symbols), **recipe.network)
    generator = gan.Generator(cfg)
    start = time.time()
    if init_labels is not None and recipe.init_epochs > 0:
        fit_to_labels(generator, segments, init_labels, recipe.init_epochs, recipe.batch_size, seed=recipe.seed)

    def new_disc():
        disc = gan.Discriminator(cfg)
        return disc, torch.optim.Adam(disc.parameters(), lr=recipe.d_lr, betas=recipe.betas, eps=1e-6)

    disc, opt_d = new_disc()
    opt_g = torch.optim.Adam(generator.parameters(), lr=recipe.g_lr, betas=recipe.betas, eps=1e-6)
    B = recipe.batch_size
    schedule = Schedule(recipe.d_steps, recipe.d_reset_every, recipe.fake, recipe.temperature)

    def batch():
        x, padding = pad([segments[i] for i in rng.integers(0, len(segments), B)])
        real, real_pad = one_hot([text[i] for i in rng.integers(0, len(text), B)], cfg.vocab)
        return x, padding, real, real_pad

    history, parts = [], {}
    entry = {"update": 0, "seconds": round(time.time() - start, 1),
             "per": phone_error_rate(decode(generator, valid, symbols), valid_refs)}
    history.append(entry)
    bar = tqdm(range(1, recipe.updates + 1), desc="oracle control", unit="upd", disable=quiet)
    for update in bar:
        if recipe.d_reset_every and (update - 1) % recipe.d_reset_every == 0 and update > 1:
            disc, opt_d = new_disc()
        generator.train()
        disc.train()
        for _ in range(recipe.d_steps):
            x, padding, real, real_pad = batch()
            d_parts = discriminator_step(generator, disc, opt_d, cfg, schedule, x, padding, real, real_pad,
                                         recipe.clip_norm, recipe.join)
        x, padding, _, _ = batch()
        parts = {**d_parts, **generator_step(generator, disc, opt_g, cfg, schedule, x, padding, recipe.clip_norm,
                                             recipe.join)}
        if update % recipe.eval_every == 0 or update == recipe.updates:
            entry = {"update": update, "seconds": round(time.time() - start, 1),
                     "per": phone_error_rate(decode(generator, valid, symbols), valid_refs),
                     **{k: round(v, 4) for k, v in parts.items()}}
            history.append(entry)
            bar.set_postfix(per=f"{entry['per']:.3f}")
            log.info("oracle control update %d (%.0f s): valid PER %.3f", update, entry["seconds"], entry["per"])
    return generator, history


def with_network(recipe: Recipe, **network) -> Recipe:
    """``recipe`` with some network fields replaced (the rest kept)."""
    return replace(recipe, network={**recipe.network, **network})

