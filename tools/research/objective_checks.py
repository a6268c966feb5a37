"""Does an unsupervised objective prefer the right answer, and can the GAN solve the easy case? (issue 9)

    .venv/bin/python tools/research/objective_checks.py PROFILE matching [--steps 1500] [--oracle]
    .venv/bin/python tools/research/objective_checks.py PROFILE gan-from-supervised [--steps 700] [--g-lr 4e-4]
        [--set smoothness=0 ...]
    .venv/bin/python tools/research/objective_checks.py PROFILE oracle [--steps 2000] [--scale 11] [--no-text-sil]

PROFILE needs finished 03 and 04 outputs. The first two checks compare with the *supervised solution* in the
GAN's model family: a generator trained on force-aligned segment labels (``models.gan.checks.aligned_generator``;
labels are used here only as a diagnostic).

* ``matching``: a non-adversarial objective, the L1 distance between the text's phone unigram and
  skip-gram (gaps 1-3) distributions and the generator's expected ones after JOIN merging (``<SIL>``
  excluded on both sides). Prints its value at random, at the supervised solution, and along gradient
  descent from a random start: if descent reaches values below the supervised solution's with outputs at
  chance, the objective prefers wrong answers.
* ``gan-from-supervised``: the discriminator is first trained against the frozen supervised generator
  (``--d-warmup`` updates), then the GAN trains both: if valid PER rises, the supervised solution is not a
  stable point of the GAN objective on these features.
* ``oracle`` (and ``matching --oracle``): the audio segments are replaced by the reference phones
  themselves, one-hot through a random orthogonal basis (``--scale`` sets their norm; the real segments'
  is ~11), one or two segments per phone; then the GAN (or matching descent) starts from random. If it
  fails here, better features alone will not make it learn at this budget.
Prints valid PER (report-only), phone-LM perplexity and the losses every 250 steps.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch

from aitranscribe.core.logs import setup_logging
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.evaluation import diagnostics, probe
from aitranscribe.text import error_rates
from aitranscribe.models import batching
from aitranscribe.models.gan import checks
from aitranscribe.models.gan import network as gan
from aitranscribe.models.gan import training
from aitranscribe.models.gan.model import GanModel
from aitranscribe.models.selection import unsupervised_scores
from aitranscribe.text import lm
from aitranscribe.text.phones import SIL, read_dictionary, read_references

GAPS = 3


class Setup:
    """A profile's GAN input, phone text, LM and references (references for report-only numbers)."""

    def __init__(self, profile: str):
        records = REPO_ROOT / "data" / profile / "stages"
        self.features = json.loads((records / "features.json").read_text())
        self.text_record = json.loads((records / "text.json").read_text())
        self.symbols = read_dictionary(self.text_record["dict_phn"])
        self.sil = self.symbols.index(SIL)
        self.train = training.segment_tensors(self.features, "train")
        self.valid = training.segment_tensors(self.features, "valid")
        self.refs_train = read_references(self.text_record["references"], "train")
        self.refs_valid = read_references(self.text_record["references"], "valid")
        self.text = training.text_tensors(self.text_record["phone_text"], self.symbols, 0, 0)
        self.phone_lm = lm.load(self.text_record["phone_lm"])
        self.cfg = gan.GanConfig(input_dim=self.train[0].shape[1], vocab=len(self.symbols), generator_kernel=4,
                                 disc_dim=256, disc_kernel=6)

    def supervised(self, epochs: int) -> gan.Generator:
        sup = probe.train_probe(self.features["segments"], epochs=epochs, return_model=True)
        data = diagnostics.segment_aligner(sup["model"], sup["symbol_list"])(self.train, self.refs_train, self.symbols)
        return checks.aligned_generator(data, self.symbols, self.cfg.generator_kernel, epochs, probe.BATCH_SIZE,
                                        probe.LEARNING_RATE)

    def report(self, name: str, generator, extra: str = "") -> None:
        hyps = GanModel(generator, self.symbols).phones(self.valid)
        scores = unsupervised_scores(hyps, self.phone_lm, [s for s in self.symbols if s != SIL])
        print(f"{name}: valid PER {error_rates.per(hyps, self.refs_valid):.3f} phone-LM ppl {scores['lm_ppl']:.1f} "
              f"vocab {scores['vocab_seen']:.2f} {extra}", flush=True)


def text_statistics(s: Setup) -> tuple[torch.Tensor, torch.Tensor]:
    """Unigram (V) and skip-gram (GAPS, V, V) distributions of the phone text without ``<SIL>``."""
    V = len(s.symbols)
    unigram, skips = torch.zeros(V), torch.zeros(GAPS, V, V)
    for sentence in s.text:
        sentence = sentence[sentence != s.sil]
        unigram.index_add_(0, sentence, torch.ones(len(sentence)))
        for k in range(1, GAPS + 1):
            if len(sentence) > k:
                skips[k - 1].index_put_((sentence[:-k], sentence[k:]), torch.ones(len(sentence) - k), accumulate=True)
    return unigram / unigram.sum(), skips / skips.sum((1, 2), keepdim=True)


def matching_loss(s: Setup, generator, feats, target) -> torch.Tensor:
    x, pad = batching.pad(feats)
    logits = generator(x, pad).clone()
    logits[..., s.sil] = -1e4
    joined, joined_pad = gan.join_segments(logits, gan.output_padding(pad, logits.shape[1]), random_frame=False)
    p = torch.softmax(joined, -1) * (~joined_pad).unsqueeze(-1)
    unigram = p.sum((0, 1)) / p.sum()
    skips = []
    for k in range(1, GAPS + 1):
        pair = torch.einsum("btv,btw->vw", p[:, :-k], p[:, k:])
        skips.append(pair / pair.sum().clamp(min=1e-8))
    return (unigram - target[0]).abs().sum() + (torch.stack(skips) - target[1]).abs().sum((1, 2)).mean()


def check_matching(s: Setup, steps: int, epochs: int) -> None:
    target = text_statistics(s)
    for seed in range(2):
        torch.manual_seed(seed)
        g = gan.Generator(s.cfg).eval()
        with torch.no_grad():
            s.report(f"random generator {seed}", g, f"matching loss {float(matching_loss(s, g, s.valid, target)):.3f}")
    g = s.supervised(epochs) if epochs > 0 else oracle_generator(s)
    with torch.no_grad():
        s.report("supervised solution" if epochs > 0 else "right answer (oracle)", g,
                 f"matching loss {float(matching_loss(s, g, s.valid, target)):.3f}")
    torch.manual_seed(0)
    g = gan.Generator(s.cfg)
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for step in range(1, steps + 1):
        g.train()
        loss = matching_loss(s, g, [s.train[i] for i in rng.integers(0, len(s.train), 256)], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0:
            g.eval()
            with torch.no_grad():
                s.report(f"descent step {step}", g, f"matching loss {float(matching_loss(s, g, s.valid, target)):.3f}")


def check_gan_from_supervised(s: Setup, steps: int, epochs: int, d_warmup: int, g_lr: float, d_lr: float) -> None:
    g = s.supervised(epochs)
    d = gan.Discriminator(s.cfg)
    opt_g, opt_d = training.make_optimizers(g, d, g_lr, d_lr, 1e-4)
    print(f"GAN settings: {s.cfg}, g_lr {g_lr}, d_lr {d_lr}", flush=True)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    s.report("supervised solution", g)
    start = time.time()
    for step in range(2 * d_warmup + steps):
        x, pad = batching.pad([s.train[i] for i in rng.integers(0, len(s.train), 64)])
        real, real_pad = batching.one_hot([s.text[i] for i in rng.integers(0, len(s.text), 64)], s.cfg.vocab)
        g.train()
        d.train()
        parity = 1 if step < 2 * d_warmup else step  # odd = discriminator update: warm-up trains D only
        parts = training.gan_update(parity, g, d, opt_g, opt_d, s.cfg, x, pad, real, real_pad, 5.0)
        if (step + 1) % 250 == 0:
            phase = "D warm-up" if step < 2 * d_warmup else f"GAN update {step + 1 - 2 * d_warmup}"
            s.report(f"{phase} ({time.time() - start:.0f} s)", g, json.dumps({k: round(v, 2) for k, v in parts.items()}))


def oracle_features(s: Setup, refs: list[list[str]], basis: torch.Tensor, noise: float, repeat: float,
                    rng: np.random.Generator) -> list[torch.Tensor]:
    """Segments that are the reference phones themselves: one-hot through ``basis`` (V, D) plus Gaussian noise.

    Each phone gives one segment, and one more with probability ``repeat`` (the demo has ~1.6 segments per phone).
    """
    where = {p: i for i, p in enumerate(s.symbols)}
    out = []
    for ref in refs:
        ids = [where[p] for p in ref if p in where]
        ids = [i for i in ids for _ in range(1 + int(rng.random() < repeat))] or [s.sil]
        x = basis[torch.tensor(ids)] + noise * torch.from_numpy(rng.standard_normal((len(ids), basis.shape[1]))).float()
        out.append(x)
    return out


def use_oracle_features(s: Setup, noise: float, repeat: float, scale: float) -> None:
    """Replace the train and valid segments by oracle ones (see :func:`oracle_features`)."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    basis = scale * torch.linalg.qr(torch.randn(s.cfg.input_dim, s.cfg.vocab))[0].T.contiguous()  # orthogonal rows
    s.train = oracle_features(s, s.refs_train, basis, noise, repeat, rng)
    s.valid = oracle_features(s, s.refs_valid, basis, noise, repeat, rng)
    s.rng = rng  # the GAN's batches continue this stream
    s.oracle_basis = basis
    print(f"oracle segments: scale {scale}, noise {noise}, repeat {repeat}", flush=True)


def oracle_generator(s: Setup) -> gan.Generator:
    """The right answer on oracle segments: the centre tap maps each phone's basis vector to its phone."""
    g = gan.Generator(replace(s.cfg, generator_crop=True)).eval()  # no extra output reading only padding
    basis = s.oracle_basis
    with torch.no_grad():
        g.proj.weight.zero_()
        g.proj.weight[:, :, s.cfg.generator_kernel // 2] = 10 * basis / basis.norm(dim=1, keepdim=True) ** 2
    return g


def check_oracle(s: Setup, steps: int, g_lr: float, d_lr: float, text_sil: bool) -> None:
    """The GAN from a random start on oracle segments: can this GAN solve the easy case at all?"""
    if not text_sil:  # the oracle audio side has no silence segments; this removes the mismatch
        s.text = [t[t != s.sil] for t in s.text if (t != s.sil).any()]
    rng = s.rng
    g, d = gan.Generator(s.cfg), gan.Discriminator(s.cfg)
    opt_g, opt_d = training.make_optimizers(g, d, g_lr, d_lr, 1e-4)
    print(f"<SIL> in text {text_sil}; GAN settings: {s.cfg}, g_lr {g_lr}, d_lr {d_lr}", flush=True)
    s.report("random generator", g.eval())
    start = time.time()
    for step in range(2 * steps):
        x, pad = batching.pad([s.train[i] for i in rng.integers(0, len(s.train), 64)])
        real, real_pad = batching.one_hot([s.text[i] for i in rng.integers(0, len(s.text), 64)], s.cfg.vocab)
        g.train()
        d.train()
        parts = training.gan_update(step, g, d, opt_g, opt_d, s.cfg, x, pad, real, real_pad, 5.0)
        if (step + 1) % 500 == 0:
            s.report(f"GAN update {(step + 1) // 2} ({time.time() - start:.0f} s)", g.eval(),
                     json.dumps({k: round(v, 2) for k, v in parts.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", help="a profile (or research scratch profile) with finished 03 and 04")
    parser.add_argument("check", choices=("matching", "gan-from-supervised", "oracle"))
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the supervised solution")
    parser.add_argument("--d-warmup", type=int, default=300)
    parser.add_argument("--g-lr", type=float, default=4e-4)
    parser.add_argument("--d-lr", type=float, default=5e-4)
    parser.add_argument("--oracle", action="store_true", help="matching: on oracle segments (no supervised solution)")
    parser.add_argument("--noise", type=float, default=0.0, help="oracle: noise added to the one-hot segments")
    parser.add_argument("--scale", type=float, default=1.0, help="oracle: norm of a segment before noise")
    parser.add_argument("--repeat", type=float, default=0.5, help="oracle: probability of a second segment per phone")
    parser.add_argument("--no-text-sil", action="store_true", help="oracle: drop <SIL> from the real text")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a GanConfig field (float), e.g. --set smoothness=0")
    args = parser.parse_args()
    setup_logging("WARNING")
    torch.set_num_threads(1)
    s = Setup(args.profile)
    for item in args.set:
        field, value = item.split("=", 1)
        setattr(s.cfg, field, type(getattr(s.cfg, field))(float(value)))
    if args.oracle or args.check == "oracle":
        use_oracle_features(s, args.noise, args.repeat, args.scale)
    if args.check == "matching":
        check_matching(s, args.steps, 0 if args.oracle else args.epochs)
    elif args.check == "oracle":
        check_oracle(s, args.steps, args.g_lr, args.d_lr, not args.no_text_sil)
    else:
        check_gan_from_supervised(s, args.steps, args.epochs, args.d_warmup, args.g_lr, args.d_lr)


if __name__ == "__main__":
    main()
