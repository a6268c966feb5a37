"""The wav2vec-U GAN: shapes, masking, penalties, JOIN segmentation, and that the machinery can learn."""
import math

import numpy as np
import torch

from aitranscribe.models.batching import one_hot, pad
from aitranscribe.models.gan import network as gan
from aitranscribe.models.gan import training as train

CFG = gan.GanConfig(input_dim=8, vocab=5, disc_dim=16, disc_kernel=3, generator_dropout=0.0)


def batch(lengths, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(n, dim, generator=g) for n in lengths]
    return pad(feats)


def test_generator_shapes_and_padding_do_not_leak():
    gen = gan.Generator(CFG).eval()
    x, pad = batch([6, 3])
    out = gen(x, pad)
    assert out.shape == (2, 7, 5)
    # what sits in padded positions does not change the outputs of real positions (3 inputs: 4 real outputs)
    x2 = x.clone()
    x2[1, 3:] = 100.0
    assert torch.allclose(gen(x2, pad)[1, :4], out[1, :4])


def test_generator_keeps_fairseqs_t_plus_one_outputs_and_their_mask():
    """Kernel 4, padding 2: T + 1 outputs; output t reads inputs t-2..t+1 (zeros outside); the mask shifts by one."""
    gen = gan.Generator(CFG).eval()
    x, pad = batch([5, 3])
    out = gen(x, pad)
    assert out.shape == (2, 6, 5) and gen.extra_steps() == 1
    mask = gan.output_padding(pad, out.shape[1])
    assert mask.tolist() == [[False] * 6, [False, False, False, False, True, True]]
    w = gen.proj.weight  # (V, D, 4)
    with torch.no_grad():
        assert torch.allclose(out[0, 0], w[:, :, 2] @ x[0, 0] + w[:, :, 3] @ x[0, 1], atol=1e-6)
        assert torch.allclose(out[0, 5], w[:, :, 0] @ x[0, 3] + w[:, :, 1] @ x[0, 4], atol=1e-6)
        assert torch.allclose(out[1, 3], w[:, :, 0] @ x[1, 1] + w[:, :, 1] @ x[1, 2], atol=1e-6)  # its last real one
        alone = gen(x[1:, :3], pad[1:, :3])
    assert alone.shape == (1, 4, 5) and torch.allclose(alone[0], out[1, :4], atol=1e-6)  # as if batched alone
    cropped = gan.Generator(gan.GanConfig(**{**gen.config(), "generator_crop": True})).eval()
    cropped.load_state_dict(gen.state_dict())
    assert cropped.extra_steps() == 0 and torch.allclose(cropped(x, pad), out[:, :5])
    assert gan.output_padding(pad, 5) is pad
    odd = gan.Generator(gan.GanConfig(input_dim=8, vocab=5, generator_kernel=3)).eval()
    assert odd(x, pad).shape == (2, 5, 5) and odd.extra_steps() == 0
    for g in (gen, cropped, odd):
        assert torch.allclose(gan.GeneratorLinear(g)(x, pad), g(x, pad), atol=1e-6)


def test_linear_generator_equals_conv_generator():
    gen = gan.Generator(CFG).eval()
    x, pad = batch([7, 4])
    assert torch.allclose(gan.GeneratorLinear(gen)(x, pad), gen(x, pad), atol=1e-6)


def test_join_segments_mean_and_random():
    logits = torch.tensor([[[1.0, 0], [2, 0], [0, 1], [0, 3], [5, 0]], [[0, 1.0], [0, 2], [0, 0], [0, 0], [0, 0]]])
    pad = torch.tensor([[0, 0, 0, 0, 0], [0, 0, 1, 1, 1]]).bool()
    seg, seg_pad = gan.join_segments(logits, pad, random_frame=False)
    assert seg_pad.tolist() == [[False, False, False], [False, True, True]]
    assert torch.allclose(seg[0], torch.tensor([[1.5, 0], [0, 2], [5, 0]])) and torch.allclose(seg[1, 0], torch.tensor([0, 1.5]))
    for _ in range(5):
        rnd, _ = gan.join_segments(logits, pad, random_frame=True)
        assert rnd[0, 0].tolist() in ([1.0, 0.0], [2.0, 0.0]) and rnd[0, 1].tolist() in ([0.0, 1.0], [0.0, 3.0])


def test_join_length_counts_the_padding_as_a_run_as_fairseq():
    logits = torch.tensor([[[1.0, 0], [2, 0], [1, 0], [3, 0], [5, 0]], [[0, 1.0], [0, 2], [0, 0], [0, 0], [0, 0]]])
    pad = torch.tensor([[0, 0, 0, 0, 0], [0, 0, 1, 1, 1]]).bool()
    # fairseq's run finder sees the padding of utterance 1 as a run (1 real run each):
    # it counts in the length, not in the mask
    seg, seg_pad = gan.join_segments(logits, pad, random_frame=False)
    assert seg.shape[1] == 1
    seg, seg_pad = gan.join_segments(logits, pad, random_frame=True, padding_run=True)
    assert seg_pad.tolist() == [[False, True], [False, True]] and (seg[:, 1] == 0).all()


def test_discriminator_is_causal_and_masks_padding():
    disc = gan.Discriminator(CFG).eval()
    x = torch.softmax(torch.randn(1, 6, 5), -1)
    h = x.transpose(1, 2)
    for layer in disc.layers:  # per-position outputs before the mean
        h = layer(h)
        if isinstance(layer, torch.nn.Conv1d):
            h = h[..., :6]
    x2 = x.clone()
    x2[0, 4:] = 0.3  # changing the future must not change earlier positions
    h2 = x2.transpose(1, 2)
    for layer in disc.layers:
        h2 = layer(h2)
        if isinstance(layer, torch.nn.Conv1d):
            h2 = h2[..., :6]
    assert torch.allclose(h[..., :4], h2[..., :4]) and not torch.allclose(h, h2)
    pad2 = torch.tensor([[0, 0, 0, 1, 1, 1]]).bool()
    x3 = x.clone()
    x3[0, 3:] = 9.0
    assert torch.allclose(disc(x, pad2), disc(x3, pad2))


def test_penalties_zero_and_nonzero_where_they_should_be():
    pad = torch.zeros(1, 4, dtype=torch.bool)
    flat = torch.zeros(1, 4, 5)
    assert gan.smoothness_penalty(flat, pad) == 0
    assert gan.smoothness_penalty(torch.randn(1, 4, 5), pad) > 0
    uniform_use = torch.eye(5)[None] * 10  # every symbol used equally: perplexity = V, code penalty 0
    assert abs(gan.code_perplexity(uniform_use, torch.zeros(1, 5, dtype=torch.bool)) - 5) < 1e-3
    one_symbol = torch.zeros(1, 5, 5)
    one_symbol[..., 0] = 10
    assert gan.code_perplexity(one_symbol, torch.zeros(1, 5, dtype=torch.bool)) < 1.01
    disc = gan.Discriminator(CFG)
    real, real_pad = one_hot([torch.tensor([1, 2, 3])], 5)
    gp = gan.gradient_penalty(disc, real, real_pad, torch.softmax(torch.randn(1, 3, 5), -1), real_pad)
    assert gp > 0


def _log(rows):
    return torch.tensor(rows).log()


def test_code_penalty_counts_padded_positions_as_uniform_as_fairseq():
    """B=2, T=3, V=3, the last segment of utterance 1 padded; logits are log-probabilities chosen by hand."""
    q, h = 0.25, 0.5
    logits = torch.stack([_log([[h, q, q], [q, h, q], [q, q, h]]),
                          torch.cat([_log([[h, q, q], [h, q, q]]), torch.tensor([[5.0, -3.0, 0.0]])])])
    pad = torch.tensor([[False, False, False], [False, False, True]])
    # fairseq: the padded segment's logits are zeros (its JOIN writes them), a uniform 1/3 each, averaged over 6:
    # phone 0: (1/2 + 1/4 + 1/4 + 1/2 + 1/2 + 1/3) / 6 = 7/18; phones 1 and 2: (3/2 + 1/3) / 6 = 11/36 each
    fairseq = math.exp(-(7 / 18 * math.log(7 / 18) + 2 * 11 / 36 * math.log(11 / 36)))  # = 2.979747
    assert abs(float(gan.code_perplexity(logits, pad)) - fairseq) < 1e-5
    assert abs(fairseq - 2.979747) < 1e-6
    # over the 5 real segments only: phone 0: 2/5, phones 1 and 2: (3/2) / 5 = 3/10 each
    real_only = math.exp(-(0.4 * math.log(0.4) + 2 * 0.3 * math.log(0.3)))  # = 2.971004
    assert abs(float(gan.code_perplexity(logits, pad, all_positions=False)) - real_only) < 1e-5
    # the generator loss reports (V - ppl) / V with the configured normalisation
    cfg = gan.GanConfig(input_dim=8, vocab=3, disc_dim=16, disc_kernel=3)
    disc = gan.Discriminator(cfg)
    _, parts = gan.generator_loss(disc, cfg, logits, pad)
    assert abs(parts["code_pen"] - (3 - fairseq) / 3) < 1e-5
    real_cfg = gan.GanConfig(**{**vars(cfg), "code_penalty_all_positions": False})
    _, parts = gan.generator_loss(disc, real_cfg, logits, pad)
    assert abs(parts["code_pen"] - (3 - real_only) / 3) < 1e-5


def test_smoothness_penalty_averages_over_all_pairs_as_fairseq():
    """B=2, T=3, V=3, the last segment of utterance 1 padded (its logits 9 must not count)."""
    logits = torch.tensor([[[0.0, 0, 0], [1, 2, 0], [1, 0, 2]],
                           [[1.0, 1, 1], [1, 1, 3], [9, 9, 9]]])
    pad = torch.tensor([[False, False, False], [False, False, True]])
    # squared differences summed over V: utterance 0: 1+4+0 = 5 and 0+4+4 = 8; utterance 1: 0+0+4 = 4, then a
    # pair into padding, set to 0. fairseq: (5 + 8 + 4 + 0) / (B x (T-1) x V = 12) = 17/12
    assert abs(float(gan.smoothness_penalty(logits, pad)) - 17 / 12) < 1e-6
    # over the 3 real pairs only, each pair's mean over V: (5/3 + 8/3 + 4/3) / 3 = 17/9
    assert abs(float(gan.smoothness_penalty(logits, pad, all_pairs=False)) - 17 / 9) < 1e-6
    cfg = gan.GanConfig(input_dim=8, vocab=3, disc_dim=16, disc_kernel=3)
    disc = gan.Discriminator(cfg)
    assert abs(gan.generator_loss(disc, cfg, logits, pad)[1]["smooth_pen"] - 17 / 12) < 1e-6
    other = gan.GanConfig(**{**vars(cfg), "smoothness_all_pairs": False})
    assert abs(gan.generator_loss(disc, other, logits, pad)[1]["smooth_pen"] - 17 / 9) < 1e-6
    assert gan.smoothness_penalty(logits[:, :1], pad[:, :1]) == 0  # one segment: no pair


def test_gradient_penalty_is_fairseqs_norm_over_time_per_phone():
    T, V = 4, 5
    weights = torch.rand(T, V)

    def linear_disc(x, padding):  # gradient w.r.t. every sample is ``weights``, whatever the interpolation
        assert not padding.any()  # fairseq scores the interpolations without a padding mask
        return (x * weights).sum((1, 2))

    real, real_pad = one_hot([torch.tensor([1, 2, 3, 4])] * 3, V)
    fake = torch.softmax(torch.randn(3, T, V), -1)
    per_phone = weights.norm(dim=0)
    expected = 3 * ((per_phone - 1) ** 2).sum()
    assert torch.allclose(gan.gradient_penalty(linear_disc, real, real_pad, fake, real_pad), expected)
    weights /= weights.norm(dim=0)  # unit norm over time for each phone: no penalty, though the sample's norm is sqrt(V)
    assert gan.gradient_penalty(linear_disc, real, real_pad, fake, real_pad) < 1e-6


def test_losses_and_one_update_of_each_side():
    gen, disc = gan.Generator(CFG), gan.Discriminator(CFG)
    x, pad = batch([9, 5, 7])
    real, real_pad = one_hot([torch.tensor([1, 2, 3, 4]), torch.tensor([0, 1])], 5)
    seg_logits, fake, fake_pad = gan.generator_forward(gen, x, pad, CFG, training=True)
    # the penalties see the JOIN-segmented logits, as the discriminator does (fairseq)
    assert seg_logits.shape == fake.shape and torch.allclose(torch.softmax(seg_logits, -1), fake)
    d_loss, d_parts = gan.discriminator_loss(disc, CFG, fake, fake_pad, real, real_pad)
    g_loss, g_parts = gan.generator_loss(disc, CFG, seg_logits, fake_pad)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss) and g_parts["code_ppl"] >= 1
    d_loss.backward()
    assert gen.proj.weight.grad is None  # the discriminator step does not reach the generator
    g_loss.backward()
    assert gen.proj.weight.grad is not None and gen.proj.weight.grad.abs().sum() > 0


def test_generator_learns_a_toy_mapping_with_labels():
    """The machinery can learn: with labels, the generator reaches near-zero error on a toy problem."""
    torch.manual_seed(0)
    protos = torch.randn(5, 8) * 3
    labels = torch.randint(0, 5, (64, 12))
    x = protos[labels] + 0.3 * torch.randn(64, 12, 8)
    gen = gan.Generator(gan.GanConfig(**{**vars(CFG), "generator_crop": True}))  # one output per labelled step
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(gen(x).reshape(-1, 5), labels.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    gen.eval()
    error = (gen(x).argmax(-1) != labels).float().mean().item()
    assert error < 0.02


def test_sweep_settings_and_run_names():
    p = {"sweep_seeds": [0, 1], "sweep_code_penalty": [2, 4], "sweep_gradient_penalty": [1.5],
         "sweep_smoothness": [0.5]}
    settings = train.sweep_settings(p)
    names = {train.run_name(s) for s in settings}
    assert len(settings) == 4 and len(names) == 4  # every run has its own directory


def test_selection_picks_lowest_label_free_metric():
    results = [{"run": "a", "dir": "/a", "best": {"metric": 40.0, "update": 100}},
               {"run": "b", "dir": "/b", "best": {"metric": 27.0, "update": 300}},
               {"run": "c", "dir": "/c", "best": None}]
    chosen = train.select(results, "weighted_lm_ppl")
    assert chosen["run"] == "b" and chosen["checkpoint"] == "/b/checkpoint_best.pt"


def test_nll_logu_rule_prefers_higher_log_probability_among_near_best():
    results = [{"run": "a", "dir": "/a", "best": {"metric": 4.00, "update": 1, "total_logprob": -900.0}},
               {"run": "b", "dir": "/b", "best": {"metric": 4.10, "update": 2, "total_logprob": -800.0}},
               {"run": "c", "dir": "/c", "best": {"metric": 5.00, "update": 3, "total_logprob": -100.0}}]
    assert train.select(results, "nll_logu")["run"] == "b"  # c is not within log(1.2) of the best
    assert train.select(results, "weighted_lm_ppl")["run"] == "a"


def test_aligned_generator_learns_force_aligned_segment_labels():
    from aitranscribe.evaluation import diagnostics, probe
    from aitranscribe.models.gan.checks import aligned_generator
    from aitranscribe.models.gan.model import GanModel
    from aitranscribe.text.error_rates import per

    symbols = ["a", "b", "c", "d", "<SIL>"]
    rng = np.random.default_rng(0)
    feats, refs = [], []
    for _ in range(60):  # each phone lasts 1-2 segments; a segment's features are its phone's one-hot plus noise
        ref = [symbols[i] for i in rng.integers(0, 4, 8)]
        ref = [p for k, p in enumerate(ref) if k == 0 or p != ref[k - 1]]
        rows = [np.eye(6)[symbols.index(p)] for p in ref for _ in range(rng.integers(1, 3))]
        feats.append(torch.tensor(np.array(rows) + 0.1 * rng.standard_normal((len(rows), 6)), dtype=torch.float32))
        refs.append(ref)
    aligner = probe.LinearCTC(6, 4)  # a hand-set CTC model that recognises the phones: the forced aligner
    with torch.no_grad():
        aligner.conv.weight.zero_()
        aligner.conv.bias.copy_(torch.tensor([0.0, -3, -3, -3, -3]))
        for v in range(4):
            aligner.conv.weight[v + 1, v, 2] = 6.0  # tap 2 of kernel 4 (padding 2) looks at the segment itself
    data = diagnostics.segment_aligner(aligner, ["a", "b", "c", "d"])(feats, refs, symbols)
    generator = aligned_generator(data, symbols, kernel=4, epochs=80, batch_size=probe.BATCH_SIZE,
                                  lr=probe.LEARNING_RATE)
    hyps = GanModel(generator, symbols).phones(feats)
    assert per(hyps, refs) < 0.05


def test_model_decodes_and_times_the_extra_output(tmp_path):
    """Each utterance of n segments gives n + 1 outputs; the extra one is timed like the last segment; a
    checkpoint written before the choice existed loads cropped, as it was trained."""
    import json
    from dataclasses import asdict

    from aitranscribe.models.gan.model import GanModel, step_bounds

    gen = gan.Generator(CFG).eval()
    model = GanModel(gen, ["a", "b", "c", "d", "<SIL>"])
    x, pad = batch([5, 3])
    with torch.no_grad():
        logits = gen(x, pad)
    assert [len(s) for s in model.step_scores(logits, pad)] == [6, 4]
    for (logp, ids, spans), n in zip(model.decode(logits, pad), (6, 4)):
        assert spans[0][0] == 0 and spans[-1][1] == n - 1 and len(spans) == len(ids) == len(logp)
    bounds = np.array([[0, 3], [3, 5], [5, 9]])
    assert step_bounds(bounds, 1).tolist() == [[0, 3], [3, 5], [5, 9], [5, 9]]
    assert step_bounds(bounds, 0) is bounds
    old = {k: v for k, v in asdict(CFG).items() if k not in ("generator_crop", "code_penalty_all_positions",
                                                             "smoothness_all_pairs", "join_padding_run")}
    torch.save({"generator": gen.state_dict(), "config": json.dumps(old), "symbols": model.symbols},
               tmp_path / "old.pt")
    assert GanModel.load(tmp_path / "old.pt").net(x, pad).shape == (2, 5, 5)


def test_schedule_defaults_alternate_like_fairseq_and_the_recipe_resets_d_before_each_g_step():
    import pytest
    from aitranscribe.core.errors import KitError

    fairseq = train.Schedule()
    assert [fairseq.is_d_step(s) for s in range(6)] == [False, True, False, True, False, True]
    assert not any(fairseq.resets_d(s) for s in range(100))
    recipe = train.Schedule(d_steps=5, d_reset_every=1, fake="sampled")
    # G at step 0, then 5 D steps, G at 6, ...; a fresh D starts each block of D steps after the first
    assert [s for s in range(20) if not recipe.is_d_step(s)] == [0, 6, 12, 18]
    assert [s for s in range(20) if recipe.resets_d(s)] == [7, 13, 19]
    # 2 D steps, D reset every second G update: D blocks at 1, 4, 7, 10, 13, ...; fresh at 7, 13, ...
    assert [s for s in range(30) if train.Schedule(d_steps=2, d_reset_every=2).resets_d(s)] == [7, 13, 19, 25]
    for bad in ({"d_steps": 0}, {"fake": "soft"}, {"temperature": 0.0}, {"d_reset_every": -1}):
        with pytest.raises(KitError, match="GAN schedule"):
            train.Schedule(**bad)


def test_sampled_fake_is_one_hot_on_segments_zero_on_padding_and_passes_gradients():
    gen = gan.Generator(CFG)
    x, padding = batch([9, 4])
    sampled = train.Schedule(fake="sampled")
    logits, seen, seen_pad = train.generator_output(gen, x, padding, CFG, sampled)
    assert torch.equal(seen.sum(-1), (~seen_pad).float())  # one phone per segment, nothing on padding
    assert set(seen.unique().tolist()) <= {0.0, 1.0}
    _, soft, _ = train.generator_output(gen, x, padding, CFG, train.Schedule())
    assert soft[~seen_pad].min() > 0  # fairseq's: the softmax
    disc = gan.Discriminator(CFG)
    opt_g, opt_d = train.make_optimizers(gen, disc, 1e-3, 1e-3, 0.0)
    before = gen.proj.weight.detach().clone()
    parts = train.discriminator_step(gen, disc, opt_d, CFG, sampled, x, padding, *one_hot(
        [torch.tensor([1, 2, 3]), torch.tensor([0, 4])], 5), clip_norm=5.0)
    assert torch.equal(gen.proj.weight, before) and parts["grad_norm"] > 0  # D's step leaves G alone
    parts = train.generator_step(gen, disc, opt_g, CFG, sampled, x, padding, clip_norm=5.0)
    assert parts["grad_norm"] > 0 and not torch.equal(gen.proj.weight, before)  # straight through the samples


def test_optimizer_step_divides_by_the_sample_size_then_clips_like_fairseq():
    """Gradients of a summed loss are divided by the batch before clipping; the norm returned is before clipping."""
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 0.0]]))
    x = torch.tensor([[3.0, 4.0]]).repeat(4, 1)  # 4 samples; d(sum of outputs)/dw = (12, 16), norm 20
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    norm = train.optimizer_step(model, opt, model(x).sum(), sample_size=4, clip_norm=0.0)
    assert math.isclose(norm, 5.0, rel_tol=1e-6)  # (3, 4) after the division
    assert torch.allclose(model.weight, torch.tensor([[-3.0, -4.0]]))
    norm = train.optimizer_step(model, opt, model(x).sum(), sample_size=4, clip_norm=1.0)
    assert math.isclose(norm, 5.0, rel_tol=1e-6)
    assert torch.allclose(model.weight, torch.tensor([[-3.6, -4.8]]))  # a step of norm 1 in the same direction


def test_oracle_cipher_inserts_silences_as_the_text_and_is_invertible():
    from aitranscribe.models.gan import control

    lexicon = {"a": ["x", "y"], "b": ["z"]}
    seqs = control.oracle_sequences(["a b a", "a c", "b"], lexicon, sil_prob=1.0, seed=0)
    assert seqs == [["<SIL>", "x", "y", "<SIL>", "z", "<SIL>", "x", "y", "<SIL>"], ["<SIL>", "z", "<SIL>"]]
    symbols = ["x", "y", "z", "<SIL>"]
    segments, basis = control.cipher(seqs, symbols, dim=6, scale=2.0, repeat=0.0, seed=0)
    assert torch.allclose(basis @ basis.T, 4.0 * torch.eye(4), atol=1e-5)  # orthogonal rows of norm 2
    assert [len(s) for s in segments] == [9, 3]
    # the right answer: each phone's basis vector to its phone; decoding merges runs and drops <SIL>
    cfg = gan.GanConfig(input_dim=6, vocab=4, generator_kernel=1, generator_dropout=0.0)
    right = gan.Generator(cfg)
    with torch.no_grad():
        right.proj.weight.copy_((basis / 4.0).unsqueeze(-1))
    assert control.decode(right, segments, symbols) == [["x", "y", "z", "x", "y"], ["z"]]
    doubled, _ = control.cipher(seqs, symbols, dim=6, scale=2.0, repeat=1.0, seed=0)
    assert [len(s) for s in doubled] == [18, 6]
    assert control.decode(right, doubled, symbols) == [["x", "y", "z", "x", "y"], ["z"]]


def test_oracle_control_trains_and_records_its_curve():
    from aitranscribe.models.gan import control

    lexicon = {w: list(w) for w in ("ab", "ba", "cab", "abc")}
    rng = np.random.default_rng(0)
    words = ["ab", "ba", "cab", "abc"]
    transcripts = [" ".join(rng.choice(words, 4)) for _ in range(40)]
    seqs = control.oracle_sequences(transcripts, lexicon, 0.25, 0)
    symbols = ["a", "b", "c", "<SIL>"]
    segments, _ = control.cipher(seqs, symbols, dim=8, scale=1.0, repeat=0.0, seed=0)
    text = [torch.tensor([symbols.index(p) for p in s]) for s in seqs]
    refs = [[p for p in s if p != "<SIL>"] for s in seqs[:10]]
    recipe = control.Recipe(updates=6, batch_size=8, eval_every=3, d_reset_every=2)
    generator, history = control.train(segments, segments[:10], refs, text, symbols, recipe, quiet=True)
    assert [e["update"] for e in history] == [0, 3, 6]
    assert all(0.0 <= e["per"] <= 2.0 for e in history) and "d_fake" in history[-1]
    assert generator.proj.weight.shape == (4, 8, 4)  # the default recipe: fairseq's kernel 4


def test_fit_to_labels_teaches_the_uncropped_generator():
    """The initialisation from a teacher's labels: fairseq's T + 1 generator ends up predicting them."""
    torch.manual_seed(0)
    protos = torch.randn(5, 8) * 3
    labels = [torch.randint(0, 5, (n,)) for n in (12, 9, 15, 7) * 8]
    feats = [protos[y] + 0.3 * torch.randn(len(y), 8) for y in labels]
    gen = gan.Generator(CFG)
    train.fit_to_labels(gen, feats, labels, epochs=40, batch_size=8, lr=1e-2)
    gen.eval()
    x, padding = pad(feats)
    out = gen(x, padding)
    assert out.shape[1] == x.shape[1] + 1  # still fairseq's T + 1 outputs
    hits = torch.cat([out[i, :len(y)].argmax(-1) == y for i, y in enumerate(labels)])
    assert hits.float().mean() > 0.95


def test_decipherment_labels_read_an_oracle_cipher_without_labels():
    """Each distinct oracle segment is a token; the decipherment maps tokens to phones from the text alone."""
    from aitranscribe.models.gan import control

    rng = np.random.default_rng(0)
    symbols = ["a", "b", "c", "d", "<SIL>"]
    nxt = {"a": "bc", "b": "cd", "c": "da", "d": "ab"}  # a strongly ordered language
    seqs = []
    for _ in range(300):
        s = [str(rng.choice(list("abcd")))]
        for _ in range(rng.integers(4, 9)):
            s.append(nxt[s[-1]][int(rng.random() < 0.2)])
        seqs.append(["<SIL>", *s, "<SIL>"])
    segments, _ = control.cipher(seqs, symbols, dim=8, scale=3.0, repeat=0.0, seed=1)
    text = [torch.tensor([symbols.index(p) for p in s]) for s in seqs]
    labels, info = control.decipherment_labels(segments, text, len(symbols), restarts=10)
    truth = torch.cat(text)
    assert info["tokens"] == 5
    assert (torch.cat(labels) == truth).float().mean() > 0.95


def test_corrupted_oracle_labels_stay_one_phone_per_token():
    from aitranscribe.models.gan import control

    symbols = ["a", "b", "c", "<SIL>"]
    seqs = [["<SIL>", "a", "b", "c", "a", "<SIL>"], ["b", "c", "b"]] * 20
    segments, _ = control.cipher(seqs, symbols, dim=6, scale=1.0, repeat=0.0, seed=0)
    truth = [torch.tensor([symbols.index(p) for p in s]) for s in seqs]
    assert torch.equal(torch.cat(control.corrupt_labels(segments, truth, 4, 0.0, 0)), torch.cat(truth))
    noisy = torch.cat(control.corrupt_labels(segments, truth, 4, 1.0, 0))
    flat = torch.cat(truth)
    for phone in range(4):  # every token (here: every phone) keeps one label, now a random one
        assert len(set(noisy[flat == phone].tolist())) == 1


def test_metrics_count_the_start_from_the_decipher_method(tmp_path):
    from aitranscribe.models import gan as method

    runs = [{"run": "a", "seconds": 100.0, "updates": 1000}, {"run": "b", "seconds": 50.0, "updates": 1000}]
    plain = method.metrics({"runs": runs, "update": 700})
    assert plain["seconds"] == 150.0 and plain["selected_update"] == 700 and "init_seconds" not in plain
    init = {"decipher_seconds": 1000.0, "label_seconds": 20.0, "fit_seconds": 5.0}
    started = method.metrics({"runs": runs, "update": 0, "init": init})
    assert started["seconds"] == 1175.0 and started["init_seconds"] == 1025.0 and started["selected_update"] == 0
    assert started["seconds_per_1000_updates"] == 75.0
