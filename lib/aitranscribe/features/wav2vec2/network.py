"""The wav2vec 2.0 network up to a transformer block (eval only: no masking, quantizer or pretraining heads): its
settings (:class:`Wav2Vec2Settings`), the conv front end in the forms the CPU backends run fastest
(:func:`use_front_end_form`), the encoder, and :func:`extract` (one block's output, as fairseq's
``extract_features``). Layer numbering is fairseq's (see :mod:`aitranscribe.features.wav2vec2`)."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...core.errors import BadInputError, KitError
from ...io.audio import TARGET_SR

log = logging.getLogger(__name__)



# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Wav2Vec2Settings:
    """What the model looks like; read from the checkpoint's config and checked against its weights."""

    conv_layers: tuple  # ((channels, kernel, stride), ...)
    extractor_mode: str = "default"  # "default": group norm in block 0 only; "layer_norm": in every block
    conv_bias: bool = False
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    layer_norm_first: bool = False
    conv_pos: int = 128
    conv_pos_groups: int = 16
    activation_fn: str = "gelu"
    crop_seq_to_multiple: int = 1
    normalize: bool = False  # the task's waveform normalisation (F.layer_norm over the utterance)
    finetuned: bool = False
    inferred: tuple = field(default=())  # names of settings guessed because the config lacked them

    @property
    def stride(self) -> int:
        """Samples per output frame (320 for the standard extractor: 50 frames a second)."""
        return math.prod(s for _, _, s in self.conv_layers)


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------

def _activation(name):
    if name == "gelu":
        return lambda x: F.gelu(x.float()).type_as(x)
    if name in ("gelu_accurate", "gelu_fast"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    if name == "relu_squared":
        return lambda x: F.relu(x).pow(2)
    if name == "tanh":
        return torch.tanh
    if name == "linear":
        return lambda x: x
    raise ValueError(f"unsupported activation {name!r}")


FRONT_END_FORMS = ("transpose", "reduce", "time_major")


class _ConvBlock(nn.Module):
    """Conv1d -> optional norm (group norm with one group per channel, or layer norm over channels) -> GELU.

    The layer norm over channels has two forms with the same result (to fp32 rounding): ``transpose`` (fairseq's:
    to (B, T, C), ``layer_norm``, back) and ``reduce`` (mean and variance over the channel axis in place); and
    :meth:`forward_time_major` runs the block in (B, T, C) layout. Which is fastest depends on the backend: see
    :func:`use_front_end_form`."""

    def __init__(self, n_in, n_out, kernel, stride, bias, norm):
        super().__init__()
        self.conv = nn.Conv1d(n_in, n_out, kernel, stride=stride, bias=bias)
        self.norm_kind = norm
        self.channel_norm = "transpose"
        if norm == "group":
            self.norm = nn.GroupNorm(n_out, n_out, affine=True)
        elif norm == "layer":
            self.norm = nn.LayerNorm(n_out, elementwise_affine=True)
        else:
            self.norm = None

    def forward(self, x):  # (B, C, T)
        x = self.conv(x)
        if self.norm_kind == "group":
            x = self.norm(x)
        elif self.norm_kind == "layer" and self.channel_norm == "reduce":
            centred = x - x.mean(1, keepdim=True)
            scale = torch.rsqrt((centred * centred).mean(1, keepdim=True) + self.norm.eps)
            x = centred * scale * self.norm.weight[:, None] + self.norm.bias[:, None]
        elif self.norm_kind == "layer":
            x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        return F.gelu(x)

    def forward_time_major(self, x):
        """(B, T, C_in) -> (B, T', C_out), layer-norm blocks only: the convolution as its strided windows times the
        kernel (a matrix product), the norm over the last axis; no layout change anywhere."""
        kernel, stride = self.conv.kernel_size[0], self.conv.stride[0]
        windows = x.unfold(1, kernel, stride).flatten(2)  # (B, T', C_in * kernel), in the kernel's own order
        return F.gelu(self.norm(F.linear(windows, self.conv.weight.flatten(1), self.conv.bias)))


def use_front_end_form(model: nn.Module, form: str) -> nn.Module:
    """Set how ``model``'s conv front end runs (same features to fp32 rounding): ``transpose`` (fairseq's),
    ``reduce`` (the layer norm over channels as a reduction in place) or ``time_major`` (every block in (B, T, C)
    layout, :meth:`_ConvBlock.forward_time_major`). Only LARGE-style front ends (``extractor_mode: layer_norm``)
    have a layer norm per block; for the others every form is fairseq's. Returns ``model``."""
    if form not in FRONT_END_FORMS:
        raise ValueError(f"front-end form must be one of {FRONT_END_FORMS}, not {form!r}")
    for extractor in model.modules():
        if isinstance(extractor, _FeatureExtractor):
            layer_norms = all(b.norm_kind == "layer" for b in extractor.blocks)
            extractor.time_major = form == "time_major" and layer_norms
            for block in extractor.blocks:
                block.channel_norm = "reduce" if form == "reduce" else "transpose"
    return model


class _FeatureExtractor(nn.Module):
    def __init__(self, s: Wav2Vec2Settings):
        super().__init__()
        blocks, n_in = [], 1
        for i, (dim, kernel, stride) in enumerate(s.conv_layers):
            if s.extractor_mode == "layer_norm":
                norm = "layer"
            else:
                norm = "group" if i == 0 else None
            blocks.append(_ConvBlock(n_in, dim, kernel, stride, s.conv_bias, norm))
            n_in = dim
        self.blocks = nn.ModuleList(blocks)
        self.time_major = False  # see use_front_end_form

    def forward(self, wav):  # (B, T) -> (B, C, frames)
        if self.time_major:
            x = wav.unsqueeze(-1)
            for block in self.blocks:
                x = block.forward_time_major(x)
            return x.transpose(1, 2)  # a view; the encoder transposes it back
        x = wav.unsqueeze(1)
        for block in self.blocks:
            x = block(x)
        return x


class _SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        if dim % heads:
            raise ValueError(f"embedding dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x):  # (B, T, C)
        b, t, c = x.shape
        h = self.heads

        def split(y):
            return y.view(b, t, h, c // h).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        y = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c))


class _EncoderLayer(nn.Module):
    """One transformer block; post-norm (Base) or pre-norm (layer_norm_first, Large vox / XLS-R)."""

    def __init__(self, s: Wav2Vec2Settings):
        super().__init__()
        d = s.encoder_embed_dim
        self.layer_norm_first = s.layer_norm_first
        self.self_attn = _SelfAttention(d, s.encoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, s.encoder_ffn_embed_dim)
        self.fc2 = nn.Linear(s.encoder_ffn_embed_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = _activation(s.activation_fn)

    def forward(self, x):
        if self.layer_norm_first:
            x = x + self.self_attn(self.self_attn_layer_norm(x))
            return x + self.fc2(self.act(self.fc1(self.final_layer_norm(x))))
        x = self.self_attn_layer_norm(x + self.self_attn(x))
        return self.final_layer_norm(x + self.fc2(self.act(self.fc1(x))))


class _Encoder(nn.Module):
    def __init__(self, s: Wav2Vec2Settings, keep_layers: int):
        super().__init__()
        d, k = s.encoder_embed_dim, s.conv_pos
        # Positional convolution; its weight-normed weight is materialised at load time.
        self.pos_conv = nn.Conv1d(d, d, kernel_size=k, padding=k // 2, groups=s.conv_pos_groups)
        self.pos_trim = 1 if k % 2 == 0 else 0  # an even kernel with padding k//2 yields one extra frame
        self.layer_norm_first = s.layer_norm_first
        self.layers = nn.ModuleList(_EncoderLayer(s) for _ in range(keep_layers))
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, x, layer=None):  # (B, T, C)
        pos = self.pos_conv(x.transpose(1, 2))
        if self.pos_trim:
            pos = pos[:, :, :-self.pos_trim]
        x = x + F.gelu(pos).transpose(1, 2)
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        for i, block in enumerate(self.layers):
            x = block(x)
            if i == layer:
                return x  # fairseq: a requested layer is returned as is, without the final norm
        if self.layer_norm_first:
            x = self.layer_norm(x)
        return x


def check_layer_range(source, depth, loaded, layer):
    if layer is None:
        if loaded < depth:
            raise BadInputError(source, (
                f"the full output needs all {depth} transformer layers, but this model "
                f"was loaded with only the first {loaded}"))
        return
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise BadInputError(source, f"layer must be an integer 0..{depth - 1}, not {layer!r}")
    if not 0 <= layer < depth:
        raise BadInputError(source, (
            f"layer {layer} is out of range: this checkpoint has {depth} transformer layers, so layer "
            f"must be 0..{depth - 1} (0-based, as in fairseq's extract_features(layer=...): "
            f"layer k is the output of block k+1)"))
    if layer >= loaded:
        raise BadInputError(source, (
            f"layer {layer} was not loaded: the model keeps only layers 0..{loaded - 1} "
            f"of {depth}; load it again with a larger layer"))


class Wav2Vec2Encoder(nn.Module):
    """The wav2vec 2.0 network up to the transformer output (eval mode only).

    Attributes: ``settings`` (Wav2Vec2Settings), ``normalize`` (apply F.layer_norm to each waveform
    first), ``encoder_layers`` (depth of the checkpoint), ``loaded_layers`` (blocks kept in memory),
    ``source`` (the checkpoint path).
    """

    def __init__(self, settings: Wav2Vec2Settings, keep_layers: int | None = None, source: str = ""):
        super().__init__()
        s = settings
        keep = s.encoder_layers if keep_layers is None else keep_layers
        self.settings = s
        self.source = str(source)
        self.normalize = bool(s.normalize)
        self.encoder_layers = s.encoder_layers
        self.loaded_layers = keep
        conv_dim = s.conv_layers[-1][0]
        self.feature_extractor = _FeatureExtractor(s)
        self.layer_norm = nn.LayerNorm(conv_dim)
        self.post_extract_proj = (nn.Linear(conv_dim, s.encoder_embed_dim)
                                  if conv_dim != s.encoder_embed_dim else None)
        self.encoder = _Encoder(s, keep)

    @property
    def embed_dim(self) -> int:
        return self.settings.encoder_embed_dim

    def num_frames(self, num_samples: int) -> int:
        """Frames the model yields for a waveform of ``num_samples`` samples."""
        n = int(num_samples)
        for _, kernel, stride in self.settings.conv_layers:
            n = (n - kernel) // stride + 1 if n >= kernel else 0
        crop = self.settings.crop_seq_to_multiple
        return n - n % crop if crop > 1 else n

    def check_layer(self, layer):
        """Raise BadInputError (naming the checkpoint and its depth) unless ``layer`` can be extracted."""
        check_layer_range(self.source, self.encoder_layers, self.loaded_layers, layer)

    def forward(self, source: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """(B, samples) waveform, already normalised if ``self.normalize`` -> (B, frames, dim)."""
        x = self.feature_extractor(source).transpose(1, 2)
        x = self.layer_norm(x)
        crop = self.settings.crop_seq_to_multiple
        if crop > 1 and x.shape[1] % crop:
            x = x[:, : x.shape[1] - x.shape[1] % crop]
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        return self.encoder(x, layer)


def extract(model: Wav2Vec2Encoder, waveform_16k, layer: int | None) -> torch.Tensor:
    """Features of transformer layer ``layer`` (0-based, fairseq numbering) for a 16 kHz waveform.

    ``waveform_16k``: 1-D numpy array or tensor (samples) -> tensor (frames x dim); a 2-D batch of
    equal-length waveforms (batch x samples) -> (batch x frames x dim). Each waveform is normalised
    with ``F.layer_norm`` over its samples exactly when ``model.normalize`` is true (as fairseq's
    audio tasks do). ``layer=None`` gives the model's final output (fairseq's ``layer=None``).
    """
    model.check_layer(layer)
    if isinstance(waveform_16k, np.ndarray):
        wav = torch.from_numpy(np.ascontiguousarray(waveform_16k))
    elif isinstance(waveform_16k, torch.Tensor):
        wav = waveform_16k.detach()
    else:
        raise KitError(f"waveform must be a numpy array or a torch tensor, not {type(waveform_16k).__name__}")
    if wav.ndim not in (1, 2):
        raise KitError(f"waveform must be 1-D (samples) or 2-D (batch x samples), not shape {tuple(wav.shape)}")
    if not wav.is_floating_point():  # fairseq reads audio as floats in [-1, 1] (soundfile's default)
        raise KitError(f"waveform must hold floating-point samples in [-1, 1], not {wav.dtype}")
    wav = wav.to(torch.float32)
    if model.num_frames(wav.shape[-1]) < 1:
        raise KitError(f"waveform too short: {wav.shape[-1]} samples give no frame "
                       f"(the model needs at least {_min_samples(model.settings)} samples, "
                       f"{_min_samples(model.settings) / TARGET_SR * 1000:.0f} ms at 16 kHz)")
    single = wav.ndim == 1
    batch = wav.unsqueeze(0) if single else wav
    with torch.no_grad():
        if model.normalize:
            batch = F.layer_norm(batch, batch.shape[-1:])
        out = model(batch.to(next(model.parameters()).device), layer)
    return out[0] if single else out


def _min_samples(s: Wav2Vec2Settings) -> int:
    n = max(1, s.crop_seq_to_multiple)
    for _, kernel, stride in reversed(s.conv_layers):
        n = (n - 1) * stride + kernel
    return n
