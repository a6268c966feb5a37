"""The wav2vec-U GAN (v1, fairseq ``w2vu.yaml``): generator, JOIN segmentation, causal discriminator, losses.

Shapes: segment features ``x`` (B, T, D) with ``padding`` (B, T, True where padded); the generator gives
logits (B, T + 1, V) over the phone inventory including ``<SIL>`` (an even kernel with padding k/2 makes one
step more than it reads, and fairseq keeps it; :func:`output_padding` gives its mask), or (B, T, V) with
``generator_crop``; real text is one-hot (B, L, V).
The generator's convolution can be written as Conv1d (as fairseq) or, numerically equal, as a Linear over
unfolded windows (``GeneratorLinear``) so INT8 paths that do not quantise Conv1d can run it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GanConfig:
    """Sizes and loss weights; the defaults are fairseq's w2vu.yaml except the sizes that CPU budgets shrink."""

    input_dim: int = 512
    vocab: int = 50
    generator_kernel: int = 4
    generator_dropout: float = 0.1
    generator_batch_norm: float = 0.0  # w2vu2: BatchNorm on the input scaled by this (0 = off)
    generator_bias: bool = False  # fairseq's generator has none; the supervised reference does
    disc_dim: int = 384
    disc_kernel: int = 6
    disc_depth: int = 3
    disc_dropout: float = 0.0
    gradient_penalty: float = 1.5
    code_penalty: float = 4.0
    smoothness: float = 0.5
    segment_random: bool = True  # JOIN: a random frame per run in training (mean at evaluation)
    # fairseq's behaviour unless set otherwise (issue 20): the kit before it cropped the generator to T steps,
    # left padded segments out of the code penalty, averaged the smoothness over real pairs only and counted
    # real runs only in JOIN's length
    generator_crop: bool = False  # True: keep T outputs of an even kernel (fairseq keeps T + 1)
    code_penalty_all_positions: bool = True  # padded segments enter the batch-averaged softmax as uniform
    smoothness_all_pairs: bool = True  # padded pairs count (as 0) in the mean's denominator B x (T'-1) x V
    join_padding_run: bool = True  # JOIN's length counts a padded utterance's padding as one more run


def output_padding(padding: torch.Tensor, steps: int) -> torch.Tensor:
    """Padding mask of ``steps`` generator outputs from the input mask ``padding`` (B, T) -> (B, steps).

    ``steps == T``: the input mask. ``steps == T + 1`` (fairseq): output 0 is always real and output t + 1 is
    padded where input t is, so an utterance of n steps has n + 1 real outputs, the last reading zeros beyond it.
    """
    T = padding.shape[1]
    if steps == T:
        return padding
    if steps != T + 1:
        raise ValueError(f"{steps} generator outputs for {T} input steps: expected {T} or {T + 1}")
    return torch.cat([padding.new_zeros(padding.shape[0], 1), padding], 1)


class Generator(nn.Module):
    """Dropout then Conv1d(input_dim -> vocab, kernel k, padding k//2, no bias): (B, T, D) -> (B, T', V) with
    T' = T + 1 for an even kernel (as fairseq), T for an odd one or with ``generator_crop``."""

    def __init__(self, cfg: GanConfig):
        super().__init__()
        self.cfg = cfg
        self.input_dim = cfg.input_dim
        self.kernel = cfg.generator_kernel
        self.bn = nn.BatchNorm1d(cfg.input_dim) if cfg.generator_batch_norm > 0 else None
        self.bn_scale = cfg.generator_batch_norm
        self.dropout = nn.Dropout(cfg.generator_dropout)
        self.proj = nn.Conv1d(cfg.input_dim, cfg.vocab, cfg.generator_kernel, padding=cfg.generator_kernel // 2,
                              bias=cfg.generator_bias)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        x = self.dropout(x)
        if padding is not None:
            x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        h = x.transpose(1, 2)
        if self.bn is not None:
            h = self.bn(h) * self.bn_scale
        out = self.proj(h).transpose(1, 2)
        return out[:, : x.shape[1]] if self.cfg.generator_crop else out

    def extra_steps(self) -> int:
        """Outputs beyond the input length: 1 for an even kernel kept whole (fairseq), else 0."""
        return 0 if self.cfg.generator_crop else 2 * (self.kernel // 2) - self.kernel + 1

    def config(self) -> dict:
        return asdict(self.cfg)

    @classmethod
    def from_config(cls, config: dict) -> "Generator":
        """A new generator of :meth:`config`'s sizes (untrained)."""
        return cls(GanConfig(**config))

    def flops(self, batch: int, length: int) -> int:
        """Multiply-adds x 2 of one call on ``batch`` x ``length`` segments."""
        return 2 * batch * length * self.cfg.input_dim * self.cfg.vocab * self.kernel

    def linear_form(self) -> "GeneratorLinear":
        """The same function with a Linear over unfolded windows (INT8 paths do not quantise Conv1d)."""
        return GeneratorLinear(self)


class GeneratorLinear(nn.Module):
    """The generator's convolution as a Linear over unfolded windows (equal to ``Generator`` in eval mode)."""

    def __init__(self, generator: Generator):
        super().__init__()
        weight = generator.proj.weight.detach()  # (V, D, k)
        self.kernel = weight.shape[2]
        self.pad = self.kernel // 2
        bias = generator.proj.bias
        self.linear = nn.Linear(weight.shape[1] * self.kernel, weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            self.linear.weight.copy_(weight.permute(0, 2, 1).reshape(weight.shape[0], -1))
            if bias is not None:
                self.linear.bias.copy_(bias.detach())
        self.bn = generator.bn
        self.bn_scale = generator.bn_scale
        self.crop = generator.cfg.generator_crop

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        if padding is not None:
            x = x.masked_fill(padding.unsqueeze(-1), 0.0)
        if self.bn is not None:
            x = (self.bn(x.transpose(1, 2)) * self.bn_scale).transpose(1, 2)
        T = x.shape[1]
        padded = F.pad(x, (0, 0, self.pad, self.pad))
        windows = padded.unfold(1, self.kernel, 1)  # (B, T', D, k), T' as the Conv1d's
        if self.crop:
            windows = windows[:, :T]
        return self.linear(windows.transpose(2, 3).reshape(x.shape[0], windows.shape[1], -1))


def join_segments(logits: torch.Tensor, padding: torch.Tensor, random_frame: bool,
                  padding_run: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """JOIN segmentation: merge runs of equal argmax; one random frame per run (training) or the run mean.

    (B, T, V), (B, T) -> (B, T', V), (B, T'), vectorised over the batch; padded segments are zeros.
    T' = the most runs of an utterance; with ``padding_run`` (fairseq, whose run finder sees the padding as one
    more run) an utterance with padding counts one more, so T' can end in a column of padding only.
    """
    B, T, V = logits.shape
    preds = logits.argmax(-1).masked_fill(padding, -1)
    new_run = torch.ones_like(padding)
    new_run[:, 1:] = preds[:, 1:] != preds[:, :-1]
    new_run &= ~padding
    n_runs = new_run.sum(1)
    T2 = int((n_runs + padding.any(1).long() if padding_run else n_runs).max().clamp(min=1))
    slot = torch.cumsum(new_run.long(), dim=1) - 1 + torch.arange(B, device=logits.device).unsqueeze(1) * T2
    valid = ~padding
    counts = torch.zeros(B * T2, device=logits.device).index_add_(0, slot[valid], torch.ones(int(valid.sum()), device=logits.device))
    if random_frame:
        batch_idx, start = new_run.nonzero(as_tuple=True)
        run_slot = slot[batch_idx, start]
        pick = start + (torch.rand(len(start), device=logits.device) * counts[run_slot]).long()
        out = logits.new_zeros(B * T2, V).index_copy(0, run_slot, logits[batch_idx, pick])
    else:
        sums = logits.new_zeros(B * T2, V).index_add(0, slot[valid], logits[valid])
        out = sums / counts.clamp(min=1).unsqueeze(1)
    new_padding = torch.arange(T2, device=logits.device).unsqueeze(0) >= n_runs.unsqueeze(1)
    return out.view(B, T2, V), new_padding


class Discriminator(nn.Module):
    """Causal convolutions over phone distributions; one logit per sequence (mean over non-padded time)."""

    def __init__(self, cfg: GanConfig):
        super().__init__()
        k = cfg.disc_kernel
        self.pad = k - 1
        layers = [nn.Conv1d(cfg.vocab, cfg.disc_dim, k, padding=self.pad), nn.Dropout(cfg.disc_dropout)]
        for _ in range(cfg.disc_depth - 2):
            layers += [nn.Conv1d(cfg.disc_dim, cfg.disc_dim, k, padding=self.pad), nn.Dropout(cfg.disc_dropout),
                       nn.GELU()]
        layers += [nn.Conv1d(cfg.disc_dim, 1, k, padding=self.pad)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)
        for layer in self.layers:
            h = layer(h)
            if isinstance(layer, nn.Conv1d):
                h = h[..., : x.shape[1]]  # causal: drop the look-ahead the symmetric padding added
        h = h.squeeze(1).masked_fill(padding, 0.0)
        return h.sum(1) / (~padding).sum(1).clamp(min=1)


def code_perplexity(logits: torch.Tensor, padding: torch.Tensor, all_positions: bool = True) -> torch.Tensor:
    """exp(entropy) of the batch-averaged softmax: (B, T, V) logits, (B, T) mask -> scalar.

    ``all_positions`` (fairseq): the average runs over all B x T positions, a padded one with zero logits (what
    fairseq's JOIN writes there), i.e. uniform; otherwise over the real positions only.
    """
    logits = logits.float()
    if all_positions:
        probs = torch.softmax(logits.masked_fill(padding.unsqueeze(-1), 0.0), -1).reshape(-1, logits.shape[-1])
    else:
        probs = torch.softmax(logits, -1)[~padding]
    avg = probs.mean(0)
    return torch.exp(-(avg * torch.log(avg + 1e-7)).sum())


def smoothness_penalty(logits: torch.Tensor, padding: torch.Tensor, all_pairs: bool = True) -> torch.Tensor:
    """Mean squared difference of consecutive logits: (B, T, V), (B, T) -> scalar (0 when T < 2).

    ``all_pairs`` (fairseq): the squares of pairs whose second step is padded are set to 0 and the mean runs over
    all B x (T-1) x V elements; otherwise over the pairs of two real steps only.
    """
    if logits.shape[1] < 2:
        return logits.new_zeros(())
    squares = (logits[:, 1:] - logits[:, :-1]).pow(2)
    if all_pairs:
        return squares.masked_fill(padding[:, 1:].unsqueeze(-1), 0.0).mean()
    both = ~(padding[:, 1:] | padding[:, :-1])
    if not both.any():
        return logits.new_zeros(())
    return squares.mean(-1)[both].mean()


def gradient_penalty(disc: Discriminator, real: torch.Tensor, real_pad: torch.Tensor, fake: torch.Tensor,
                     fake_pad: torch.Tensor) -> torch.Tensor:
    """fairseq's penalty: sum over samples and phones of (||d D(mix) / d mix[:, :, v]|| over time - 1)^2.

    Per-sample interpolations of real and fake, truncated to a common batch and length, scored by D without a
    padding mask (as fairseq does). The norm runs over time for each phone, not over the whole sample.
    """
    b = min(real.shape[0], fake.shape[0])
    t = min(real.shape[1], fake.shape[1])
    alpha = torch.rand(b, 1, 1, device=real.device)
    mix = (alpha * real[:b, :t] + (1 - alpha) * fake[:b, :t]).detach().requires_grad_(True)
    out = disc(mix, torch.zeros(b, t, dtype=torch.bool, device=real.device))
    grad, = torch.autograd.grad(out.sum(), mix, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).sum()


def generator_forward(gen, x, padding, cfg: GanConfig, training: bool):
    """JOIN-segmented logits, their softmax and padding: ``(seg_logits, dist, dist_padding)``.

    ``x`` (B, T, D) with input ``padding`` (B, T); the generator's T or T + 1 outputs get their own mask."""
    logits = gen(x, padding)
    seg, seg_pad = join_segments(logits, output_padding(padding, logits.shape[1]),
                                 random_frame=training and cfg.segment_random, padding_run=cfg.join_padding_run)
    return seg, torch.softmax(seg, -1), seg_pad


def discriminator_loss(disc, cfg: GanConfig, fake, fake_pad, real, real_pad) -> tuple[torch.Tensor, dict]:
    """BCE(D(fake), 1) + BCE(D(real), 0), summed, + gradient penalty; fake is detached."""
    fake = fake.detach()
    d_fake = disc(fake, fake_pad)
    d_real = disc(real, real_pad)
    loss_fake = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake), reduction="sum")
    loss_real = F.binary_cross_entropy_with_logits(d_real, torch.zeros_like(d_real), reduction="sum")
    gp = gradient_penalty(disc, real, real_pad, fake, fake_pad) if cfg.gradient_penalty > 0 else fake.new_zeros(())
    total = loss_fake + loss_real + cfg.gradient_penalty * gp
    return total, {"d_fake": loss_fake.item(), "d_real": loss_real.item(), "grad_pen": gp.item()}


def generator_loss(disc, cfg: GanConfig, logits, padding, seen=None) -> tuple[torch.Tensor, dict]:
    """BCE(D(softmax), 0) + code penalty x (V - ppl)/V x B + smoothness x MSE x B.

    As in fairseq, ``logits``/``padding`` are the JOIN-segmented logits, so both penalties see the segments
    the discriminator sees. ``seen``: what D scores instead of the softmax (e.g. straight-through samples).
    """
    B, V = logits.shape[0], logits.shape[-1]
    d_fake = disc(torch.softmax(logits, -1) if seen is None else seen, padding)
    adv = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake), reduction="sum")
    ppl = code_perplexity(logits, padding, cfg.code_penalty_all_positions)
    code = (V - ppl) / V
    smooth = smoothness_penalty(logits, padding, cfg.smoothness_all_pairs)
    total = adv + cfg.code_penalty * code * B + cfg.smoothness * smooth * B
    return total, {"g_adv": adv.item(), "code_pen": code.item(), "smooth_pen": smooth.item(), "code_ppl": ppl.item()}
