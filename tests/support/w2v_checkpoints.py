"""Tiny random wav2vec 2.0 checkpoints in fairseq's own layouts, for tests.

``save_tiny_checkpoint`` writes what fairseq's trainer writes: a dict with the config (old ``args``
argparse.Namespace, or newer ``cfg`` dict / omegaconf DictConfig), ``model`` (the state dict, with
fairseq's exact parameter names), optimizer history and extra state. The state dict is built from
the key names alone (not from the kit's model), so the kit's key mapping is tested against it.
"""
from __future__ import annotations

import argparse
import math
from collections import OrderedDict

import numpy as np
import torch

CONV = ((16, 10, 5), (16, 3, 2), (16, 3, 2), (16, 2, 2))  # 40 samples a frame


def conv_string(conv):
    return " + ".join(f"[({c}, {k}, {s})]" for c, k, s in conv)


def tiny_state_dict(*, layers=2, dim=32, ffn=64, conv=CONV, extractor_mode="default", conv_bias=False,
                    conv_pos=8, conv_pos_groups=4, weight_norm="legacy", pretraining_heads=True,
                    seed=0) -> "OrderedDict[str, torch.Tensor]":
    """Random weights named as in fairseq's Wav2Vec2Model.state_dict().

    weight_norm: "legacy" (torch.nn.utils.weight_norm: weight_g / weight_v), "parametrizations"
    (torch.nn.utils.parametrizations.weight_norm: parametrizations.weight.original0/1) or "none"
    (a plain ``weight``).
    """
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std=1.0):
        return torch.randn(*shape, generator=g) * std

    def linear(prefix, n_in, n_out):
        sd[prefix + ".weight"] = randn(n_out, n_in, std=1 / math.sqrt(n_in))
        sd[prefix + ".bias"] = randn(n_out, std=0.1)

    def norm(prefix, n):
        sd[prefix + ".weight"] = 1 + randn(n, std=0.1)
        sd[prefix + ".bias"] = randn(n, std=0.1)

    sd = OrderedDict()
    sd["mask_emb"] = torch.rand(dim, generator=g)
    n_in = 1
    for i, (c, k, _s) in enumerate(conv):
        p = f"feature_extractor.conv_layers.{i}"
        sd[p + ".0.weight"] = randn(c, n_in, k, std=math.sqrt(2 / (n_in * k)))
        if conv_bias:
            sd[p + ".0.bias"] = randn(c, std=0.1)
        if extractor_mode == "layer_norm":
            norm(p + ".2.1", c)  # Sequential(TransposeLast, Fp32LayerNorm, TransposeLast) at index 2
        elif i == 0:
            norm(p + ".2", c)  # Fp32GroupNorm(c, c) at index 2
        n_in = c
    embed = conv[-1][0]
    if embed != dim:
        linear("post_extract_proj", embed, dim)
    if pretraining_heads:
        sd["quantizer.vars"] = randn(1, 2 * 8, 8)
        linear("quantizer.weight_proj", embed, 2 * 8)
        linear("project_q", 8, dim)
    v = randn(dim, dim // conv_pos_groups, conv_pos, std=math.sqrt(4 / (conv_pos * dim)))
    gain = v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt() * (1 + 0.3 * torch.rand(1, 1, conv_pos, generator=g))
    if weight_norm == "legacy":
        sd["encoder.pos_conv.0.bias"] = randn(dim, std=0.1)
        sd["encoder.pos_conv.0.weight_g"] = gain
        sd["encoder.pos_conv.0.weight_v"] = v
    elif weight_norm == "parametrizations":
        sd["encoder.pos_conv.0.bias"] = randn(dim, std=0.1)
        sd["encoder.pos_conv.0.parametrizations.weight.original0"] = gain
        sd["encoder.pos_conv.0.parametrizations.weight.original1"] = v
    else:
        sd["encoder.pos_conv.0.bias"] = randn(dim, std=0.1)
        sd["encoder.pos_conv.0.weight"] = gain * v / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    for i in range(layers):
        p = f"encoder.layers.{i}"
        for name in ("k_proj", "v_proj", "q_proj", "out_proj"):
            linear(f"{p}.self_attn.{name}", dim, dim)
        norm(p + ".self_attn_layer_norm", dim)
        linear(p + ".fc1", dim, ffn)
        linear(p + ".fc2", ffn, dim)
        norm(p + ".final_layer_norm", dim)
    norm("encoder.layer_norm", dim)
    norm("layer_norm", embed)
    if pretraining_heads:
        linear("final_proj", dim, 8)
    return sd


def _model_fields(layers, dim, ffn, heads, conv, extractor_mode, layer_norm_first, conv_bias, conv_pos,
                  conv_pos_groups):
    """The wav2vec2 model config entries fairseq stores (a representative subset, same names)."""
    return {
        "extractor_mode": extractor_mode, "encoder_layers": layers, "encoder_embed_dim": dim,
        "encoder_ffn_embed_dim": ffn, "encoder_attention_heads": heads, "activation_fn": "gelu",
        "layer_type": "transformer", "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0,
        "encoder_layerdrop": 0.05, "dropout_input": 0.1, "dropout_features": 0.1, "final_dim": 8,
        "layer_norm_first": layer_norm_first, "conv_feature_layers": conv_string(conv),
        "conv_bias": conv_bias, "logit_temp": 0.1, "quantize_targets": True, "quantize_input": False,
        "same_quantizer": False, "target_glu": False, "feature_grad_mult": 0.1, "quantizer_depth": 1,
        "quantizer_factor": 3, "latent_vars": 8, "latent_groups": 2, "latent_dim": 0, "mask_length": 10,
        "mask_prob": 0.65, "mask_selection": "static", "mask_other": 0.0, "no_mask_overlap": False,
        "mask_min_space": 1, "mask_channel_length": 10, "mask_channel_prob": 0.0,
        "mask_channel_before": False, "mask_channel_selection": "static", "mask_channel_other": 0.0,
        "no_mask_channel_overlap": False, "mask_channel_min_space": 1, "num_negatives": 100,
        "negatives_from_everywhere": False, "cross_sample_negatives": 0, "codebook_negatives": 0,
        "conv_pos": conv_pos, "conv_pos_groups": conv_pos_groups, "pos_conv_depth": 1,
        "latent_temp": [2.0, 0.5, 0.999995], "max_positions": 100000, "checkpoint_activations": False,
        "required_seq_len_multiple": 2, "crop_seq_to_multiple": 1,
    }


def _pretrain_cfg(model_fields, normalize):
    """A newer fairseq (hydra) top-level config of a pretraining run, as saved by OmegaConf.to_container."""
    return {
        "_name": None,
        "common": {"_name": None, "no_progress_bar": False, "log_interval": 200, "fp16": True, "seed": 1},
        "checkpoint": {"_name": None, "save_dir": "checkpoints", "save_interval_updates": 25000},
        "task": {"_name": "audio_pretraining", "data": "/data/manifests", "labels": None,
                 "sample_rate": 16000, "normalize": normalize, "enable_padding": False,
                 "max_sample_size": 250000, "min_sample_size": 32000},
        "model": {"_name": "wav2vec2", **model_fields},
        "criterion": {"_name": "wav2vec", "infonce": True, "log_keys": ["prob_perplexity", "code_perplexity"],
                      "loss_weights": [0.1, 10.0]},
        "optimizer": {"_name": "adam", "adam_betas": "(0.9,0.98)", "adam_eps": 1e-06, "weight_decay": 0.01},
        "lr_scheduler": {"_name": "polynomial_decay", "warmup_updates": 32000},
    }


def _pretrain_args(model_fields, normalize):
    """An old fairseq (argparse) Namespace of a pretraining run: model, task and trainer fields, flat."""
    return argparse.Namespace(
        arch="wav2vec2", task="audio_pretraining", criterion="wav2vec", optimizer="adam",
        lr_scheduler="polynomial_decay", data="/data/manifests", sample_rate=16000, normalize=normalize,
        max_sample_size=250000, min_sample_size=32000, lr=[0.0005], max_update=400000, seed=1,
        fp16=True, infonce=True, log_keys=["prob_perplexity", "code_perplexity"], loss_weights=[0.1, 10.0],
        **model_fields)


def save_tiny_checkpoint(path, layout="args", finetuned=False, layers=2, dim=32, *, ffn=64, heads=4,
                         conv=CONV, extractor_mode="default", layer_norm_first=False, conv_bias=False,
                         conv_pos=8, conv_pos_groups=4, normalize=False, weight_norm="legacy",
                         w2v_args=True, omegaconf=False, seed=0, vocab=12):
    """Write a tiny random wav2vec 2.0 checkpoint as fairseq would; return its state dict ('model').

    layout "args": old fairseq (argparse.Namespace in ``args``); "cfg": newer fairseq (``cfg`` a dict,
    or an omegaconf DictConfig when ``omegaconf=True``). finetuned: a Wav2VecCtc checkpoint whose
    weights sit under ``w2v_encoder.w2v_model.`` with a CTC head ``w2v_encoder.proj``;
    ``w2v_args=False`` stores w2v_args=None (fairseq then reads the pretrained checkpoint at w2v_path).
    """
    fields = _model_fields(layers, dim, ffn, heads, conv, extractor_mode, layer_norm_first, conv_bias,
                           conv_pos, conv_pos_groups)
    sd = tiny_state_dict(layers=layers, dim=dim, ffn=ffn, conv=conv, extractor_mode=extractor_mode,
                         conv_bias=conv_bias, conv_pos=conv_pos, conv_pos_groups=conv_pos_groups,
                         weight_norm=weight_norm, pretraining_heads=not finetuned, seed=seed)
    if finetuned:
        g = torch.Generator().manual_seed(seed + 1)
        model = OrderedDict((f"w2v_encoder.w2v_model.{k}", v) for k, v in sd.items())
        model["w2v_encoder.proj.weight"] = torch.randn(vocab, dim, generator=g) / math.sqrt(dim)
        model["w2v_encoder.proj.bias"] = torch.zeros(vocab)
    else:
        model = sd

    ft_fields = {"w2v_path": "/models/pretrained.pt", "no_pretrained_weights": False, "dropout_input": 0.0,
                 "final_dropout": 0.0, "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.1,
                 "apply_mask": True, "mask_length": 10, "mask_prob": 0.5, "mask_channel_prob": 0.1,
                 "mask_channel_length": 64, "layerdrop": 0.1, "feature_grad_mult": 0.0,
                 "freeze_finetune_updates": 10000, "normalize": normalize}
    if layout == "cfg":
        pre = _pretrain_cfg(fields, normalize)
        if finetuned:
            cfg = _pretrain_cfg(fields, normalize)
            cfg["task"] = {"_name": "audio_finetuning", "data": "/data/manifests", "labels": "ltr",
                           "sample_rate": 16000, "normalize": normalize, "enable_padding": False}
            cfg["model"] = {"_name": "wav2vec_ctc", **ft_fields, "w2v_args": pre if w2v_args else None}
            cfg["criterion"] = {"_name": "ctc", "zero_infinity": True}
        else:
            cfg = pre
        if omegaconf:
            from omegaconf import OmegaConf
            cfg = OmegaConf.create(cfg)
        state = {"args": None, "cfg": cfg, "model": model, "criterion": None}
    elif layout == "args":
        pre = _pretrain_args(fields, normalize)
        if finetuned:
            args = argparse.Namespace(
                arch="wav2vec_ctc", task="audio_pretraining", criterion="ctc", optimizer="adam",
                data="/data/manifests", labels="ltr", sample_rate=16000,
                lr=[5e-05], max_update=20000, seed=1, zero_infinity=True,
                w2v_args=pre if w2v_args else None, **ft_fields)
        else:
            args = pre
        state = {"args": args, "model": model}
    else:
        raise ValueError(f"layout must be 'args' or 'cfg', not {layout!r}")
    state["optimizer_history"] = [{"criterion_name": "CtcCriterion" if finetuned else "Wav2vecCriterion",
                                   "optimizer_name": "FairseqAdam",
                                   "lr_scheduler_state": {"best": np.float64(3.25)}, "num_updates": 1000}]
    state["extra_state"] = {"epoch": 3, "val_loss": np.float64(3.25), "best": np.float64(3.25),
                            "train_iterator": {"epoch": 3, "iterations_in_epoch": 0, "shuffle": True},
                            "previous_training_time": 1234.5,
                            "metrics": {"train": [("loss", 0, "AverageMeter", {"val": 3.5, "sum": 7.0,
                                                                               "count": 2, "round": 3})]}}
    state["last_optimizer_state"] = None
    torch.save(state, str(path))
    return model
