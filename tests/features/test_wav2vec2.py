"""wav2vec 2.0 checkpoint loading (no fairseq) and layer feature extraction."""
import argparse
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aitranscribe.core.errors import BadInputError, KitError
from aitranscribe.features.wav2vec2 import extract, load_wav2vec2, use_front_end_form
from support.w2v_checkpoints import save_tiny_checkpoint

FRAMES_8000 = 199  # 8000 samples through CONV: 1599 -> 799 -> 399 -> 199


def _wav(n=8000, seed=0):
    return np.random.default_rng(seed).standard_normal(n) * 0.1


def _resave(path, edit):
    """Load one of our own fixture files (trusted), change it, save it again."""
    state = torch.load(str(path), map_location="cpu", weights_only=False)
    edit(state)
    torch.save(state, str(path))


# ---------------------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("layout", ["args", "cfg"])
@pytest.mark.parametrize("finetuned", [False, True])
def test_shapes_from_requested_layer(tmp_path, layout, finetuned):
    path = tmp_path / "w2v.pt"
    save_tiny_checkpoint(path, layout, finetuned, layers=3, dim=32, normalize=finetuned)
    model = load_wav2vec2(path)
    assert model.encoder_layers == 3 and model.embed_dim == 32
    assert model.settings.finetuned is finetuned
    assert model.normalize is finetuned
    assert model.settings.inferred == ()
    outs = [extract(model, _wav(), k) for k in range(3)]
    for y in outs:
        assert y.shape == (FRAMES_8000, 32) and y.dtype == torch.float32
        assert torch.isfinite(y).all()
    assert model.num_frames(8000) == FRAMES_8000
    assert not torch.allclose(outs[0], outs[1])


def test_args_and_cfg_layouts_give_the_same_features(tmp_path):
    a, c = tmp_path / "a.pt", tmp_path / "c.pt"
    save_tiny_checkpoint(a, "args", True, seed=3)
    save_tiny_checkpoint(c, "cfg", True, seed=3)
    wav = _wav()
    assert torch.equal(extract(load_wav2vec2(a), wav, 1), extract(load_wav2vec2(c), wav, 1))


def test_omegaconf_dictconfig_checkpoint(tmp_path):
    import omegaconf  # noqa: F401  (pinned in environment-stock.yml)
    path = tmp_path / "oc.pt"
    save_tiny_checkpoint(path, "cfg", True, omegaconf=True, normalize=True, layer_norm_first=True,
                         extractor_mode="layer_norm")
    model = load_wav2vec2(path)
    s = model.settings
    assert model.normalize and s.layer_norm_first and s.extractor_mode == "layer_norm" and s.inferred == ()
    assert extract(model, _wav(), 0).shape == (FRAMES_8000, 32)


def test_omegaconf_missing_gives_install_hint(tmp_path, monkeypatch):
    import omegaconf  # noqa: F401  (pinned in environment-stock.yml)
    path = tmp_path / "oc.pt"
    save_tiny_checkpoint(path, "cfg", False, omegaconf=True)
    monkeypatch.setitem(sys.modules, "omegaconf", None)  # import omegaconf now fails
    with pytest.raises(BadInputError, match="pip install omegaconf") as err:
        load_wav2vec2(path)
    assert err.value.path == str(path)


def test_finetuned_without_w2v_args_infers_from_weights(tmp_path):
    path = tmp_path / "ft.pt"
    save_tiny_checkpoint(path, "cfg", True, w2v_args=False, extractor_mode="layer_norm", normalize=True,
                         layers=2, dim=64, heads=1, conv_bias=True)
    model = load_wav2vec2(path)
    s = model.settings
    assert s.encoder_layers == 2 and s.encoder_embed_dim == 64 and s.conv_bias
    assert s.extractor_mode == "layer_norm" and s.layer_norm_first  # guessed from the extractor mode
    assert s.encoder_attention_heads == 1  # 64 // 64
    assert model.normalize  # the fine-tuning task's own setting
    assert "conv_feature_layers" in s.inferred and "layer_norm_first" in s.inferred
    assert "normalize" not in s.inferred


def test_weight_norm_namings_agree(tmp_path):
    wav, outs = _wav(), []
    for naming in ("legacy", "parametrizations", "none"):
        path = tmp_path / f"{naming}.pt"
        save_tiny_checkpoint(path, "args", False, weight_norm=naming, seed=5)
        outs.append(extract(load_wav2vec2(path), wav, 1))
    assert torch.allclose(outs[0], outs[1]) and torch.allclose(outs[0], outs[2], atol=1e-6)


def test_pos_conv_weight_norm_is_over_dim_2(tmp_path):
    """The effective weight is g * v / ||v||, the norm taken over every dim except the kernel dim."""
    path = tmp_path / "w.pt"
    sd = save_tiny_checkpoint(path, "args", False, conv_pos=7)
    model = load_wav2vec2(path)
    conv = torch.nn.Conv1d(32, 32, 7, padding=3, groups=4)
    conv = torch.nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
    with torch.no_grad():
        conv.parametrizations.weight.original0.copy_(sd["encoder.pos_conv.0.weight_g"])
        conv.parametrizations.weight.original1.copy_(sd["encoder.pos_conv.0.weight_v"])
        assert torch.allclose(model.encoder.pos_conv.weight, conv.weight, atol=1e-6)


# ---------------------------------------------------------------------------------------------- layers

def test_layer_out_of_range_names_depth(tmp_path):
    path = tmp_path / "w.pt"
    save_tiny_checkpoint(path, "cfg", False, layers=3)
    model = load_wav2vec2(path)
    for bad in (3, 24, -1):
        with pytest.raises(BadInputError, match="3 transformer layers") as err:
            extract(model, _wav(), bad)
        assert err.value.path == str(path) and "0..2" in str(err.value)
    with pytest.raises(BadInputError, match="integer"):
        extract(model, _wav(), 1.0)
    with pytest.raises(BadInputError, match="3 transformer layers"):
        load_wav2vec2(path, layer=14)


def test_load_with_layer_keeps_only_needed_blocks(tmp_path):
    path = tmp_path / "w.pt"
    save_tiny_checkpoint(path, "args", True, layers=3)
    full, part = load_wav2vec2(path), load_wav2vec2(path, layer=1)
    assert part.loaded_layers == 2 and len(part.encoder.layers) == 2 and part.encoder_layers == 3
    assert torch.equal(extract(full, _wav(), 1), extract(part, _wav(), 1))
    with pytest.raises(BadInputError, match="not loaded"):
        extract(part, _wav(), 2)
    with pytest.raises(BadInputError, match="only the first 2"):
        extract(part, _wav(), None)


def test_final_layer_norm_only_without_layer_for_layer_norm_first(tmp_path):
    """fairseq: a requested layer (even the last) is returned before the encoder's final layer norm."""
    path = tmp_path / "w.pt"
    save_tiny_checkpoint(path, "cfg", False, layers=2, layer_norm_first=True, extractor_mode="layer_norm")
    model = load_wav2vec2(path)
    last, final = extract(model, _wav(), 1), extract(model, _wav(), None)
    ln = model.encoder.layer_norm
    assert not torch.allclose(last, final, atol=1e-3)
    assert torch.allclose(F.layer_norm(last, (32,), ln.weight, ln.bias, ln.eps), final, atol=1e-5)

    base = tmp_path / "base.pt"  # post-norm: the encoder norm comes before the blocks
    save_tiny_checkpoint(base, "cfg", False, layers=2, layer_norm_first=False)
    model = load_wav2vec2(base)
    assert torch.equal(extract(model, _wav(), 1), extract(model, _wav(), None))


def test_front_end_forms_agree(tmp_path):
    """The conv front end run as fairseq's (B, C, T) with transposes around the layer norm, with the norm as a
    reduction over channels, and in (B, T, C) layout with the convolutions as matrix products: the same features
    (LARGE-style extractor, batched); a BASE-style front end (no layer norms) keeps its one form; an unknown form
    is refused by name."""
    path = tmp_path / "w.pt"
    save_tiny_checkpoint(path, "cfg", False, layers=2, layer_norm_first=True, extractor_mode="layer_norm", seed=3)
    model = load_wav2vec2(path)
    wav = np.stack([_wav() * 5 + 0.2, _wav(seed=1) * 0.3 - 0.1])  # away from zero mean and unit scale
    features = {form: extract(use_front_end_form(model, form), wav, 1) for form in ("transpose", "reduce", "time_major")}
    assert model.feature_extractor.time_major
    for form in ("reduce", "time_major"):
        assert features[form].shape == features["transpose"].shape
        assert torch.allclose(features[form], features["transpose"], atol=1e-5, rtol=1e-4), form
    base = tmp_path / "base.pt"
    save_tiny_checkpoint(base, "cfg", False, layers=2, layer_norm_first=False)
    base_model = load_wav2vec2(base)
    reference = extract(base_model, _wav(), 1)
    assert not use_front_end_form(base_model, "time_major").feature_extractor.time_major
    assert torch.equal(extract(base_model, _wav(), 1), reference)
    with pytest.raises(ValueError, match="front-end form"):
        use_front_end_form(model, "fused")


# ---------------------------------------------------------------------------------------------- input

def test_normalize_applies_layer_norm_to_waveform(tmp_path):
    on, off = tmp_path / "on.pt", tmp_path / "off.pt"
    save_tiny_checkpoint(on, "args", False, normalize=True, seed=2)
    save_tiny_checkpoint(off, "args", False, normalize=False, seed=2)
    m_on, m_off = load_wav2vec2(on), load_wav2vec2(off)
    wav = _wav() + 0.05
    normed = F.layer_norm(torch.from_numpy(wav).float(), (len(wav),)).numpy()
    assert torch.allclose(extract(m_on, wav, 0), extract(m_off, normed, 0), atol=1e-6)
    assert not torch.allclose(extract(m_on, wav, 0), extract(m_off, wav, 0), atol=1e-3)
    assert torch.allclose(extract(m_on, wav * 7, 0), extract(m_on, wav, 0), atol=1e-4)


def test_batch_and_tensor_input(tmp_path):
    path = tmp_path / "w.pt"
    save_tiny_checkpoint(path, "cfg", True, normalize=True)
    model = load_wav2vec2(path)
    a, b = _wav(seed=1), _wav(seed=2)
    batch = extract(model, torch.from_numpy(np.stack([a, b])), 1)
    assert batch.shape == (2, FRAMES_8000, 32)
    assert torch.allclose(batch[0], extract(model, a, 1), atol=1e-5)
    assert torch.allclose(batch[1], extract(model, b.astype(np.float32), 1), atol=1e-5)


def test_bad_waveforms(tmp_path):
    path = tmp_path / "w.pt"
    save_tiny_checkpoint(path, "args", False)
    model = load_wav2vec2(path)
    with pytest.raises(KitError, match="too short"):
        extract(model, np.zeros(30), 0)
    with pytest.raises(KitError, match="1-D"):
        extract(model, np.zeros((1, 2, 800)), 0)
    with pytest.raises(KitError, match="floating-point"):
        extract(model, np.zeros(800, dtype=np.int16), 0)
    with pytest.raises(KitError, match="numpy array"):
        extract(model, [0.0] * 800, 0)


# ---------------------------------------------------------------------------------------------- errors

def test_not_a_checkpoint(tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(BadInputError, match="not found"):
        load_wav2vec2(missing)
    text = tmp_path / "notes.pt"
    text.write_text("hello, not a checkpoint\n")
    with pytest.raises(BadInputError, match="not a readable PyTorch checkpoint") as err:
        load_wav2vec2(text)
    assert err.value.path == str(text)
    listing = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], str(listing))
    with pytest.raises(BadInputError, match="not a dict"):
        load_wav2vec2(listing)
    no_model = tmp_path / "nomodel.pt"
    torch.save({"args": None, "weights": {}}, str(no_model))
    with pytest.raises(BadInputError, match="no 'model' entry"):
        load_wav2vec2(no_model)


def test_not_wav2vec2(tmp_path):
    other = tmp_path / "lm.pt"
    torch.save({"args": argparse.Namespace(arch="transformer_lm"),
                "model": {"decoder.embed_tokens.weight": torch.zeros(4, 4)}}, str(other))
    with pytest.raises(BadInputError, match="feature_extractor.conv_layers.0.0.weight") as err:
        load_wav2vec2(other)
    assert "not a wav2vec 2.0 checkpoint" in str(err.value) and str(other) in str(err.value)

    v1 = tmp_path / "wav2vec1.pt"  # wav2vec 1.0: a conv feature extractor but no transformer
    torch.save({"args": argparse.Namespace(arch="wav2vec"),
                "model": {"feature_extractor.conv_layers.0.0.weight": torch.zeros(512, 1, 10),
                          "feature_aggregator.conv_layers.0.0.weight": torch.zeros(512, 512, 2)}}, str(v1))
    with pytest.raises(BadInputError, match="not a wav2vec 2.0 checkpoint"):
        load_wav2vec2(v1)

    hubert = tmp_path / "hubert.pt"
    save_tiny_checkpoint(hubert, "args", False)
    _resave(hubert, lambda s: setattr(s["args"], "arch", "hubert"))
    with pytest.raises(BadInputError, match="'hubert'"):
        load_wav2vec2(hubert)


def test_config_inconsistent_with_weights(tmp_path):
    path = tmp_path / "w.pt"
    save_tiny_checkpoint(path, "cfg", False, layers=2)
    _resave(path, lambda s: s["cfg"]["model"].update(encoder_layers=12))
    with pytest.raises(BadInputError, match="encoder_layers=12 but its weights give 2"):
        load_wav2vec2(path)


def test_conv_feature_layers_is_parsed_not_evaluated(tmp_path):
    path = tmp_path / "w.pt"
    save_tiny_checkpoint(path, "args", False)
    _resave(path, lambda s: setattr(s["args"], "conv_feature_layers", "__import__('os').getcwd()"))
    with pytest.raises(BadInputError, match="cannot read conv_feature_layers"):
        load_wav2vec2(path)
    save_tiny_checkpoint(path, "args", False)
    _resave(path, lambda s: setattr(s["args"], "conv_feature_layers", "[(16, 10, 5)] + [(16, 3, 2)] * 3"))
    with pytest.raises(BadInputError, match="does not match"):
        load_wav2vec2(path)


_SIDE_EFFECTS = []


def _record_side_effect(tag):
    _SIDE_EFFECTS.append(tag)
    return tag


class _Payload:
    """Unpickling this calls a function: exactly what weights-only loading must refuse."""

    def __reduce__(self):
        return (_record_side_effect, ("unpickled",))


class _Custom:
    def __init__(self):
        self.x = 1


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    save_tiny_checkpoint(path, "args", False)
    _resave(path, lambda s: s.update(extra_state={"hook": _Payload()}))
    with pytest.raises(BadInputError, match="refused to load") as err:
        load_wav2vec2(path)
    assert "_record_side_effect" in str(err.value)
    assert _SIDE_EFFECTS == []

    custom = tmp_path / "custom.pt"
    save_tiny_checkpoint(custom, "cfg", True)
    _resave(custom, lambda s: s.update(task_state={"dictionary": _Custom()}))
    with pytest.raises(BadInputError, match="refused to load.*_Custom"):
        load_wav2vec2(custom)


# ---------------------------------------------------------------------------------------------- faithfulness

HF_CASES = {
    # Base-like: group norm extractor, post-norm blocks, old args layout, legacy weight norm, even conv_pos
    "base": dict(layout="args", finetuned=False, extractor_mode="default", layer_norm_first=False,
                 conv_bias=False, conv_pos=8, weight_norm="legacy", normalize=False),
    # Large vox-like: layer norm extractor, pre-norm blocks, conv bias, fine-tuned cfg layout, normalize
    "large": dict(layout="cfg", finetuned=True, extractor_mode="layer_norm", layer_norm_first=True,
                  conv_bias=True, conv_pos=8, weight_norm="parametrizations", normalize=True),
    # odd positional kernel (no trimming), no post_extract_proj (conv dim == embed dim)
    "odd": dict(layout="cfg", finetuned=False, extractor_mode="default", layer_norm_first=True,
                conv_bias=False, conv_pos=7, weight_norm="legacy", normalize=False,
                conv=((32, 10, 5), (32, 3, 2), (32, 2, 2))),
}


def _hf_model(settings, sd, prefix):
    """transformers.Wav2Vec2Model with the same sizes, loaded with the same weights."""
    import transformers
    s = settings
    conv = s.conv_layers
    config = transformers.Wav2Vec2Config(
        hidden_size=s.encoder_embed_dim, num_hidden_layers=s.encoder_layers,
        num_attention_heads=s.encoder_attention_heads, intermediate_size=s.encoder_ffn_embed_dim,
        hidden_act="gelu", feat_extract_activation="gelu", layer_norm_eps=1e-5,
        feat_extract_norm="layer" if s.extractor_mode == "layer_norm" else "group",
        conv_dim=[c for c, _, _ in conv], conv_kernel=[k for _, k, _ in conv],
        conv_stride=[st for _, _, st in conv], conv_bias=s.conv_bias,
        num_conv_pos_embeddings=s.conv_pos, num_conv_pos_embedding_groups=s.conv_pos_groups,
        do_stable_layer_norm=s.layer_norm_first, apply_spec_augment=False, mask_time_prob=0.0,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        layerdrop=0.0)
    hf = transformers.Wav2Vec2Model(config).eval()
    P = prefix
    m = {}
    for i in range(len(conv)):
        m[f"feature_extractor.conv_layers.{i}.conv.weight"] = sd[f"{P}feature_extractor.conv_layers.{i}.0.weight"]
        if s.conv_bias:
            m[f"feature_extractor.conv_layers.{i}.conv.bias"] = sd[f"{P}feature_extractor.conv_layers.{i}.0.bias"]
        for w in ("weight", "bias"):
            if s.extractor_mode == "layer_norm":
                m[f"feature_extractor.conv_layers.{i}.layer_norm.{w}"] = \
                    sd[f"{P}feature_extractor.conv_layers.{i}.2.1.{w}"]
            elif i == 0:
                m[f"feature_extractor.conv_layers.0.layer_norm.{w}"] = sd[f"{P}feature_extractor.conv_layers.0.2.{w}"]
    for w in ("weight", "bias"):
        m[f"feature_projection.layer_norm.{w}"] = sd[f"{P}layer_norm.{w}"]
        m[f"encoder.layer_norm.{w}"] = sd[f"{P}encoder.layer_norm.{w}"]
    if f"{P}post_extract_proj.weight" in sd:
        m["feature_projection.projection.weight"] = sd[f"{P}post_extract_proj.weight"]
        m["feature_projection.projection.bias"] = sd[f"{P}post_extract_proj.bias"]
    else:  # fairseq has no projection when the dims agree
        m["feature_projection.projection.weight"] = torch.eye(s.encoder_embed_dim)
        m["feature_projection.projection.bias"] = torch.zeros(s.encoder_embed_dim)
    g_v = [(f"{P}encoder.pos_conv.0.weight_g", f"{P}encoder.pos_conv.0.weight_v"),
           (f"{P}encoder.pos_conv.0.parametrizations.weight.original0",
            f"{P}encoder.pos_conv.0.parametrizations.weight.original1")]
    g, v = next((sd[a], sd[b]) for a, b in g_v if a in sd)
    hf_keys = hf.state_dict().keys()
    if "encoder.pos_conv_embed.conv.parametrizations.weight.original0" in hf_keys:
        m["encoder.pos_conv_embed.conv.parametrizations.weight.original0"] = g
        m["encoder.pos_conv_embed.conv.parametrizations.weight.original1"] = v
    else:
        m["encoder.pos_conv_embed.conv.weight_g"] = g
        m["encoder.pos_conv_embed.conv.weight_v"] = v
    m["encoder.pos_conv_embed.conv.bias"] = sd[f"{P}encoder.pos_conv.0.bias"]
    names = {"attention.q_proj": "self_attn.q_proj", "attention.k_proj": "self_attn.k_proj",
             "attention.v_proj": "self_attn.v_proj", "attention.out_proj": "self_attn.out_proj",
             "layer_norm": "self_attn_layer_norm", "feed_forward.intermediate_dense": "fc1",
             "feed_forward.output_dense": "fc2", "final_layer_norm": "final_layer_norm"}
    for i in range(s.encoder_layers):
        for theirs, ours in names.items():
            for w in ("weight", "bias"):
                m[f"encoder.layers.{i}.{theirs}.{w}"] = sd[f"{P}encoder.layers.{i}.{ours}.{w}"]
    result = hf.load_state_dict(m, strict=False)
    assert not result.unexpected_keys
    assert set(result.missing_keys) <= {"masked_spec_embed"}, result.missing_keys
    return hf


@pytest.mark.parametrize("case", sorted(HF_CASES))
def test_matches_transformers_wav2vec2(tmp_path, case):
    """Same random weights in transformers.Wav2Vec2Model: every layer's hidden states agree.

    Index mapping: our (= fairseq's) layer k is the output of encoder block k, which is
    transformers' ``hidden_states[k + 1]`` (``hidden_states[0]`` is the input of block 0).
    """
    import transformers  # noqa: F401  (pinned in environment-stock.yml)
    kw = dict(HF_CASES[case])
    path = tmp_path / f"{case}.pt"
    layers = 3
    sd = save_tiny_checkpoint(path, kw.pop("layout"), kw.pop("finetuned"), layers=layers, dim=32, **kw)
    model = load_wav2vec2(path)
    prefix = "w2v_encoder.w2v_model." if model.settings.finetuned else ""
    hf = _hf_model(model.settings, sd, prefix)

    wav = _wav(6000, seed=4) + 0.02
    x = torch.from_numpy(wav).float()
    if model.normalize:
        x = F.layer_norm(x, x.shape)
    captured = {}
    hooks = [blk.register_forward_hook(lambda mod, inp, out, i=i: captured.__setitem__(
        i, out[0] if isinstance(out, tuple) else out)) for i, blk in enumerate(hf.encoder.layers)]
    with torch.no_grad():
        out = hf(x[None], output_hidden_states=True)
    for h in hooks:
        h.remove()
    assert len(out.hidden_states) == layers + 1
    for k in range(layers):
        ours = extract(model, wav, k)
        assert ours.shape == captured[k][0].shape
        torch.testing.assert_close(ours, captured[k][0], atol=1e-4, rtol=1e-4)
        if k < layers - 1 or not model.settings.layer_norm_first or int(transformers_major()) >= 5:
            # (transformers 4.x put the final layer norm into hidden_states[-1] of stable-layer-norm models)
            torch.testing.assert_close(ours, out.hidden_states[k + 1][0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(extract(model, wav, None), out.last_hidden_state[0], atol=1e-4, rtol=1e-4)


def transformers_major():
    import transformers
    return transformers.__version__.split(".")[0]


def test_default_conv_layers_match_standard_frame_rate(tmp_path):
    """The standard extractor (strides 5,2,2,2,2,2,2) gives 49 frames for one second, as in fairseq."""
    path = tmp_path / "std.pt"
    conv = ((8, 10, 5),) + ((8, 3, 2),) * 4 + ((8, 2, 2),) * 2
    save_tiny_checkpoint(path, "args", False, conv=conv, layers=1, dim=16, heads=2, ffn=32)
    model = load_wav2vec2(path)
    assert model.settings.stride == 320
    assert extract(model, np.zeros(16000), 0).shape == (49, 16)
