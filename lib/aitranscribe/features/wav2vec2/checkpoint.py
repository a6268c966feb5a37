"""fairseq wav2vec 2.0 checkpoints without fairseq: reading one (weights-only: tensors, plain containers,
argparse.Namespace, numpy scalars and omegaconf containers; anything else is refused, never unpickled unsafely)
into the kit's network (:func:`load_wav2vec2`), and writing one in fairseq's own format
(:func:`save_random_checkpoint`, what the speed benchmark uses when a profile has no checkpoint)."""
from __future__ import annotations

import argparse
import ast
import collections
import logging
import math
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ...core.errors import BadInputError
from ...io.audio import TARGET_SR

from .network import Wav2Vec2Encoder, Wav2Vec2Settings, check_layer_range

log = logging.getLogger(__name__)

FINETUNED_PREFIX = "w2v_encoder.w2v_model."
# Where the wav2vec 2.0 weights can sit: pretrained, fine-tuned CTC, fine-tuned seq2seq.
_PREFIXES = ("", FINETUNED_PREFIX, "encoder.w2v_model.")
_STRIDE_FOR_KERNEL = {10: 5, 3: 2, 2: 2}
_ACTIVATIONS = ("gelu", "gelu_accurate", "gelu_fast", "relu", "relu_squared", "tanh", "linear")


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
        check_layer_range(str(path), settings.encoder_layers, settings.encoder_layers, layer)
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
