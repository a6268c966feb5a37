"""wav2vec 2.0 features from fairseq checkpoints, without fairseq.

``load_wav2vec2(path)`` reads a fairseq wav2vec 2.0 checkpoint -- a pretrained ``Wav2Vec2Model``
(weights at the top level) or a fine-tuned ``Wav2VecCtc`` (weights under
``w2v_encoder.w2v_model.``), Base or Large, with its configuration in the old ``args``
(argparse.Namespace) or the newer ``cfg`` (dict or omegaconf DictConfig) -- into this module's own
torch model, and ``extract(model, waveform, layer)`` returns the output of one transformer block,
as fairseq's ``model.extract_features(source, None, layer=layer)["x"]`` would.

Layer numbering is fairseq's: ``layer`` is 0-based, ``layer=k`` is the output of transformer block
k+1, and the valid range is ``0 .. encoder_layers-1``. As in fairseq, asking for a layer never
applies the encoder's final layer norm of a ``layer_norm_first`` (Large "vox"/XLS-R style) model,
not even for the last layer; ``layer=None`` gives the full model output, with that final norm.
With ``layer_norm_first=False`` (Base, Large LS-960) the encoder layer norm comes before the first
block, so it is part of every layer's output.

Loading is weights-only (``torch.load(..., weights_only=True)``): only tensors, plain containers,
argparse.Namespace, numpy scalars and (when omegaconf is installed) omegaconf containers are
unpickled; a checkpoint holding any other Python object is refused, never loaded unsafely.

Eval only: no masking, quantizer, or pretraining heads (their weights may be present, and are ignored).

Also here: :data:`ARCHITECTURES` (fairseq's BASE and LARGE settings, and a tiny one for tests and CI),
:func:`count_flops` (the analytic compute of the network up to a layer) and :func:`save_random_checkpoint`
(randomly initialised weights written in fairseq's own checkpoint format, read back through
:func:`load_wav2vec2` like any fairseq file: what the speed benchmark uses when a profile has no checkpoint).
"""
from __future__ import annotations

import argparse
import ast
import collections
import logging
import math
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.errors import BadInputError, KitError
from ..io.audio import TARGET_SR

log = logging.getLogger(__name__)

__all__ = ["Wav2Vec2Settings", "Wav2Vec2Encoder", "load_wav2vec2", "extract",
           "FINETUNED_PREFIX", "ARCHITECTURES", "count_flops", "save_random_checkpoint", "architecture_of"]

FINETUNED_PREFIX = "w2v_encoder.w2v_model."
# Where the wav2vec 2.0 weights can sit: pretrained, fine-tuned CTC, fine-tuned seq2seq.
_PREFIXES = ("", FINETUNED_PREFIX, "encoder.w2v_model.")
_STRIDE_FOR_KERNEL = {10: 5, 3: 2, 2: 2}
_ACTIVATIONS = ("gelu", "gelu_accurate", "gelu_fast", "relu", "relu_squared", "tanh", "linear")


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


def _check_layer(source, depth, loaded, layer):
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
        _check_layer(self.source, self.encoder_layers, self.loaded_layers, layer)

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


# ----------------------------------------------------------------------------------------------
# Architectures and their compute
# ----------------------------------------------------------------------------------------------

_FAIRSEQ_CONV = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2  # 320 samples a frame: 50 a second

ARCHITECTURES = {
    # fairseq's wav2vec_small.pt (BASE, LibriSpeech 960 h): post-norm, group norm in the first conv block only
    "base": Wav2Vec2Settings(conv_layers=_FAIRSEQ_CONV),
    # fairseq's wav2vec_vox_new.pt (LARGE, LibriVox 60k h), the features of wav2vec-U: pre-norm, layer norm in every
    # conv block, conv bias, waveform normalised
    "large": Wav2Vec2Settings(conv_layers=_FAIRSEQ_CONV, extractor_mode="layer_norm", conv_bias=True,
                              encoder_layers=24, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096,
                              encoder_attention_heads=16, layer_norm_first=True, normalize=True),
    # LARGE's layout at a size tests and CI can afford (same 320-sample frame)
    "tiny": Wav2Vec2Settings(conv_layers=((32, 10, 5),) + ((32, 3, 2),) * 4 + ((32, 2, 2),) * 2,
                             extractor_mode="layer_norm", conv_bias=True, encoder_layers=2, encoder_embed_dim=64,
                             encoder_ffn_embed_dim=128, encoder_attention_heads=4, conv_pos=16, conv_pos_groups=4,
                             layer_norm_first=True, normalize=True),
}


def architecture_of(settings: Wav2Vec2Settings) -> str | None:
    """The name in :data:`ARCHITECTURES` whose shapes ``settings`` has (depth, widths, conv stack), else None."""
    def shape(s):
        return (s.conv_layers, s.extractor_mode, s.encoder_layers, s.encoder_embed_dim, s.encoder_ffn_embed_dim,
                s.encoder_attention_heads, s.layer_norm_first, s.conv_pos, s.conv_pos_groups)

    return next((name for name, a in ARCHITECTURES.items() if shape(a) == shape(settings)), None)


def count_flops(settings: Wav2Vec2Settings, num_samples: int, layer: int, batch: int = 1) -> dict:
    """Floating-point operations (2 per multiply-add) of the network up to transformer block ``layer`` (0-based).

    Inputs: the architecture, the waveform length in samples, the layer, the batch size. Output: a dict of GFLOP
    counts ``conv`` (front end), ``projection`` (feature projection), ``pos_conv``, ``transformer`` and ``total``,
    and ``frames`` (T, output frames per utterance).
    The matrix products only, counted exactly; norms, GELU, softmax and residual additions are O(T*D) and left out
    (under 1% of the total at BASE and LARGE sizes):

    * conv front end: sum over conv blocks i of 2 * C_in * C_out * k * T_i frames, T_i = (T_(i-1) - k) // s + 1
      (T_0 = samples, C_in = 1 for the first block);
    * projection: 2 * T * C * D when the last conv width C differs from the model width D;
    * positional convolution (groups G, kernel K): 2 * T * D * (D / G) * K;
    * each of the ``layer + 1`` blocks: 8 * T * D^2 (q, k, v and output projections) + 4 * T^2 * D (attention
      scores and their weighted sum over all heads) + 4 * T * D * F (the two feed-forward matrices, width F).

    With T = 49 frames per second of audio this gives ~4.9 GFLOP per second for the front end, ~14 for BASE up to
    its last block and ~24 for LARGE up to layer 14.
    """
    s = settings
    t, c_in, conv = int(num_samples), 1, 0
    for c_out, kernel, stride in s.conv_layers:
        t = (t - kernel) // stride + 1 if t >= kernel else 0
        conv += 2 * c_in * c_out * kernel * t
        c_in = c_out
    if s.crop_seq_to_multiple > 1:
        t -= t % s.crop_seq_to_multiple
    d, f = s.encoder_embed_dim, s.encoder_ffn_embed_dim
    projection = 2 * t * c_in * d if c_in != d else 0
    pos_conv = 2 * t * d * (d // s.conv_pos_groups) * s.conv_pos
    block = 8 * t * d * d + 4 * t * t * d + 4 * t * d * f
    parts = {"conv": conv, "projection": projection, "pos_conv": pos_conv, "transformer": (int(layer) + 1) * block}
    out = {k: batch * v / 1e9 for k, v in parts.items()}
    out["total"] = sum(out.values())
    out["frames"] = t
    return out


# ----------------------------------------------------------------------------------------------
# Checkpoint reading
# ----------------------------------------------------------------------------------------------

def _omegaconf():
    try:
        import omegaconf  # noqa: F401
        return omegaconf
    except ImportError:
        return None


def _safe_globals():
    """Globals a fairseq checkpoint may need besides tensors and plain containers: all are inert data."""
    allowed = [argparse.Namespace]
    # numpy scalars (training statistics in extra_state), by their numpy 1.x and 2.x names.
    try:
        from numpy._core.multiarray import scalar as np_scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar as np_scalar
    allowed += [(np_scalar, "numpy.core.multiarray.scalar"), (np_scalar, "numpy._core.multiarray.scalar"),
                np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        for name in dir(dtypes):
            obj = getattr(dtypes, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                allowed.append(obj)
    oc = _omegaconf()
    if oc is not None:
        import typing

        from omegaconf import base, nodes
        allowed += [oc.DictConfig, oc.ListConfig, base.ContainerMetadata, base.Metadata, typing.Any,
                    collections.defaultdict, dict, list, tuple, int, float, str, bool]
        for name in ("AnyNode", "StringNode", "IntegerNode", "FloatNode", "BooleanNode", "BytesNode",
                     "PathNode"):
            if hasattr(nodes, name):
                allowed.append(getattr(nodes, name))
    return allowed


def _unsafe_globals(path):
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # legacy (non-zip) format, or an unreadable file
        return []


def _load_checkpoint(path: Path) -> dict:
    if not path.exists():
        raise BadInputError(path, "checkpoint file not found")
    if not path.is_file():
        raise BadInputError(path, "checkpoint path is not a file")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        m = re.search(r"GLOBAL ([\w.]+)", msg)
        if m is None or "Unsupported global" not in msg:
            raise BadInputError(path, f"not a readable PyTorch checkpoint ({_first_line(msg)})") from None
        names = [m.group(1)] + [g for g in _unsafe_globals(path) if g != m.group(1)]
        if any(n.startswith("omegaconf.") for n in names) and _omegaconf() is None:
            raise BadInputError(path, (
                "the checkpoint's config is an omegaconf DictConfig, which needs the omegaconf package "
                "to be read: pip install omegaconf")) from None
        shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        raise BadInputError(path, (
            f"refused to load: the checkpoint pickles Python objects that are not plain data ({shown}); "
            "it is only ever loaded weights-only, since unpickling arbitrary objects can run code")) from None
    except Exception as e:  # not a torch file: zip, pickle or storage errors of any kind
        raise BadInputError(path, f"not a readable PyTorch checkpoint ({_first_line(str(e))})") from None
    if not isinstance(state, dict):
        raise BadInputError(path, f"not a fairseq checkpoint: it holds a {type(state).__name__}, not a dict")
    if "model" not in state:
        raise BadInputError(path, "not a fairseq checkpoint: no 'model' entry (the weights)")
    if not isinstance(state["model"], dict):
        raise BadInputError(path, "not a fairseq checkpoint: its 'model' entry is not a state dict")
    return state


def _first_line(msg: str) -> str:
    lines = [ln.strip() for ln in msg.strip().splitlines() if ln.strip()]
    return lines[0][:200] if lines else "unknown error"


def _plain(obj):
    """A config object (DictConfig, Namespace, dict) as a plain dict; None stays None."""
    if obj is None:
        return None
    oc = _omegaconf()
    if oc is not None and oc.OmegaConf.is_config(obj):
        try:
            obj = oc.OmegaConf.to_container(obj, resolve=True)
        except Exception:
            obj = oc.OmegaConf.to_container(obj, resolve=False)
    if isinstance(obj, argparse.Namespace):
        obj = vars(obj)
    if isinstance(obj, dict):
        return dict(obj)
    return None


def _value(mapping, key):
    """mapping[key], with unresolved interpolations ('${...}') and missing markers ('???') as None."""
    if not mapping:
        return None
    v = mapping.get(key)
    if isinstance(v, str) and (v.startswith("${") or v == "???"):
        return None
    return v


def _first(key, *mappings):
    for m in mappings:
        v = _value(m, key)
        if v is not None:
            return v
    return None


def _parse_conv_layers(text):
    """fairseq's conv_feature_layers string, e.g. "[(512, 10, 5)] + [(512, 3, 2)] * 4", without eval()."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Mult) and isinstance(b, list) and isinstance(a, int):
                a, b = b, a
            if isinstance(node.op, ast.Mult) and isinstance(a, list) and isinstance(b, int):
                if not 0 <= len(a) * b <= 1000:
                    raise ValueError("too many layers")
                return a * b
            if isinstance(node.op, ast.Add) and isinstance(a, list) and isinstance(b, list):
                return a + b
            if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
                return a + b if isinstance(node.op, ast.Add) else a * b
        raise ValueError("unsupported expression")

    layers = ev(ast.parse(str(text), mode="eval"))
    if not isinstance(layers, list) or not layers:
        raise ValueError("not a non-empty list")
    out = []
    for item in layers:
        if not (isinstance(item, tuple) and len(item) == 3 and all(isinstance(v, int) and v > 0 for v in item)):
            raise ValueError(f"bad layer {item!r}")
        out.append(item)
    return tuple(out)


@dataclass
class _ConfigView:
    model: dict  # the wav2vec 2.0 model config (pretraining), possibly empty
    normalize: object  # bool or None
    layer_type: object
    name: object  # model name (_name / arch) of the outer model, if any


def _config_view(state: dict, finetuned: bool) -> _ConfigView:
    cfg = _plain(state.get("cfg"))
    args = _plain(state.get("args"))
    if cfg is not None:
        outer_model = _plain(cfg.get("model")) or {}
        outer_task = _plain(cfg.get("task")) or {}
        name = outer_model.get("_name")
    elif args is not None:
        outer_model = outer_task = args
        name = args.get("arch")
    else:
        outer_model = outer_task = {}
        name = None

    w2v_args = outer_model.get("w2v_args") if "w2v_args" in outer_model else None
    if finetuned or "w2v_args" in outer_model:
        inner = _plain(w2v_args)
        if inner is not None and isinstance(_plain(inner.get("model")), dict):
            inner_model = _plain(inner.get("model")) or {}
            inner_task = _plain(inner.get("task")) or {}
        else:  # flat Namespace of the pretraining run (old args layout), or None
            inner_model = inner_task = inner or {}
        normalize = _first("normalize", outer_task, outer_model, inner_task, inner_model)
        layer_type = _first("layer_type", outer_model, inner_model)
        model_cfg = inner_model
    else:
        normalize = _first("normalize", outer_task, outer_model)
        layer_type = _first("layer_type", outer_model)
        model_cfg = outer_model
    return _ConfigView(model=model_cfg, normalize=normalize, layer_type=layer_type, name=name)


def _find_prefix(sd: dict):
    for p in _PREFIXES:
        if p + "feature_extractor.conv_layers.0.0.weight" in sd:
            return p
    return None


def _count(sd, fmt):
    n = 0
    while fmt.format(n) in sd:
        n += 1
    return n


def _settings_from(path: Path, sd: dict, prefix: str, view: _ConfigView) -> Wav2Vec2Settings:
    P = prefix
    mc = view.model
    inferred = []

    def bad(reason):
        return BadInputError(path, reason)

    def need(key):
        if P + key not in sd:
            raise bad(f"not a wav2vec 2.0 checkpoint: weight '{P + key}' is missing")
        t = sd[P + key]
        if not isinstance(t, torch.Tensor):
            raise bad(f"weight '{P + key}' is not a tensor")
        return t

    if view.name is not None and isinstance(view.name, str) and not view.name.startswith("wav2vec"):
        raise bad(f"not a wav2vec 2.0 checkpoint: its model is {view.name!r}")
    if view.layer_type not in (None, "transformer"):
        raise bad(f"unsupported wav2vec 2.0 variant: layer_type={view.layer_type!r} (only 'transformer')")
    if (_value(mc, "pos_conv_depth") or 1) > 1 or P + "encoder.pos_conv.0.0.weight" in sd:
        raise bad("unsupported wav2vec 2.0 variant: multi-layer positional convolution (pos_conv_depth > 1)")
    if _value(mc, "conv_pos_batch_norm") or P + "encoder.pos_conv.0.running_mean" in sd:
        raise bad("unsupported wav2vec 2.0 variant: batch-normed positional convolution")
    if _value(mc, "quantize_input") or P + "input_quantizer.vars" in sd:
        raise bad("unsupported wav2vec 2.0 variant: quantized transformer input (quantize_input)")

    # --- transformer shape, from the weights
    if P + "encoder.layers.0.self_attn.in_proj_weight" not in sd:
        need("encoder.layers.0.self_attn.k_proj.weight")
    n_layers = _count(sd, P + "encoder.layers.{}.fc1.weight")
    if n_layers == 0:
        need("encoder.layers.0.fc1.weight")
    dim = need("encoder.layer_norm.weight").shape[0]
    ffn = need("encoder.layers.0.fc1.weight").shape[0]

    # --- feature extractor shape, from the weights
    n_conv = _count(sd, P + "feature_extractor.conv_layers.{}.0.weight")
    conv_shapes = [tuple(sd[P + f"feature_extractor.conv_layers.{i}.0.weight"].shape) for i in range(n_conv)]
    if any(len(s) != 3 for s in conv_shapes) or conv_shapes[0][1] != 1:
        raise bad("not a wav2vec 2.0 checkpoint: the feature extractor's convolutions have unexpected shapes")
    if P + "feature_extractor.conv_layers.0.2.weight" in sd:
        mode_w = "default"
    elif P + "feature_extractor.conv_layers.0.2.1.weight" in sd:
        mode_w = "layer_norm"
    else:
        raise bad("not a wav2vec 2.0 checkpoint: the feature extractor has no normalisation weights")
    conv_bias_w = P + "feature_extractor.conv_layers.0.0.bias" in sd

    # --- positional convolution
    pos_w = _pos_conv_weight(sd, P, path, shape_only=True)
    conv_pos_w = pos_w[2]
    if pos_w[0] != dim or dim % pos_w[1]:
        raise bad(f"the positional convolution's weight {tuple(pos_w)} does not fit embedding dim {dim}")
    groups_w = dim // pos_w[1]

    def check(name, from_weights):
        v = _value(mc, name)
        if v is not None and v != from_weights:
            raise bad(f"inconsistent checkpoint: its config says {name}={v!r} but its weights give {from_weights!r}")
        return from_weights

    n_layers = check("encoder_layers", n_layers)
    dim = check("encoder_embed_dim", dim)
    ffn = check("encoder_ffn_embed_dim", ffn)
    conv_pos = check("conv_pos", conv_pos_w)
    groups = check("conv_pos_groups", groups_w)
    mode = check("extractor_mode", mode_w)
    conv_bias = check("conv_bias", conv_bias_w)

    # conv strides live only in the config
    text = _value(mc, "conv_feature_layers")
    got = [(c[0], c[2]) for c in conv_shapes]
    if text is None:
        # Strides are not in the weights: every wav2vec 2.0 recipe pairs kernel 10 with stride 5
        # and kernels 3 and 2 with stride 2 (fairseq's default extractor).
        if any(k not in _STRIDE_FOR_KERNEL for _, k in got):
            raise bad("the config has no conv_feature_layers and the feature extractor's kernels "
                      f"{[k for _, k in got]} are not the standard ones, so its strides are unknown")
        text = " + ".join(f"[({c}, {k}, {_STRIDE_FOR_KERNEL[k]})]" for c, k in got)
        inferred.append("conv_feature_layers")
    try:
        conv_layers = _parse_conv_layers(text)
    except (ValueError, SyntaxError, RecursionError) as e:
        raise bad(f"cannot read conv_feature_layers {str(text)[:200]!r}: {e}") from None
    want = [(c[0], c[1]) for c in conv_layers]
    if got != want:
        raise bad(f"inconsistent checkpoint: conv_feature_layers {text!r} does not match the feature "
                  f"extractor's weights (channels, kernel) {got}")

    heads = _value(mc, "encoder_attention_heads")
    if heads is None:
        heads = max(1, dim // 64)
        inferred.append("encoder_attention_heads")
    if dim % heads:
        raise bad(f"encoder_attention_heads={heads} does not divide the embedding dim {dim}")

    lnf = _value(mc, "layer_norm_first")
    if lnf is None:
        lnf = mode == "layer_norm"  # the Large vox / XLS-R recipe pairs these
        inferred.append("layer_norm_first")
    act = _value(mc, "activation_fn") or "gelu"
    if act not in _ACTIVATIONS:
        raise bad(f"unsupported activation_fn {act!r}")
    crop = _value(mc, "crop_seq_to_multiple") or 1
    normalize = view.normalize
    if normalize is None:
        normalize = mode == "layer_norm"  # fairseq: layer_norm mode is "meant to use with normalize=True"
        inferred.append("normalize")
    if inferred:
        log.warning("%s: config lacks %s; inferred from the weights", path, ", ".join(inferred))
    return Wav2Vec2Settings(
        conv_layers=conv_layers, extractor_mode=mode, conv_bias=bool(conv_bias), encoder_layers=int(n_layers),
        encoder_embed_dim=int(dim), encoder_ffn_embed_dim=int(ffn), encoder_attention_heads=int(heads),
        layer_norm_first=bool(lnf), conv_pos=int(conv_pos), conv_pos_groups=int(groups), activation_fn=act,
        crop_seq_to_multiple=int(crop), normalize=bool(normalize), finetuned=prefix != "",
        inferred=tuple(inferred))


def _pos_conv_weight(sd, P, path, shape_only=False):
    """The positional convolution's effective weight, undoing weight norm over every dim but dim 2."""
    base = P + "encoder.pos_conv.0."
    pairs = [(base + "weight_g", base + "weight_v"),
             (base + "parametrizations.weight.original0", base + "parametrizations.weight.original1")]
    for g_key, v_key in pairs:
        if g_key in sd and v_key in sd:
            g, v = sd[g_key], sd[v_key]
            if v.ndim != 3 or tuple(g.shape) != (1, 1, v.shape[2]):
                raise BadInputError(path, f"positional convolution weight norm has unexpected shapes "
                                          f"g{tuple(g.shape)} v{tuple(v.shape)} (expected norm over dim 2)")
            if shape_only:
                return tuple(v.shape)
            v = v.float()
            norm = v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
            return g.float() * v / norm
    if base + "weight" in sd and sd[base + "weight"].ndim == 3:
        return tuple(sd[base + "weight"].shape) if shape_only else sd[base + "weight"].float()
    raise BadInputError(path, f"not a wav2vec 2.0 checkpoint: no positional convolution weights "
                              f"('{base}weight_g'/'weight_v')")


def _our_state_dict(sd, P, s: Wav2Vec2Settings, keep: int, path) -> dict:
    """Map fairseq's key names onto this module's."""
    out = {}

    def take(src, dst):
        if P + src not in sd:
            raise BadInputError(path, f"not a wav2vec 2.0 checkpoint: weight '{P + src}' is missing")
        out[dst] = sd[P + src]

    for i in range(len(s.conv_layers)):
        take(f"feature_extractor.conv_layers.{i}.0.weight", f"feature_extractor.blocks.{i}.conv.weight")
        if s.conv_bias:
            take(f"feature_extractor.conv_layers.{i}.0.bias", f"feature_extractor.blocks.{i}.conv.bias")
        if s.extractor_mode == "layer_norm":
            for w in ("weight", "bias"):
                take(f"feature_extractor.conv_layers.{i}.2.1.{w}", f"feature_extractor.blocks.{i}.norm.{w}")
        elif i == 0:
            for w in ("weight", "bias"):
                take(f"feature_extractor.conv_layers.0.2.{w}", f"feature_extractor.blocks.0.norm.{w}")
    for w in ("weight", "bias"):
        take(f"layer_norm.{w}", f"layer_norm.{w}")
        take(f"encoder.layer_norm.{w}", f"encoder.layer_norm.{w}")
    if s.conv_layers[-1][0] != s.encoder_embed_dim:
        for w in ("weight", "bias"):
            take(f"post_extract_proj.{w}", f"post_extract_proj.{w}")
    out["encoder.pos_conv.weight"] = _pos_conv_weight(sd, P, path)
    take("encoder.pos_conv.0.bias", "encoder.pos_conv.bias")
    d = s.encoder_embed_dim
    for i in range(keep):
        src, dst = f"encoder.layers.{i}.", f"encoder.layers.{i}."
        packed = P + src + "self_attn.in_proj_weight"
        if packed in sd:  # very old fairseq: q, k, v packed in one matrix
            wq, wk, wv = sd[packed].split(d, dim=0)
            bq, bk, bv = sd[P + src + "self_attn.in_proj_bias"].split(d, dim=0)
            for name, wt, bs in (("q", wq, bq), ("k", wk, bk), ("v", wv, bv)):
                out[dst + f"self_attn.{name}_proj.weight"] = wt
                out[dst + f"self_attn.{name}_proj.bias"] = bs
        else:
            for name in ("q", "k", "v"):
                for w in ("weight", "bias"):
                    take(src + f"self_attn.{name}_proj.{w}", dst + f"self_attn.{name}_proj.{w}")
        for mod in ("self_attn.out_proj", "self_attn_layer_norm", "fc1", "fc2", "final_layer_norm"):
            for w in ("weight", "bias"):
                take(src + f"{mod}.{w}", dst + f"{mod}.{w}")
    return out


def load_wav2vec2(path, layer: int | None = None, device="cpu") -> Wav2Vec2Encoder:
    """Load a fairseq wav2vec 2.0 checkpoint (pretrained or fine-tuned CTC) into a Wav2Vec2Encoder in eval mode.

    ``layer`` (optional, 0-based as in fairseq): check it now and keep only the blocks up to it in
    memory (as fairseq's ``remove_pretraining_modules(last_layer=layer)``); ``extract`` can then ask
    for that layer or an earlier one. Raises BadInputError naming ``path`` for a missing, unreadable,
    unsafe (non weights-only) or non-wav2vec 2.0 checkpoint and for an impossible layer.
    """
    path = Path(path)
    state = _load_checkpoint(path)
    sd = state["model"]
    prefix = _find_prefix(sd)
    if prefix is None:
        raise BadInputError(path, (
            "not a wav2vec 2.0 checkpoint: weight 'feature_extractor.conv_layers.0.0.weight' is missing "
            f"(also looked under {', '.join(repr(p) for p in _PREFIXES if p)})"))
    view = _config_view(state, finetuned=prefix != "")
    settings = _settings_from(path, sd, prefix, view)
    if layer is not None:
        _check_layer(str(path), settings.encoder_layers, settings.encoder_layers, layer)
    keep = settings.encoder_layers if layer is None else int(layer) + 1
    theirs = _our_state_dict(sd, prefix, settings, keep, path)
    with warnings.catch_warnings(), torch.device("meta"):  # no random init: every weight is loaded below
        warnings.simplefilter("ignore")
        model = Wav2Vec2Encoder(settings, keep_layers=keep, source=str(path))
    ours = model.state_dict()
    for key, tensor in theirs.items():
        if tuple(tensor.shape) != tuple(ours[key].shape):
            raise BadInputError(path, f"inconsistent checkpoint: weight for {key} has shape "
                                      f"{tuple(tensor.shape)}, expected {tuple(ours[key].shape)}")
    missing = sorted(set(ours) - set(theirs))
    if missing:
        raise BadInputError(path, f"not a wav2vec 2.0 checkpoint: no weights for {missing[:5]}")
    model.load_state_dict({k: v.float().contiguous() for k, v in theirs.items()}, strict=True, assign=True)
    model.eval()
    model.requires_grad_(False)
    return model.to(device)


# ----------------------------------------------------------------------------------------------
# Checkpoint writing
# ----------------------------------------------------------------------------------------------

def fairseq_state_dict(model: Wav2Vec2Encoder) -> collections.OrderedDict[str, torch.Tensor]:
    """The model's weights under fairseq's ``Wav2Vec2Model`` names (the inverse of the loader's mapping); the
    positional convolution in fairseq's weight-norm form (``weight_g``/``weight_v``, norm over every dim but 2)."""
    s = model.settings
    ours = model.state_dict()
    out = collections.OrderedDict()
    # fairseq's masking embedding (unused at inference, present in every pretrained checkpoint)
    out["mask_emb"] = torch.rand(s.encoder_embed_dim, generator=torch.Generator().manual_seed(0))
    for i in range(len(s.conv_layers)):
        out[f"feature_extractor.conv_layers.{i}.0.weight"] = ours[f"feature_extractor.blocks.{i}.conv.weight"]
        if s.conv_bias:
            out[f"feature_extractor.conv_layers.{i}.0.bias"] = ours[f"feature_extractor.blocks.{i}.conv.bias"]
        norm = f"feature_extractor.conv_layers.{i}.2.1." if s.extractor_mode == "layer_norm" else (
            "feature_extractor.conv_layers.0.2." if i == 0 else None)
        if norm:
            for w in ("weight", "bias"):
                out[norm + w] = ours[f"feature_extractor.blocks.{i}.norm.{w}"]
    for w in ("weight", "bias"):
        out[f"layer_norm.{w}"] = ours[f"layer_norm.{w}"]
        if model.post_extract_proj is not None:
            out[f"post_extract_proj.{w}"] = ours[f"post_extract_proj.{w}"]
    weight = ours["encoder.pos_conv.weight"]
    out["encoder.pos_conv.0.bias"] = ours["encoder.pos_conv.bias"]
    out["encoder.pos_conv.0.weight_g"] = weight.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    out["encoder.pos_conv.0.weight_v"] = weight.clone()
    for i in range(model.loaded_layers):
        p = f"encoder.layers.{i}."
        for mod in ("self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj", "self_attn.out_proj",
                    "self_attn_layer_norm", "fc1", "fc2", "final_layer_norm"):
            for w in ("weight", "bias"):
                out[p + f"{mod}.{w}"] = ours[p + f"{mod}.{w}"]
    for w in ("weight", "bias"):
        out[f"encoder.layer_norm.{w}"] = ours[f"encoder.layer_norm.{w}"]
    return out


def _fairseq_model_config(s: Wav2Vec2Settings) -> dict:
    """The wav2vec2 model section of a fairseq (hydra) config for settings ``s``: the fields the loader reads."""
    return {"_name": "wav2vec2", "extractor_mode": s.extractor_mode, "encoder_layers": s.encoder_layers,
            "encoder_embed_dim": s.encoder_embed_dim, "encoder_ffn_embed_dim": s.encoder_ffn_embed_dim,
            "encoder_attention_heads": s.encoder_attention_heads, "activation_fn": s.activation_fn,
            "layer_type": "transformer", "layer_norm_first": s.layer_norm_first,
            "conv_feature_layers": " + ".join(f"[({c}, {k}, {st})]" for c, k, st in s.conv_layers),
            "conv_bias": s.conv_bias, "conv_pos": s.conv_pos, "conv_pos_groups": s.conv_pos_groups,
            "pos_conv_depth": 1, "crop_seq_to_multiple": s.crop_seq_to_multiple, "quantize_input": False}


def save_random_checkpoint(path, settings: Wav2Vec2Settings, seed: int = 0) -> Path:
    """Write a randomly initialised wav2vec 2.0 of ``settings`` as a fairseq pretraining checkpoint at ``path``.

    The file is what fairseq's trainer writes (``cfg`` with ``model`` and ``task`` sections as plain containers,
    ``model`` = the state dict under fairseq's names, empty optimizer history), so :func:`load_wav2vec2` reads it
    weights-only like a downloaded one. Initialisation as fairseq's: Linear weights N(0, 0.02) with zero bias
    (BERT init), conv blocks Kaiming-normal, the positional convolution N(0, sqrt(4 / (K * D))), norms at one and
    zero. Features of such a model mean nothing: it serves speed measurements and arm-against-arm fidelity only.
    Returns ``path``.
    """
    path = Path(path)
    gen = torch.Generator().manual_seed(int(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Wav2Vec2Encoder(settings)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, 0.02, generator=gen)
                module.bias.zero_()
            elif isinstance(module, nn.Conv1d) and name == "encoder.pos_conv":
                module.weight.normal_(0.0, math.sqrt(4.0 / (settings.conv_pos * settings.encoder_embed_dim)),
                                      generator=gen)
                module.bias.zero_()
            elif isinstance(module, nn.Conv1d):
                fan_in = module.weight.shape[1] * module.weight.shape[2]
                module.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
                if module.bias is not None:
                    module.bias.zero_()
    state = {"args": None,
             "cfg": {"_name": None, "common": {"_name": None, "seed": int(seed)},
                     "task": {"_name": "audio_pretraining", "sample_rate": TARGET_SR,
                              "normalize": bool(settings.normalize)},
                     "model": _fairseq_model_config(settings)},
             "model": fairseq_state_dict(model), "criterion": None, "optimizer_history": [],
             "extra_state": {"epoch": 0, "note": "randomly initialised by aitranscribe: for speed measurements only"},
             "last_optimizer_state": None}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, str(tmp))
    tmp.replace(path)
    return path
