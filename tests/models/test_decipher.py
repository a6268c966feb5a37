"""Decipherment and self-training (stage 05, method decipher): segments, objective, EM, HMM, frame model."""
import numpy as np
import pytest
import torch

from aitranscribe.core.errors import KitError
from aitranscribe.decoding.phones import collapse
from aitranscribe.models.batching import pad
from aitranscribe.models.decipher import decipherment as decipher
from aitranscribe.models.decipher import selftrain
from aitranscribe.models.decipher.frame_classifier import FrameClassifier
from aitranscribe.models.decipher.hmm import PhoneHMM
from aitranscribe.models.decipher.model import FrameModel
from aitranscribe.text.phones import phone_lines


def _markov_lines(n_phones: int, n_lines: int, seed: int) -> list[np.ndarray]:
    """Phone lines from a random, peaked bigram chain without self-transitions."""
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.full(n_phones, 0.3), n_phones)
    np.fill_diagonal(trans, 0)
    trans /= trans.sum(1, keepdims=True)
    lines = []
    for _ in range(n_lines):
        seq = [rng.integers(n_phones)]
        for _ in range(rng.integers(8, 20)):
            seq.append(rng.choice(n_phones, p=trans[seq[-1]]))
        lines.append(np.array(seq))
    return lines


def test_group_segments_cut_where_the_group_changes_into_a_long_enough_run():
    groups = np.array([0, 0, 0, 1, 0, 0, 2, 2, 2])
    assert decipher.group_segments(groups, 1).tolist() == [0, 3, 4, 6, 9]
    assert decipher.group_segments(groups, 2).tolist() == [0, 4, 6, 9]  # the 1-frame run joins the segment before
    assert decipher.run_bounds(groups).tolist() == [0, 3, 4, 6, 9]
    assert decipher.majority(np.array([1, 1, 2, 3, 3, 3]), np.array([0, 3, 6])).tolist() == [1, 3]


def test_phone_lines_merge_runs_and_name_the_file_of_an_unknown_symbol(tmp_path):
    path = tmp_path / "text.phn"
    path.write_text("a a b <SIL>\nb a\n", encoding="utf-8")
    lines = phone_lines(path, ["a", "b", "<SIL>"])
    assert [line.tolist() for line in lines] == [[0, 1, 2], [1, 0]]
    path.write_text("a x\n", encoding="utf-8")
    with pytest.raises(KitError, match="text.phn: line 1 has the symbol 'x'"):
        phone_lines(path, ["a", "b"])


def test_the_triples_objective_prefers_the_true_cipher_and_em_recovers_it():
    n = 6
    text = _markov_lines(n, 3000, seed=0)
    audio = _markov_lines(n, 1500, seed=0)[::-1]  # same language, other sentences
    rng = np.random.default_rng(1)
    key = rng.permutation(n)  # token of each phone
    # each phone gives one or two tokens (a token continues its phone with chance ~0.2)
    tokens = [key[np.repeat(line, 1 + (rng.random(len(line)) < 0.25))] for line in audio]
    model = decipher.SkipGramModel(tokens, n, text, n, split=0.2)
    truth = torch.full((n, n), 1e-3, dtype=torch.float64)
    truth[np.arange(n), key] = 1.0
    truth /= truth.sum(1, keepdim=True)
    wrong = truth[torch.tensor(np.roll(np.arange(n), 1))]
    assert float(model.loglik(truth)) > float(model.loglik(wrong))
    tables = decipher.restarts(model, n, n, n_restarts=6, iters=100, refine=2, refine_iters=100, seed=0, quiet=True)
    _, table = decipher.best_table(model, tables)
    assert (table.argmax(1).numpy() == key).mean() >= 5 / 6


def test_em_keeps_rows_distributions_and_never_lowers_the_objective():
    n = 5
    lines = _markov_lines(n, 400, seed=2)
    model = decipher.SkipGramModel(lines, n, lines, n, split=0.0)
    start = decipher.random_emission(n, n, seed=0)
    after = decipher.em(model.loglik, start, 20)
    assert torch.allclose(after.sum(1), torch.ones(n, dtype=torch.float64))
    assert float(model.loglik(after)) >= float(model.loglik(start)) - 1e-9
    # a stack of tables goes through EM as each table alone would, on either objective
    stack = torch.stack([decipher.random_emission(n, n, seed=s) for s in range(3)])
    for objective in (model.pair_loglik, model.loglik):
        together = decipher.em(objective, stack, 5)
        for table, alone in zip(together, stack):
            assert torch.allclose(table, decipher.em(objective, alone, 5), atol=1e-12)


def test_viterbi_follows_strong_scores_and_respects_lengths():
    n = 3
    hmm = PhoneHMM(np.full(n, 1 / 3), np.full(n, 1 / 3), (np.ones((n, n)) - np.eye(n)) / 2, stay=0.5)
    wanted = [np.array([0, 0, 2, 1]), np.array([1, 2])]
    scores = torch.full((2, 4, n), -10.0, dtype=torch.float64)
    for i, path in enumerate(wanted):
        scores[i, np.arange(len(path)), path] = 0.0
    paths = hmm.paths(scores, [4, 2])
    assert [p.tolist() for p in paths] == [w.tolist() for w in wanted]
    table = torch.eye(n, dtype=torch.float64) * 0.9 + 0.1 / n
    assert hmm.token_paths(table, [np.array([2, 2, 0])])[0].tolist() == [2, 2, 0]


def test_frame_classifier_is_padding_invariant_and_its_model_round_trips(tmp_path):
    torch.manual_seed(0)
    net = FrameClassifier(input_dim=4, vocab=3, hidden=8).eval()
    long, short = torch.randn(7, 4), torch.randn(3, 4)
    x, padding = pad([long.numpy(), short.numpy()])
    with torch.no_grad():
        batched = net(x, padding)
        alone = net(short[None])
    assert batched.shape == (2, 7, 3)
    assert torch.allclose(batched[1, :3], alone[0], atol=1e-6)
    assert net.linear_form() is net
    hmm = PhoneHMM(np.full(3, 1 / 3), np.full(3, 1 / 3), (np.ones((3, 3)) - np.eye(3)) / 2, 0.8)
    model = FrameModel(net, np.log(np.array([0.5, 0.3, 0.2])), hmm, ["a", "b", "<SIL>"])
    model.save(tmp_path / "model.pt")
    loaded = FrameModel.load(tmp_path / "model.pt")
    assert [p.tolist() for p in loaded.paths(batched, padding)] == [p.tolist() for p in model.paths(batched, padding)]
    torch.save({"generator": {}}, tmp_path / "gan.pt")
    with pytest.raises(KitError, match="gan.pt: not a frame-classifier checkpoint"):
        FrameModel.load(tmp_path / "gan.pt")


def test_classifier_learns_frame_labels_and_the_lowest_perplexity_round_is_selected():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 6)) * 3
    labels = [rng.integers(0, 3, 40) for _ in range(30)]
    frames = [(means[y] + rng.normal(size=(len(y), 6))).astype(np.float32) for y in labels]
    net = selftrain.train_classifier(frames, labels, 3, epochs=10, hidden=16, seed=0, batch=4, quiet=True)
    x, padding = pad(frames)
    with torch.no_grad():
        predicted = net(x, padding).argmax(-1)
    accuracy = np.mean([(predicted[i, :len(y)].numpy() == y).mean() for i, y in enumerate(labels)])
    assert accuracy > 0.9
    assert collapse(np.array([2, 0, 0, 1, 2, 1]), ["a", "b", "<SIL>"]) == ["a", "b", "b"]
    rounds = [{"round": 1, "phone_lm_ppl_train": 70.0}, {"round": 2, "phone_lm_ppl_train": 55.0},
              {"round": 3, "phone_lm_ppl_train": 58.0}]
    assert selftrain.select_round(rounds)["round"] == 2
    with pytest.raises(KitError):
        selftrain.select_round([])


def test_a_warm_started_classifier_starts_from_a_copy_of_the_weights_it_is_given():
    rng = np.random.default_rng(1)
    labels = [rng.integers(0, 3, 30) for _ in range(12)]
    frames = [rng.normal(size=(len(y), 6)).astype(np.float32) + y[:, None] for y in labels]
    first = selftrain.train_classifier(frames, labels, 3, epochs=2, hidden=16, seed=0, batch=4, quiet=True)
    before = {k: v.clone() for k, v in first.state_dict().items()}
    copy = selftrain.train_classifier(frames, labels, 3, epochs=0, hidden=16, seed=5, batch=4, quiet=True, init=first)
    assert all(torch.equal(copy.state_dict()[k], v) for k, v in before.items())
    going_on = selftrain.train_classifier(frames, labels, 3, epochs=1, hidden=16, seed=5, batch=4, quiet=True,
                                          init=first)
    assert not torch.equal(going_on.hidden_layer.weight, before["hidden_layer.weight"])
    assert all(torch.equal(first.state_dict()[k], v) for k, v in before.items())  # the given network is untouched
    fresh = selftrain.train_classifier(frames, labels, 3, epochs=0, hidden=16, seed=5, batch=4, quiet=True)
    assert not torch.equal(fresh.hidden_layer.weight, before["hidden_layer.weight"])
    half = selftrain.train_classifier(frames, labels, 3, epochs=0, hidden=16, seed=5, batch=4, quiet=True,
                                      init=first, shrink=0.5)  # shrink and perturb: half of each start
    for k, v in half.state_dict().items():
        assert torch.allclose(v, 0.5 * before[k] + 0.5 * fresh.state_dict()[k]), k


def test_input_dropout_trains_on_noisy_inputs_and_at_zero_changes_nothing():
    """A noisy student's input dropout: off (0), the weights are those of training without the option, bit for bit;
    on, other weights from the same seed, and a model that still learns the labels (its inputs are clean at use)."""
    rng = np.random.default_rng(2)
    labels = [rng.integers(0, 3, 40) for _ in range(16)]
    frames = [(rng.normal(size=(len(y), 6)) + 2 * y[:, None]).astype(np.float32) for y in labels]
    plain = selftrain.train_classifier(frames, labels, 3, epochs=30, hidden=16, seed=0, batch=4, quiet=True)
    off = selftrain.train_classifier(frames, labels, 3, epochs=30, hidden=16, seed=0, batch=4, quiet=True,
                                     input_dropout=0.0)
    assert all(torch.equal(off.state_dict()[k], v) for k, v in plain.state_dict().items())
    noisy = selftrain.train_classifier(frames, labels, 3, epochs=30, hidden=16, seed=0, batch=4, quiet=True,
                                       input_dropout=0.3)
    assert not torch.equal(noisy.hidden_layer.weight, plain.hidden_layer.weight)
    assert not noisy.training  # evaluation mode: no dropout when it is used
    with torch.no_grad():
        x = torch.from_numpy(np.concatenate(frames))
        predicted = noisy.forward_packed(x, [len(f) for f in frames]).argmax(-1).numpy()
        again = noisy.forward_packed(x, [len(f) for f in frames]).argmax(-1).numpy()
    assert np.array_equal(predicted, again)
    assert np.mean(predicted == np.concatenate(labels)) > 0.8


def test_every_word_round_setting_of_a_profile_reaches_the_word_rounds():
    """Stage 05 hands a continued chain's word rounds the method settings only they read (a setting dropped on the
    way would change the stage's hash and nothing else)."""
    from aitranscribe.models import decipher as method

    s = {**{k: v.default for k, v in method.PARAMS.items()}, "word_warm_start": True, "word_epochs": 2,
         "word_warm_shrink": 0.5, "word_input_dropout": 0.2}
    got = method.word_settings({"epochs": 3, "hidden": 256}, s, seed=7)
    assert got == {"epochs": 3, "hidden": 256, "seed": 7, "word_warm_start": True, "word_epochs": 2,
                   "word_warm_shrink": 0.5, "word_input_dropout": 0.2}
    read = {k for k in method.PARAMS if k.startswith("word_") and k not in ("word_rounds", "word_rounds_min",
                                                                             "word_scales")}
    assert read == set(method.WORD_SETTINGS)  # a new word-round setting must be handed on too


def _viterbi_reference(scores, start, end, log_a):
    """Textbook Viterbi over one sequence, first maximum on ties."""
    T, S = scores.shape
    delta, back = np.log(start) + scores[0], np.zeros((T, S), dtype=int)
    for t in range(1, T):
        cand = delta[:, None] + log_a
        back[t] = cand.argmax(0)
        delta = cand.max(0) + scores[t]
    path = [int((delta + np.log(end)).argmax())]
    for t in range(T - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def test_compiled_viterbi_equals_the_textbook_one_on_padded_batches():
    rng = np.random.default_rng(3)
    n = 7
    between = rng.dirichlet(np.ones(n), n)
    np.fill_diagonal(between, 0)
    between /= between.sum(1, keepdims=True)
    hmm = PhoneHMM(rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n)), between, stay=0.8)
    lengths = [40, 1, 17]
    scores = torch.from_numpy(rng.normal(0, 2, (3, 40, n)))
    scores[1, 1:] = 99.0  # padding must not matter
    log_a = hmm.log_transitions().numpy()
    for path, length, s in zip(hmm.paths(scores, lengths), lengths, scores.numpy()):
        assert path.tolist() == _viterbi_reference(s[:length], hmm.start.numpy(), hmm.end.numpy(), log_a)


def test_gram_counts_count_symbols_offsets_apart_inside_each_sequence():
    seqs = [np.array([0, 1, 2, 0]), np.array([2]), np.array([1, 1, 0])]
    pairs = decipher.gram_counts(seqs, (1,), 3)
    expected = np.zeros((3, 3))
    for q in seqs:
        for a, b in zip(q[:-1], q[1:]):
            expected[a, b] += 1
    assert (pairs == expected).all()
    triples = decipher.gram_counts(seqs, (1, 2), 3)
    assert triples.sum() == 1 and triples[0, 1, 0] == 1  # only 0 _1_ _ 0 fits inside a sequence
    assert decipher.gram_counts([np.array([1])], (2,), 3).sum() == 0


@pytest.mark.parametrize("kernel, dilation", [(5, 1), (3, 2), (3, 4), (1, 1)])
def test_the_input_layers_windows_are_the_indexed_windows_bit_for_bit(kernel, dilation):
    """The strided gather of the input layer's windows (no gradient through it) gives exactly the rows that indexing
    each window's frames gives (zeros beyond an utterance's ends), with utterances shorter than a window."""
    from aitranscribe.models.decipher.frame_classifier import _packed_windows

    lengths = torch.tensor([7, 1, 3, 12, 2])
    x = torch.randn(int(lengths.sum()), 4)
    position = torch.arange(len(x)) - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
    length = torch.repeat_interleave(lengths, lengths)
    offsets = dilation * (torch.arange(kernel) - kernel // 2)
    inside = (position[:, None] + offsets >= 0) & (position[:, None] + offsets < length[:, None])
    idx = torch.where(inside, torch.arange(len(x))[:, None] + offsets, len(x))
    expected = torch.cat([x, x.new_zeros(1, 4)])[idx].reshape(len(x), -1)
    assert torch.equal(_packed_windows(x, lengths, kernel, dilation), expected)
    assert _packed_windows(x[:0], lengths[:0], kernel, dilation).shape == (0, kernel * 4)


@pytest.mark.parametrize("layers", [None, [[5, 1], [3, 2], [3, 3]]])
def test_packed_frames_give_the_padded_logits_scores_and_paths(layers):
    torch.manual_seed(0)
    net = FrameClassifier(input_dim=4, vocab=3, hidden=8, layers=layers).eval()
    utterances = [np.random.default_rng(i).normal(size=(n, 4)).astype(np.float32) for i, n in enumerate((9, 2, 5))]
    x, padding = pad(utterances)
    with torch.no_grad():
        padded = net(x, padding)
        packed = net.forward_packed(torch.from_numpy(np.concatenate(utterances)), [9, 2, 5])
    assert torch.allclose(packed, padded[~padding], atol=1e-5)
    hmm = PhoneHMM(np.full(3, 1 / 3), np.full(3, 1 / 3), (np.ones((3, 3)) - np.eye(3)) / 2, 0.6)
    model = FrameModel(net, np.log(np.array([0.5, 0.3, 0.2])), hmm, ["a", "b", "<SIL>"])
    wanted = model.step_scores(padded, padding)
    for got, want in zip(model.utterance_scores(utterances, batch_size=2), wanted):
        assert np.allclose(got, want, atol=1e-5)
    assert [p.tolist() for p in model.frame_paths(utterances, batch_size=2)] == \
        [p.tolist() for p in model.paths(padded, padding)]


def test_packed_training_step_takes_the_padded_steps_loss():
    from aitranscribe.models.batching import IGNORE, pad_ids
    from aitranscribe.models.training import cross_entropy_step, packed_step
    utterances = [np.random.default_rng(i).normal(size=(n, 4)).astype(np.float32) for i, n in enumerate((6, 3))]
    labels = [np.array([0, 1, 1, 2, 2, 0]), np.array([2, 2, 1])]
    losses = []
    for packed in (True, False):
        torch.manual_seed(0)
        net = FrameClassifier(input_dim=4, vocab=3, hidden=8, dropout=0.0)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        if packed:
            losses.append([packed_step(net, opt, utterances, labels) for _ in range(2)])
        else:
            x, padding = pad(utterances)
            targets, _ = pad_ids(labels, fill=IGNORE)
            losses.append([cross_entropy_step(net, opt, x, padding, targets) for _ in range(2)])
    assert np.allclose(losses[0], losses[1], atol=1e-6)
    assert losses[0][1] < losses[0][0]


def test_bf16_training_learns_the_labels_and_auto_precision_follows_the_cpu_flags():
    from aitranscribe.core import machine
    from aitranscribe.models.decipher import precision
    from aitranscribe.models.decipher.selftrain import train_classifier
    rng = np.random.default_rng(0)
    labels = [rng.integers(0, 3, size=n) for n in (40, 25, 30)]
    frames = [(np.eye(3)[y] * 3 + rng.normal(scale=0.3, size=(len(y), 3))).astype(np.float32) for y in labels]
    net = train_classifier(frames, labels, 3, epochs=150, hidden=16, seed=0, batch=2, quiet=True, bf16=True)
    with torch.no_grad():
        got = net.forward_packed(torch.from_numpy(np.concatenate(frames)), [40, 25, 30]).argmax(-1).numpy()
    assert (got == np.concatenate(labels)).mean() > 0.9
    assert next(net.parameters()).dtype == torch.float32
    assert machine.native_bf16(["avx512f", "avx512_bf16"]) and machine.native_bf16(["amx_bf16"])
    assert not machine.native_bf16(["avx512f", "avx2"])
    assert precision({"precision": "fp32"}) == "fp32"
    assert precision({"precision": "auto"}) == ("bf16" if machine.native_bf16() else "fp32")


@pytest.mark.parametrize("layers,context", [(None, 2), ([[3, 2]], 1), ([[5, 1], [3, 2]], 2), ([[7, 3]], 3)])
def test_folded_classifier_over_stacked_frames_gives_the_classifiers_logits(layers, context):
    from aitranscribe.features.mfcc import stack
    from aitranscribe.models.decipher.frame_classifier import StackFolded

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    dim = 3
    net = FrameClassifier(input_dim=dim * (2 * context + 1), vocab=5, hidden=16, layers=layers).eval()
    folded = StackFolded.from_classifier(net, context)
    lengths = [1, 2, 3, 5, 9, 40]  # utterances shorter than the window, and long ones
    utterances = [stack(rng.normal(size=(n, dim)).astype(np.float32), context) for n in lengths]
    x, padding = (torch.as_tensor(a) for a in pad(utterances))
    with torch.no_grad():
        want = net(x, padding)
        assert torch.allclose(folded(x, padding)[~padding], want[~padding], atol=1e-5)
        for u in utterances:  # one utterance at a time, no padding
            u = torch.as_tensor(u)[None]
            assert torch.allclose(folded(u), net(u), atol=1e-5)
        if layers is None or len(layers) == 1:
            packed = torch.as_tensor(np.concatenate(utterances))
            assert torch.allclose(folded.forward_packed(packed, lengths), net.forward_packed(packed, lengths), atol=1e-5)
    # the first layer reads 2 (reach + context) + 1 distinct frames instead of kernel stacked ones
    kernel, dilation = net.layers[0]
    assert folded.folded.in_features == dim * (2 * (dilation * (kernel // 2) + context) + 1)
    assert folded.flops(1, 100) < net.flops(1, 100) or kernel * (2 * context + 1) <= 2 * (dilation * (kernel // 2) + context) + 1


def test_folded_classifier_runs_in_every_stock_backend_with_padding():
    from aitranscribe import backends
    from aitranscribe.features.mfcc import stack
    from aitranscribe.models.decipher.frame_classifier import StackFolded

    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    net = FrameClassifier(input_dim=15, vocab=5, hidden=16).eval()
    utterances = [stack(rng.normal(size=(n, 3)).astype(np.float32), 2) for n in (30, 7, 12, 3)]
    x, padding = (torch.as_tensor(a) for a in pad(utterances))
    with torch.no_grad():
        want = net(x, padding)
    folded = StackFolded.from_classifier(net, 2)
    for name in ("eager", "openvino"):  # openvino converts a module of one input: lengths ride in the keep column
        got = torch.as_tensor(backends.make(name, folded, [(x, padding)])(x, padding))
        assert torch.allclose(got[~padding], want[~padding], atol=1e-4), name


def test_model_folds_its_classifier_only_over_stacked_mfcc_frames(tmp_path):
    from aitranscribe.core.stage import mark_done
    from aitranscribe.models.decipher.frame_classifier import StackFolded

    hmm = PhoneHMM(np.full(3, 1 / 3), np.full(3, 1 / 3), (np.ones((3, 3)) - np.eye(3)) / 2, 0.6)
    model = FrameModel(FrameClassifier(input_dim=15, vocab=3, hidden=8), np.log(np.full(3, 1 / 3)), hmm, ["a", "b", "c"])
    for name, params, folded in [("stacked", {"kind": "mfcc", "mfcc_context": 2}, True),
                                 ("single", {"kind": "mfcc", "mfcc_context": 0}, False),
                                 ("w2v2", {"kind": "wav2vec2", "mfcc_context": 2}, False)]:
        mark_done(tmp_path / name, "h", params)
        assert isinstance(model.inference_net({"dir": str(tmp_path / name)}), StackFolded) == folded, name


def test_training_seed_shifts_every_chain_apart_from_the_corpus_seed():
    from aitranscribe.models import decipher as method

    s = {"seeds": [0, 1, 2], "training_seed": 0}
    assert method.chain_seeds(s) == [0, 1, 2]  # the default keeps the chains of earlier runs
    shifted = method.chain_seeds({**s, "training_seed": 2})
    assert shifted == [2000, 2001, 2002]
    # a chain draws its restarts and classifiers from seed .. seed + ~100: two training seeds never share a draw
    assert min(shifted) - max(method.chain_seeds({**s, "training_seed": 1})) > 100


def _rounds(*ppl):
    return [{"round": k + 1, "phone_lm_ppl_train": v} for k, v in enumerate(ppl)]


def test_stalled_after_patience_rounds_without_a_lower_perplexity():
    assert not selftrain._stalled(_rounds(50, 40, 45), 2)  # one round without a better one: not yet
    assert selftrain._stalled(_rounds(50, 40, 45, 41), 2)  # two: stop
    assert selftrain._stalled(_rounds(50, 40, 45, 40), 2)  # as good is not better
    assert not selftrain._stalled(_rounds(50, 40, 45, 39.9), 2)  # a new low in the last two: go on
    assert not selftrain._stalled(_rounds(50, 40), 2)  # fewer rounds than patience + 1: never
    assert not selftrain._stalled(_rounds(50, 60, 70, 80, 90), 0)  # patience 0: never stop
    assert selftrain._stalled(_rounds(30, 31), 1)


def test_word_rounds_may_pass_a_short_perplexity_rise_before_the_stop_rule_judges():
    start, *words = _rounds(40, 46, 44, 38, 35)  # the first word labels raise the perplexity, then it falls
    s = {"patience": 2, "word_rounds_min": 0}
    assert selftrain._words_stalled(start, words[:2], s)  # judged at once: stopped before the fall
    s["word_rounds_min"] = 3
    assert not selftrain._words_stalled(start, words[:2], s)
    assert not selftrain._words_stalled(start, words[:3], s) and not selftrain._words_stalled(start, words, s)
    assert selftrain._words_stalled(start, _rounds(40, 46, 44, 45)[1:], s)  # no new low after the minimum: stop


def test_screening_time_counts_chains_run_side_by_side_once():
    from aitranscribe.models import decipher as method

    assert method.makespan([100, 100, 100], 1) == 300  # one after another
    assert method.makespan([100, 100, 100], 3) == 100  # all at once
    assert method.makespan([100, 80, 60, 90], 2) == 190  # 100 + 90 on one worker, 80 + 60 on the other


def test_training_time_is_split_into_its_steps():
    from aitranscribe.models import decipher as method

    def chain(decipher, rounds):
        return {"decipherment": {"seconds": decipher}, "rounds": rounds}

    phone = [{"round": r, "seconds": 10.0} for r in (1, 2, 3, 4, 5)]
    words = [{"round": r, "seconds": 20.0, "labels": "words", "label_seconds": 5.0} for r in (6, 7)]
    chains = {0: chain(50.0, phone[:3]), 1: chain(40.0, phone + words), 2: chain(60.0, phone[:3])}
    steps = method.seconds_by_step(chains, continued=[1], screen=3, at_once=2, scale_seconds=7.0,
                                   ensemble_seconds=4.0)
    # screening: 80, 70, 90 on two workers -> 70 + 90 on the second; later: rounds 4-5 phone, 6-7 words
    assert steps == {"screening": 160.0, "start_ensemble": 4.0, "phone_rounds": 20.0, "word_scale": 7.0,
                     "word_rounds": 40.0, "word_labels": 10.0}
    metrics = method.metrics({"rounds": [], "round": 7, "seed": 1, "decipherment": {}, "seconds": 237.0,
                              "seconds_by_step": steps})
    assert metrics["seconds_screening"] == 160.0 and metrics["seconds_word_labels"] == 10.0


def test_the_triples_model_at_the_observed_cells_is_the_full_models_value_there():
    rng = np.random.default_rng(3)
    P, K = 5, 7
    joint = torch.tensor(rng.dirichlet(np.ones(P ** 3)).reshape(P, P, P), dtype=torch.float32)
    emit = torch.tensor(rng.dirichlet(np.ones(K), size=(2, P)), dtype=torch.float32)  # a stack of two tables
    counts = np.zeros((K, K, K))
    counts[tuple(rng.integers(0, K, (3, 40)))] = 1
    cells, weights = decipher.observed_triples(counts)
    assert cells.shape == (3, int((counts > 0).sum())) and float(weights.sum()) == pytest.approx(1.0)
    full = torch.einsum("pqr,spa,sqb,src->sabc", joint, emit, emit, emit)  # the definition, all K^3 cells
    assert torch.allclose(decipher.triple_model(joint, emit, cells), full[:, cells[0], cells[1], cells[2]], rtol=1e-5)


def test_a_setting_under_trial_at_its_neutral_value_leaves_stage_05s_outputs_where_they_were():
    """A setting under trial at its neutral value (``both_starts: false``, ``polish_rounds: 0``, ...) runs the method
    as before the setting existed: stage 05's directory (its parameter hash) is the one without the setting; on, it
    is another."""
    from aitranscribe.core import registry
    from aitranscribe.core.params import load_profile
    from aitranscribe.core.paths import REPO_ROOT
    from aitranscribe.models import decipher as method
    from aitranscribe.stages import train

    p = load_profile(REPO_ROOT / "params" / "ci.yaml", {s.key: s.load().PARAMS for s in registry.STAGES})["train"]
    records = {"features": {"params_hash": "f"}, "text": {"params_hash": "t"}}
    assert set(method.NEUTRAL) == {"both_starts", "word_warm_start", "word_epochs", "polish_rounds", "polish_hidden",
                                   "polish_epochs", "word_input_dropout", "word_warm_shrink", "voice_subset"}
    assert all(p["decipher"][k] == v for k, v in method.NEUTRAL.items())
    before = {**p, "decipher": {k: v for k, v in p["decipher"].items() if k not in method.NEUTRAL}}
    assert train.STAGE.locate(p, records) == train.STAGE.locate(before, records)
    for changed in ({"both_starts": True}, {"word_warm_start": True}, {"word_epochs": 2}, {"polish_rounds": 2},
                    {"word_input_dropout": 0.1}, {"word_warm_shrink": 0.5}, {"voice_subset": 0.4}):
        on = {**p, "decipher": {**p["decipher"], **changed}}
        assert train.STAGE.locate(on, records)[1] != train.STAGE.locate(p, records)[1], changed


def test_a_chains_word_scale_is_chosen_again_for_another_word_graph(tmp_path, monkeypatch):
    """The acoustic scale a chain's word rounds use is cached per round and per stage-04 output: chain rounds copied
    next to another word graph (e.g. a pruned word LM) get a scale chosen through that graph, not the old one."""
    from aitranscribe.models import decipher as method
    from aitranscribe.models.decipher import selftrain

    tuned = []
    monkeypatch.setattr(method, "_word_scale", lambda checkpoint, frames, text, s: (tuned.append(text["dir"]) or
                                                                                  (0.5, [])))
    monkeypatch.setattr(selftrain, "run_word_rounds", lambda *a, **k: [])
    s = {"word_scales": [0.3, 0.5], "polish_rounds": 0, **{k: None for k in method.WORD_SETTINGS}}
    chain = {"rounds": [{"round": 1, "phone_lm_ppl_train": 40.0}]}
    inputs = {"frames": {"valid": []}, "lines": [], "phone_lm": None, "refs_valid": None}
    for text_dir in ("sil0.25-aaaa", "sil0.25-aaaa", "sil0.25-bbbb"):
        method._continue_with_words(tmp_path, dict(chain), 0, inputs, [], {}, {"dir": f"/x/{text_dir}",
                                                                             "word_graph": None}, s)
    assert tuned == ["/x/sil0.25-aaaa", "/x/sil0.25-bbbb"]
