"""KenLM language models: lmplz training, ARPA validation, binary models, perplexity.

Tests that train a model need KenLM's ``lmplz``/``build_binary`` (built by ``bash run_all.sh`` or
``bash tools/build_kenlm.sh .cache/kenlm``); without them they fail, saying how to build them.
"""
import math
import random
import stat

import pytest

import kenlm

from aitranscribe.text import lm
from aitranscribe.core.errors import BadInputError, KitError

ORDER = 4

# A tiny grammar: S -> NP VP ; NP -> DET [ADJ] N ; VP -> V NP [P NP]
DET = ["the", "a", "every"]
ADJ = ["small", "red", "old"]
NOUN = ["cat", "dog", "bird", "house", "tree"]
VERB = ["sees", "likes", "follows"]
PREP = ["near", "behind"]


def _noun_phrase(rng):
    words = [rng.choice(DET)]
    if rng.random() < 0.4:
        words.append(rng.choice(ADJ))
    return words + [rng.choice(NOUN)]


def grammar_sentences(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = _noun_phrase(rng) + [rng.choice(VERB)] + _noun_phrase(rng)
        if rng.random() < 0.3:
            words += [rng.choice(PREP)] + _noun_phrase(rng)
        out.append(" ".join(words))
    return out


def shuffled(sentences, seed):
    rng = random.Random(seed)
    out = []
    for s in sentences:
        words = s.split()
        rng.shuffle(words)
        out.append(" ".join(words))
    return out


def _require_lmplz():
    try:
        return lm.find_kenlm_bin("lmplz"), lm.find_kenlm_bin("build_binary")
    except KitError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-gram trained on 400 grammar sentences: ARPA, binary, and the training sentences."""
    _require_lmplz()
    d = tmp_path_factory.mktemp("lm")
    sentences = grammar_sentences(400, seed=1)
    text = d / "train.txt"
    text.write_text("\n".join(sentences) + "\n")
    arpa = lm.train_arpa(text, d / "model.arpa", order=ORDER, memory="100M")
    binary = lm.build_binary(arpa, d / "model.bin")
    return {"dir": d, "arpa": arpa, "bin": binary, "sentences": sentences}


# A minimal valid bigram ARPA file, written by hand (needs no lmplz).
TINY_ARPA = (
    "\\data\\\n"
    "ngram 1=4\n"
    "ngram 2=3\n"
    "\n"
    "\\1-grams:\n"
    "-1.0\t<unk>\t0\n"
    "-99\t<s>\t-0.3\n"
    "-0.5\t</s>\t0\n"
    "-0.4\thello\t-0.2\n"
    "\n"
    "\\2-grams:\n"
    "-0.1\t<s> hello\n"
    "-0.2\thello </s>\n"
    "-0.9\thello hello\n"
    "\n"
    "\\end\\\n"
)


def test_check_arpa_accepts_tiny(tmp_path):
    path = tmp_path / "tiny.arpa"
    path.write_text(TINY_ARPA)
    assert lm.check_arpa(path) == {1: 4, 2: 3}
    model = lm.load(path)  # and kenlm agrees it is a model
    assert model.order == 2


@pytest.mark.parametrize("corrupt, message", [
    (lambda t: t.replace("-0.4\thello\t-0.2", "-0.4 hello -0.2"), "tab separated"),
    (lambda t: t.replace("ngram 2=3", "ngram 2=4"), "header declares 4"),
    (lambda t: t.replace("-0.2\thello </s>", "nan\thello </s>"), "not a finite number"),
    (lambda t: t.replace("-0.9\thello hello", "-inf\thello hello"), "not a finite number"),
    (lambda t: t.replace("-0.1\t<s> hello", "-0.1\t<s>"), "words"),
    (lambda t: t.replace("-0.9\thello hello", "-0.9\thello hello\t-0.1"), "highest-order"),
    (lambda t: t.replace("\\end\\\n", ""), "without \\end\\"),
    (lambda t: t.replace("\\2-grams:", "\\3-grams:"), "expected '\\\\2-grams:'"),
    (lambda t: t.replace("\\data\\", "data"), "not an ARPA file"),
    (lambda t: t.replace("-0.5\t</s>\t0\n", "").replace("ngram 1=4", "ngram 1=3"), "lack </s>"),
])
def test_check_arpa_rejects_corruptions(tmp_path, corrupt, message):
    path = tmp_path / "bad.arpa"
    text = corrupt(TINY_ARPA)
    assert text != TINY_ARPA
    path.write_text(text)
    with pytest.raises(BadInputError, match=".*" + message.replace("\\", "\\\\").replace("'", ".")):
        lm.check_arpa(path)


def test_check_arpa_missing_file(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        lm.check_arpa(tmp_path / "nope.arpa")


def test_load_rejects_missing_and_invalid(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        lm.load(tmp_path / "nope.bin")
    junk = tmp_path / "junk.arpa"
    junk.write_text("just some words\n")
    with pytest.raises(BadInputError, match="not a valid KenLM language model"):
        lm.load(junk)


def test_find_kenlm_bin_env_override(tmp_path, monkeypatch):
    fake = tmp_path / "lmplz"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(lm.BIN_ENV, str(tmp_path))
    assert lm.find_kenlm_bin("lmplz") == fake


def test_find_kenlm_bin_missing_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setenv(lm.BIN_ENV, str(tmp_path / "empty"))
    monkeypatch.setattr(lm, "CACHE_BIN_DIR", tmp_path / "no-cache")
    monkeypatch.setenv("PATH", str(tmp_path / "no-path"))
    with pytest.raises(KitError, match="run_all.sh"):
        lm.find_kenlm_bin("lmplz")


def test_perplexity_convention_without_kenlm_tools():
    class Fixed:  # every token, </s> included, has log10 p = -1
        def score(self, sentence, bos=True, eos=True):
            return -1.0 * (len(sentence.split()) + int(eos))

    assert lm.perplexity(Fixed(), ["a b c", "d"]) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        lm.perplexity(Fixed(), [])


def test_train_arpa_is_valid(trained):
    counts = lm.check_arpa(trained["arpa"])
    assert sorted(counts) == list(range(1, ORDER + 1))
    assert all(n > 0 for n in counts.values())
    vocab = {w for s in trained["sentences"] for w in s.split()}
    assert counts[1] == len(vocab) + 3  # + <unk>, <s>, </s>
    leftovers = [p.name for p in trained["dir"].iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_arpa_and_binary_load_and_agree(trained):
    m_arpa = lm.load(trained["arpa"])
    m_bin = lm.load(trained["bin"])
    assert isinstance(m_arpa, kenlm.Model) and isinstance(m_bin, kenlm.Model)
    assert m_arpa.order == m_bin.order == ORDER
    for s in grammar_sentences(20, seed=7) + shuffled(grammar_sentences(20, seed=8), seed=9):
        assert m_bin.score(s) == pytest.approx(m_arpa.score(s), abs=1e-4)


@pytest.mark.parametrize("which", ["arpa", "bin"])
def test_perplexity_lower_in_grammar(trained, which):
    model = lm.load(trained[which])
    held_out = grammar_sentences(200, seed=2)
    scrambled = shuffled(held_out, seed=3)
    ppl_in = lm.perplexity(model, held_out)
    ppl_out = lm.perplexity(model, scrambled)
    assert math.isfinite(ppl_in) and math.isfinite(ppl_out)
    assert 1.0 < ppl_in < 10.0, ppl_in  # ~20 words, but the grammar constrains each step
    assert ppl_out > 3 * ppl_in, (ppl_in, ppl_out)


def test_perplexity_matches_kenlm_for_one_sentence(trained):
    model = lm.load(trained["arpa"])
    s = "the small cat sees a tree near every house"
    assert lm.perplexity(model, [s]) == pytest.approx(model.perplexity(s), rel=1e-9)


def test_train_arpa_prune_keeps_file_valid(trained):
    out = lm.train_arpa(trained["dir"] / "train.txt", trained["dir"] / "pruned" / "p.arpa",
                        order=3, memory="100M", prune=[0, 1, 1])
    counts = lm.check_arpa(out)
    assert sorted(counts) == [1, 2, 3]


def test_train_arpa_failure_raises_with_stderr(tmp_path, trained):
    # Artificial data without --discount_fallback: lmplz cannot estimate discounts and exits non-zero.
    text = tmp_path / "tiny.txt"
    text.write_text("a b c\n" * 5)
    out = tmp_path / "fail.arpa"
    with pytest.raises(KitError, match="(?s)lmplz.*failed.*discount"):
        lm.train_arpa(text, out, order=3, memory="100M", discount_fallback=False)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.txt"]


def test_train_arpa_rejects_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        lm.train_arpa(tmp_path / "missing.txt", tmp_path / "x.arpa")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(BadInputError, match="empty"):
        lm.train_arpa(empty, tmp_path / "x.arpa")
    with pytest.raises(ValueError):
        lm.train_arpa(empty, tmp_path / "x.arpa", order=7)
