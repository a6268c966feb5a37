"""Stage 04: normalisation, the English filter, silence insertion, lexicon filtering, bad text input."""
import random

import pytest

from aitranscribe.core.stage import load_summary
from aitranscribe.stages import data
from aitranscribe.stages import text as text_prep
from aitranscribe.text import lm, phonemize
from aitranscribe.text import normalize as textnorm
from aitranscribe.text.phones import fold, insert_silences
from aitranscribe.core.errors import KitError
from aitranscribe.core.params import params_hash, stage_spec, validate


@pytest.mark.parametrize("line, expected", [
    ("Hello, World!", "hello world"),
    ("  The  café’s menu — “great”  ", "the café's menu great"),
    ("It cost 1,250 dollars in 1990.", "it cost one thousand two hundred fifty dollars in one thousand nine hundred ninety"),
    ("well-known rock'n'roll", "well known rock'n'roll"),
    ("!!! ...", None),
])
def test_normalize(line, expected):
    assert textnorm.normalize(line) == expected


def test_numbers_dropped_when_not_spelled():
    assert textnorm.normalize("route 66 is long", spell_numbers=False) is None
    assert textnorm.spell_number(0) == "zero" and textnorm.spell_number(2_000_017) == "two million seventeen"


def test_english_filter():
    assert textnorm.is_english("the cat sat on the mat")
    assert textnorm.is_english("he dealt the cards face down")
    assert not textnorm.is_english("le chat est sur la table de la cuisine")
    assert not textnorm.is_english("der hund schläft unter dem tisch")
    assert not textnorm.is_english("собака спит")


def test_silence_insertion_rate_matches_sil_prob():
    rng = random.Random(0)
    words = [["a"], ["b", "c"], ["d"], ["e"], ["f"]]
    inserted = between = 0
    for _ in range(4000):
        phones = insert_silences(words, 0.25, rng)
        assert phones[0] == phones[-1] == "<SIL>"
        inner = phones[1:-1]
        inserted += inner.count("<SIL>")
        between += len(words) - 1
    assert abs(inserted / between - 0.25) < 0.01
    assert insert_silences(words, 0.0, rng).count("<SIL>") == 2


def test_fold_maps_rare_variants():
    assert fold(["ᵻ", "ɐ", "k"]) == ["ɪ", "ə", "k"]


def _params(scratch, **kw):
    return validate({**scratch, **kw}, stage_spec(text_prep.PARAMS), "test")


def _corpus(scratch_params, tmp_path, text: bytes):
    """A tiny 01_data corpus whose text file is replaced by ``text``."""
    record = data.run(validate({**scratch_params, "demo_n_train": 4, "demo_n_valid": 1, "demo_n_test": 1,
                                "demo_n_text": 5, "demo_glosses": False}, stage_spec(data.PARAMS), "test"))
    with open(record["text"], "wb") as f:
        f.write(text)
    return record


def test_text_prep_end_to_end_and_bad_lines(scratch_params, tmp_path, caplog):
    sentences = [f"the {w} sat on the mat near the door" for w in ("cat", "dog", "man", "boy")] * 30
    text = ("\n".join(sentences) + "\n\n\nle chat est sur la table de la cuisine\n").encode() + b"bad \xff\xfe bytes\n"
    _corpus(scratch_params, tmp_path, text)
    record = text_prep.run(_params(scratch_params, min_phones=1))
    summary = load_summary(record)
    assert summary["read"]["non_utf8_lines"] == 1 and summary["read"]["empty"] == 2
    assert summary["dropped_not_english"] == 1 and summary["n_sentences"] == 120
    dict_lines = open(record["dict_phn"], encoding="utf-8").read().splitlines()
    assert dict_lines[-1] == "<SIL> 0"
    assert lm.check_arpa(record["phone_lm_arpa"])[1] > 10
    model = lm.load(record["phone_lm"])
    assert 1 < summary["phone_lm_ppl_valid"] < 20 and model.order == 4
    lexicon = dict(line.split("\t") for line in open(record["lexicon"], encoding="utf-8").read().splitlines())
    assert lexicon["cat"] == "k æ t"
    assert "non-UTF-8" in caplog.text or "not valid UTF-8" in caplog.text


def test_the_pruned_word_lm_keeps_every_word_and_fewer_ngrams(scratch_params, tmp_path):
    """``word_lm_prune`` [0, 1] (the CI profile's): the word LM and its graph keep every word of the text but no
    n-gram above unigrams seen once; [] keeps them all and leaves the hash of the outputs built before the setting."""
    rng = random.Random(0)
    words = "the cat dog man boy sat ran on near by a mat door tree house red big old".split()
    sentences = ["the cat sat on the mat near the door"] * 40 + [" ".join(rng.choice(words) for _ in range(8))
                                                                  for _ in range(200)]
    _corpus(scratch_params, tmp_path, ("\n".join(sentences) + "\n").encode())
    full = text_prep.run(_params(scratch_params, min_phones=1, word_lm_prune=[]))
    pruned = text_prep.run(_params(scratch_params, min_phones=1, word_lm_prune=[0, 1]))
    assert full["dir"] != pruned["dir"]
    counts = {name: lm.check_arpa(r["word_lm"].replace(".bin", ".arpa")) for name, r in (("full", full), ("pruned", pruned))}
    assert counts["pruned"][1] == counts["full"][1]  # every word
    assert all(counts["pruned"][n] < counts["full"][n] for n in (2, 3, 4))
    graphs = {name: load_summary(r)["graphs"]["words"] for name, r in (("full", full), ("pruned", pruned))}
    assert graphs["pruned"]["words"] == graphs["full"]["words"] and graphs["pruned"]["arcs"] < graphs["full"]["arcs"]
    p = _params(scratch_params, min_phones=1, word_lm_prune=[])
    before = {k: v for k, v in p.items() if k != "word_lm_prune"}
    inputs = {k: r["params_hash"] for k, r in text_prep.STAGE.inputs(p).items()}
    assert text_prep.STAGE.locate(p)[1] == params_hash({**before, "inputs": inputs})


def test_nothing_left_is_a_clear_error(scratch_params, tmp_path):
    _corpus(scratch_params, tmp_path, "le chat est sur la table\nder hund ist hier und dort\n".encode())
    with pytest.raises(KitError, match="no English sentence left"):
        text_prep.run(_params(scratch_params))


def test_missing_espeak_says_how_to_install(monkeypatch):
    monkeypatch.setattr(phonemize.shutil, "which", lambda name: None)
    with pytest.raises(KitError, match="apt-get install espeak-ng"):
        phonemize.phonemize_words(["hello"])
