"""Decoding graphs (kaldifst, kaldilm, kaldi-decoder): words and their times from frame-level phone scores."""
import numpy as np
import pytest

from aitranscribe.core.errors import KitError
from aitranscribe.decoding import graph
from aitranscribe.text import lm

SYMBOLS = ["a", "e", "i", "o", "u", "k", "t", "p", "s", "m", "n", "l", "r", "w", "d", "<SIL>"]
LEXICON = {"i": ["a", "i"], "want": ["w", "o", "n", "t"], "to": ["t", "u"], "two": ["t", "u"], "eat": ["i", "t"],
           "tea": ["t", "i"], "team": ["t", "i", "m"], "pasta": ["p", "a", "s", "t", "a"], "and": ["a", "n", "d"],
           "drink": ["d", "r", "i", "n", "k"], "milk": ["m", "i", "l", "k"], "we": ["w", "i"],
           "need": ["n", "i", "d"], "more": ["m", "o", "r"], "red": ["r", "e", "d"]}
TEXT = ["i want to eat pasta", "we need two red apples", "i want to drink milk", "we need more tea and milk",
        "the team wants more pasta", "i need two teas", "we want to eat", "two red team"]


def test_disambiguation_marks_shared_pronunciations_and_prefixes():
    marked, largest = graph.with_disambiguation([("to", ["t", "u"]), ("two", ["t", "u"]), ("tea", ["t", "i"]),
                                                 ("team", ["t", "i", "m"]), ("we", ["w", "i"])])
    assert dict(marked) == {"to": ["t", "u", "#1"], "two": ["t", "u", "#2"], "tea": ["t", "i", "#1"],
                            "team": ["t", "i", "m"], "we": ["w", "i"]}
    assert largest == 2


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("graph")
    (tmp / "text.txt").write_text("".join(s + "\n" for s in TEXT))
    arpa = lm.train_arpa(tmp / "text.txt", tmp / "lm.arpa", order=3, memory="100M")
    sizes = graph.build_graph(LEXICON, arpa, SYMBOLS, tmp / "LG", sil_prob=0.3)
    assert sizes["words"] == len(LEXICON) and sizes["arcs"] > 0
    return tmp / "LG"


def _scores(phones: list[str], rng, frames=(3, 6), margin=4.0) -> tuple[np.ndarray, list[int]]:
    """Log-likelihoods of a phone sequence, each phone lasting a few frames, the right phone ahead by ``margin``."""
    labels = [SYMBOLS.index(p) for p in phones for _ in range(rng.integers(*frames))]
    x = rng.normal(0, 1, (len(labels), len(SYMBOLS)))
    x[np.arange(len(labels)), labels] += margin
    return x - np.log(np.exp(x).sum(1, keepdims=True)), labels


def test_words_and_their_frames_come_back_from_noisy_frame_scores(graph_dir):
    decoder = graph.GraphDecoder(graph_dir, stay=0.7)
    rng = np.random.default_rng(0)
    for sentence in ("i want to eat pasta", "we need more tea and milk"):
        phones = ["<SIL>"] + [p for w in sentence.split() for p in LEXICON[w]] + ["<SIL>"]
        scores, labels = _scores(phones, rng)
        out = decoder(scores)
        assert [decoder.words[w] for w in out["words"]] == sentence.split()
        assert len(out["steps"]) == len(labels) and (out["steps"] == labels).mean() > 0.95
        first_phone = [i for i, (a, b) in enumerate(zip([-1] + labels, labels)) if a != b]
        assert out["spans"][0][0] == first_phone[1]  # the first word starts where its first phone does
        assert out["spans"][-1][1] == first_phone[-1] - 1  # the last ends where the final silence begins


def test_the_language_model_chooses_between_homophones(graph_dir):
    decoder = graph.GraphDecoder(graph_dir, stay=0.7)
    rng = np.random.default_rng(1)
    scores, _ = _scores([p for w in "i want to eat".split() for p in LEXICON[w]], rng)
    assert [decoder.words[w] for w in decoder(scores)["words"]] == ["i", "want", "to", "eat"]  # "to", not "two"
    scores, _ = _scores([p for w in "we need two red".split() for p in LEXICON[w]], rng)
    assert [decoder.words[w] for w in decoder(scores)["words"]][:3] == ["we", "need", "two"]


def test_a_phone_lexicon_and_phone_lm_decode_phones(tmp_path):
    lines = ["<SIL> a i w o n t <SIL>", "<SIL> w i n i d t u <SIL>", "<SIL> t i m <SIL> a n d <SIL>"] * 20
    (tmp_path / "phones.txt").write_text("".join(s + "\n" for s in lines))
    arpa = lm.train_arpa(tmp_path / "phones.txt", tmp_path / "phones.arpa", order=4, memory="100M")
    graph.build_graph({s: [s] for s in SYMBOLS}, arpa, SYMBOLS, tmp_path / "HG")
    decoder = graph.GraphDecoder(tmp_path / "HG", stay=0.7)
    scores, labels = _scores("<SIL> w i n i d t u <SIL>".split(), np.random.default_rng(2))
    out = decoder(scores)
    assert [decoder.words[w] for w in out["words"]] == "<SIL> w i n i d t u <SIL>".split()
    assert [SYMBOLS[r[0]] for r in out["runs"]] == "<SIL> w i n i d t u <SIL>".split()


def test_a_graph_of_the_same_inputs_comes_from_the_cache_and_other_inputs_are_built(graph_dir, tmp_path):
    arpa = graph_dir.parent / "lm.arpa"
    cache = tmp_path / "cache"
    built = graph.build_graph(LEXICON, arpa, SYMBOLS, tmp_path / "a", sil_prob=0.3, cache_dir=cache)
    again = graph.build_graph(LEXICON, arpa, SYMBOLS, tmp_path / "b", sil_prob=0.3, cache_dir=cache)
    assert not built["cached"] and again["cached"] and again["key"] == built["key"]
    assert again["arcs"] == built["arcs"] and list(cache.iterdir()) == [cache / built["key"]]
    for name in graph.FILES:  # the same files as a graph built without the cache, linked, not copied
        assert (tmp_path / "b" / name).read_bytes() == (graph_dir / name).read_bytes()
        assert (tmp_path / "b" / name).stat().st_ino == (cache / built["key"] / name).stat().st_ino
    out = graph.GraphDecoder(tmp_path / "b", stay=0.7)(_scores(LEXICON["pasta"], np.random.default_rng(3))[0])
    assert out["words"]
    other = graph.build_graph(LEXICON, arpa, SYMBOLS, tmp_path / "c", sil_prob=0.5, cache_dir=cache)
    assert not other["cached"] and other["key"] != built["key"] and len(list(cache.iterdir())) == 2
    (tmp_path / "text.txt").write_text("".join(s + "\n" for s in TEXT[:4]))  # another LM: another graph
    arpa2 = lm.train_arpa(tmp_path / "text.txt", tmp_path / "lm.arpa", order=3, memory="100M")
    assert not graph.build_graph(LEXICON, arpa2, SYMBOLS, tmp_path / "d", sil_prob=0.3, cache_dir=cache)["cached"]


def test_a_missing_graph_is_a_clear_error(tmp_path):
    with pytest.raises(KitError, match="not a decoding graph directory"):
        graph.GraphDecoder(tmp_path, stay=0.5)



def test_audio_that_ends_inside_a_word_keeps_the_words_before_it(graph_dir):
    """With a large graph the best path of audio cut off mid-word can end in a non-final state (seen on the demo:
    '... civil rights m uː v m ə' for 'movement'); the cut word spans the runs it got, any other mismatch is an error."""
    decoder = graph.GraphDecoder(graph_dir, stay=0.7)
    ids = {w: i for i, w in enumerate(decoder.words)}
    spelled = ["<SIL>", "a", "i", "w", "o", "n", "t", "p", "a", "s"]
    runs = [(SYMBOLS.index(p), 2 * k, 2 * k + 1) for k, p in enumerate(spelled)]
    spans = decoder._word_spans([ids["i"], ids["want"], ids["pasta"]], runs)
    assert spans == [(2, 5), (6, 13), (14, 19)]
    with pytest.raises(KitError, match="does not spell the word 'want'"):
        decoder._word_spans([ids["i"], ids["want"], ids["pasta"]], runs[:5])  # cut inside a word that is not last
    with pytest.raises(KitError, match="does not spell the word 'milk'"):
        decoder._word_spans([ids["i"], ids["want"], ids["milk"]], runs)  # not a prefix of its pronunciation


def test_confidence_follows_the_models_posteriors_of_the_path(graph_dir):
    """Every word and phone gets the mean posterior of its path's phones: the word whose frames the model is
    unsure of gets a lower confidence than the others, and values stay in [0, 1]."""
    from aitranscribe.decoding.phones import GraphPhones, path_phones
    from aitranscribe.decoding.words import GraphWords

    rng = np.random.default_rng(3)
    sentence = "i want to eat pasta".split()
    phones = ["<SIL>"] + [p for w in sentence for p in LEXICON[w]] + ["<SIL>"]
    lengths = rng.integers(3, 6, len(phones))
    labels = np.repeat([SYMBOLS.index(p) for p in phones], lengths)
    scores = rng.normal(0, 1, (len(labels), len(SYMBOLS)))
    scores[np.arange(len(labels)), labels] += 6.0
    scores -= np.log(np.exp(scores).sum(1, keepdims=True))
    posteriors = np.exp(scores)
    first = 1 + sum(len(LEXICON[w]) for w in sentence[:3])  # "eat": its phones' frames
    a, b = lengths[:first].sum(), lengths[:first + len(LEXICON["eat"])].sum()
    posteriors[a:b] = 0.5 * posteriors[a:b] + 0.5 / len(SYMBOLS)  # the model hesitates over "eat"
    words = GraphWords(graph_dir, stay=0.7, acoustic_scale=1.0)(scores, None, posteriors)
    assert [w["word"] for w in words] == sentence
    sure = [w["confidence"] for w in words]
    assert all(0 <= c <= 1 for c in sure) and sure[3] == min(sure) and sure[3] < max(sure) - 0.3
    plain = GraphWords(graph_dir, stay=0.7, acoustic_scale=1.0)(scores, None)
    assert [w["word"] for w in plain] == sentence and "confidence" not in plain[0]
    phone_out = GraphPhones(graph_dir, stay=0.7)(scores, None, posteriors)
    assert all(0 <= ph["confidence"] <= 1 for ph in phone_out)
    ids, spans = np.array([0, 0, 15, 1]), [(0, 1), (2, 3), (4, 4), (5, 6)]
    assert path_phones(ids, spans, SYMBOLS, None, np.array([0.2, 0.4, 0.9, 1.0])) == [
        {"phone": "a", "confidence": 0.3}, {"phone": "e", "confidence": 1.0}]


def test_path_agreement_compares_the_phones_two_searches_heard():
    from aitranscribe.decoding.confidence import path_agreement

    sil = 15
    same = np.array([15, 0, 0, 1, 1, 1, 15])
    assert path_agreement(same, same, 0, 6, sil) == 1.0
    assert path_agreement(same, np.array([15, 0, 1, 1, 1, 1, 15]), 0, 6, sil) == 1.0  # other boundaries, same phones
    assert path_agreement(same, np.array([15, 0, 0, 2, 2, 2, 15]), 0, 6, sil) == 0.5  # one of two phones differs
    assert path_agreement(same, np.array([15, 0, 0, 1, 1, 1, 15]), 3, 5, sil) == 1.0  # only the span counts
    assert path_agreement(same, np.array([15] * 7), 0, 6, sil) == 0.0  # the phone search heard silence
    assert path_agreement(np.array([15, 15]), np.array([15, 15]), 0, 1, sil) == 1.0


def test_a_word_the_phone_search_heard_otherwise_is_doubtful(graph_dir):
    """With the phone search's path, a word's confidence is its mean posterior times the two searches' agreement over
    its steps: a word whose steps the phone search decoded as other phones drops, the others keep theirs."""
    from aitranscribe.decoding.words import GraphWords

    rng = np.random.default_rng(5)
    sentence = "i want to eat pasta".split()
    phones = ["<SIL>"] + [p for w in sentence for p in LEXICON[w]] + ["<SIL>"]
    lengths = rng.integers(3, 6, len(phones))
    labels = np.repeat([SYMBOLS.index(p) for p in phones], lengths)
    scores = rng.normal(0, 1, (len(labels), len(SYMBOLS)))
    scores[np.arange(len(labels)), labels] += 6.0
    scores -= np.log(np.exp(scores).sum(1, keepdims=True))
    posteriors = np.exp(scores)
    decoder = GraphWords(graph_dir, stay=0.7, acoustic_scale=1.0)
    alone = decoder(scores, None, posteriors)
    other = labels.copy()
    first = 1 + sum(len(LEXICON[w]) for w in sentence[:4])  # "pasta": the phone search hears other phones there
    a, b = lengths[:first].sum(), lengths[:first + len(LEXICON["pasta"])].sum()
    other[a:b] = SYMBOLS.index("m")
    both = decoder(scores, None, posteriors, other)
    assert [w["word"] for w in both] == sentence
    assert [w["confidence"] for w in both[:4]] == [w["confidence"] for w in alone[:4]]
    assert both[4]["confidence"] < 0.5 * alone[4]["confidence"]
    agree = decoder(scores, None, posteriors, labels)
    assert [w["confidence"] for w in agree] == [w["confidence"] for w in alone]


def _sentence_scores(sentences, seed: int, margin: float):
    """Frame scores of ``sentences`` (silence at both ends) and each one's phones without <SIL> (the model's own)."""
    rng = np.random.default_rng(seed)
    scores, own = [], []
    for sentence in sentences:
        phones = ["<SIL>"] + [p for w in sentence.split() for p in LEXICON[w]] + ["<SIL>"]
        scores.append(_scores(phones, rng, margin=margin)[0].astype(np.float32))
        own.append([p for p in phones if p != "<SIL>"])
    return scores, own


def test_choose_scale_keeps_the_words_faithful_to_the_models_own_phones(graph_dir):
    """wav2vec-U's label-free rule: at a scale so small that the LM alone speaks, the words no longer spell the
    model's phones (high UER) and the rule refuses it; the chosen scale is the table's lowest log(ppl) x UER."""
    from aitranscribe.decoding import tuning

    scores, own = _sentence_scores(["i want to eat pasta", "we need more tea and milk", "i want to drink milk"],
                                   seed=3, margin=3.0)
    scale, table = tuning.choose_scale(graph_dir, scores, own, 0.7, [0.001, 1.0], graph_dir.parent / "lm.arpa")
    assert [row["acoustic_scale"] for row in table] == [0.001, 1.0]
    assert table[0]["uer"] > 0.5 > 0.1 > table[1]["uer"]
    assert scale == 1.0 == min(table, key=lambda row: row["score"])["acoustic_scale"]
    for row in table:
        assert row["score"] == pytest.approx(np.log(row["word_lm_ppl"]) * row["uer"])


def test_choose_scale_is_a_function_of_the_scores_alone(graph_dir):
    """The rule reads the model's scores and its own phones, never a reference: the same inputs in another order
    give the same choice and the same table."""
    from aitranscribe.decoding import tuning

    scores, own = _sentence_scores(["we need two red", "i want to eat pasta", "we want to eat"], seed=4, margin=1.5)
    scales = [0.2, 0.5, 1.0, 2.0]
    chosen, table = tuning.choose_scale(graph_dir, scores, own, 0.7, scales, graph_dir.parent / "lm.arpa")
    order = [2, 0, 1]
    again, table_again = tuning.choose_scale(graph_dir, [scores[i] for i in order], [own[i] for i in order], 0.7,
                                             scales, graph_dir.parent / "lm.arpa")
    assert chosen == again and chosen in scales
    for a, b in zip(table, table_again):
        assert a["uer"] == pytest.approx(b["uer"]) and a["word_lm_ppl"] == pytest.approx(b["word_lm_ppl"])
