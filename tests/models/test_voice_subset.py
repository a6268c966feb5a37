"""The decipher method's voice subset: voice clusters ranked by how likely the phone LM finds their transcripts,
a share taken from them, each chain's own units of it, and the steps resumed from their record."""
import json

import numpy as np
import pytest

from aitranscribe.core.errors import KitError
from aitranscribe.models.decipher import selftrain, voice_subset
from aitranscribe.models.decipher.hmm import PhoneHMM
from aitranscribe.models.decipher.model import FrameModel
from aitranscribe.text import lm

SYMBOLS = ["a", "b", "c", "<SIL>"]
RUN = 6  # frames of every phone


def _require_kenlm():
    try:
        lm.find_kenlm_bin("lmplz")
    except Exception as exc:  # noqa: BLE001 - the message says how to build the tools
        pytest.fail(f"KenLM's lmplz is needed: {exc}")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three phones; the text cycles a b c. Voice ``lexicon`` says the text's cycle, voice ``other`` says the phones
    in random order; a classifier trained on their frames (labels only to build the model under test) and the
    phone LM of the text."""
    _require_kenlm()
    d = tmp_path_factory.mktemp("voice_subset")
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 5)) * 4
    text = d / "phones.txt"
    text.write_text("".join(" ".join("abc"[(i + j) % 3] for j in range(12)) + "\n" for i in range(60)))
    phone_lm = lm.load(lm.train_arpa(text, d / "phones.arpa", order=3, memory="50M"))
    labels, speakers = [], []
    for i in range(24):
        if i % 2 == 0:
            seq = [(i + j) % 3 for j in range(8)]
        else:  # no phone follows itself, otherwise any order
            seq = [int(rng.integers(3))]
            while len(seq) < 8:
                seq.append(int((seq[-1] + rng.integers(1, 3)) % 3))
        labels.append(np.repeat(seq, RUN))
        speakers.append("lexicon" if i % 2 == 0 else "other")
    frames = [(means[y] + rng.normal(0, 0.5, (len(y), 5))).astype(np.float32) for y in labels]
    net = selftrain.train_classifier(frames, labels, 4, epochs=15, hidden=16, seed=0, batch=4, quiet=True)
    between = (np.ones((4, 4)) - np.eye(4)) / 3
    model = FrameModel(net, np.log(np.full(4, 0.25)), PhoneHMM(np.full(4, 0.25), np.full(4, 0.25), between, 0.8),
                       SYMBOLS)
    return {"dir": d, "frames": frames, "speakers": speakers, "phone_lm": phone_lm, "model": model}


def test_the_voice_that_says_the_texts_phones_ranks_first_and_is_taken_up_to_the_share(corpus):
    ranked = voice_subset.rank_clusters(corpus["model"], corpus["frames"], corpus["speakers"], corpus["phone_lm"])
    assert [c["cluster"] for c in ranked] == ["lexicon", "other"]
    assert ranked[0]["ppl"] < 0.5 * ranked[1]["ppl"]
    assert ranked[0]["utterances"] == list(range(0, 24, 2))
    assert voice_subset.take(ranked, 0.4, 24) == list(range(0, 24, 2))  # one cluster holds the share
    assert voice_subset.take(ranked, 0.6, 24) == list(range(24))         # the next is taken whole
    unassigned = voice_subset.rank_clusters(corpus["model"], corpus["frames"][:2], ["lexicon", None],
                                            corpus["phone_lm"])
    assert [c["utterances"] for c in unassigned] == [[0]]  # an utterance of no cluster is not ranked


def test_a_share_narrows_train_and_each_chain_deciphers_units_of_its_own(tmp_path, corpus):
    frames = corpus["frames"]
    inputs = {"frames": {"train": frames, "valid": frames[:2]}, "units": [np.zeros(len(f), np.int64) for f in frames]}
    keep = [1, 4, 9]
    files = voice_subset.own_units(tmp_path, [frames[i] for i in keep], 3, [7, 1007])
    assert files == {"7": "units-seed7.npz", "1007": "units-seed1007.npz"}
    subset = {"train": keep, "units": {seed: str(tmp_path / name) for seed, name in files.items()}}
    narrowed = voice_subset.apply(inputs, subset)
    assert [len(f) for f in narrowed["frames"]["train"]] == [len(frames[i]) for i in keep]
    assert narrowed["frames"]["valid"] is inputs["frames"]["valid"]
    for seed in (7, 1007):
        own = voice_subset.units_of(narrowed, seed)
        assert [len(u) for u in own] == [len(frames[i]) for i in keep]
        assert set(np.concatenate(own).tolist()) == {0, 1, 2}  # three phones' frames: three units
    assert voice_subset.units_of(narrowed, 3) == narrowed["units"]  # a chain without its own: stage 03's
    assert voice_subset.apply(inputs, None) is inputs
    mtime = (tmp_path / "units-seed7.npz").stat().st_mtime_ns
    voice_subset.own_units(tmp_path, [frames[i] for i in keep], 3, [7])
    assert (tmp_path / "units-seed7.npz").stat().st_mtime_ns == mtime  # fitted once


def test_the_steps_go_blind_share_then_twice_ranked_clusters_and_resume_from_their_record(tmp_path, corpus):
    """``choose`` with a stand-in for the method's chains that saves the module's model as every chain's round:
    the first chains see the cleanest share, the next ones the best-ranked voice's utterances of that share, with
    their own units; a second call reuses the record and runs no chain."""
    n = len(corpus["frames"])
    features = tmp_path / "features"
    features.mkdir()
    (features / "speakers.json").write_text(json.dumps({"speakers": {"train": corpus["speakers"]}}))
    out = tmp_path / "voice_subset"
    out.mkdir()
    snr = [40.0 - i for i in range(n)]  # the first utterances sound cleanest; utterance 0 is a telephone line
    (out / "train_quality.json").write_text(json.dumps(
        [{"snr_db": s, "high_share": 0.3 if i else 0.0} for i, s in enumerate(snr)]))
    inputs = {"frames": {"train": corpus["frames"], "valid": corpus["frames"][:2]},
              "units": [np.repeat(np.arange(4) % 3, len(f) // 4 + 1)[:len(f)] for f in corpus["frames"]],
              "phone_lm": corpus["phone_lm"]}
    seen = []

    def run_chains(directory, subset):
        seen.append((directory.name, list(subset["train"]), subset["units"]))
        for seed in (0, 1):
            corpus["model"].save(directory / f"chain-seed{seed}" / "rounds" / "round-1" / "model.pt")
        return {0: {"rounds": [{"round": 1, "phone_lm_ppl_train": 9.0}]},
                1: {"rounds": [{"round": 1, "phone_lm_ppl_train": 5.0}]}}

    result = voice_subset.choose(out, inputs, 0.5, features, None, [0, 1], run_chains)
    blind = list(range(1, 13))  # half of 24, the band-limited one left out
    assert seen[0] == ("blind", blind, None)
    lexicon_in_blind = [i for i in blind if i % 2 == 0]
    assert [s[:2] for s in seen[1:]] == [("first", lexicon_in_blind)]
    assert set(seen[1][2]) == {"0", "1"}
    assert result["train"] == lexicon_in_blind
    assert sorted(result["units"]) == ["0", "1"] and all(p.startswith(str(out)) for p in result["units"].values())
    steps = result["steps"]
    assert [s["step"] for s in steps] == ["blind", "first", "share"]
    assert steps[0]["start"] == {"seed": 1, "round": 1, "phone_lm_ppl_train": 5.0}
    assert steps[1]["ranking"][0]["cluster"] == "lexicon"
    assert json.loads((out / "subset.json").read_text())["result"]["units"]["0"] == "share/units-seed0.npz"
    seen.clear()
    assert voice_subset.choose(out, inputs, 0.5, features, None, [0, 1], run_chains) == result
    assert seen == []
    (features / "speakers.json").write_text(json.dumps({"speakers": {"train": corpus["speakers"][:3]}}))
    with pytest.raises(KitError, match="3 train speakers for 24 utterances"):
        voice_subset.choose(out, inputs, 0.5, features, None, [0, 1], run_chains)


def test_the_start_table_has_a_row_per_step_and_nothing_without_a_voice_subset():
    from aitranscribe.models import decipher

    steps = [{"step": "blind", "utterances": 800, "start": {"seed": 0, "round": 3, "phone_lm_ppl_train": 72.066}},
             {"step": "first", "utterances": 387, "start": {"seed": 1, "round": 3, "phone_lm_ppl_train": 59.1},
              "ranking": [{"cluster": f"voice{i:02d}", "ppl": 60.0 + i, "utterances": 10} for i in range(9)]},
             {"step": "share", "utterances": 387,
              "ranking": [{"cluster": "voice01", "ppl": None, "utterances": 3}]}]
    rows = decipher.start_steps({"voice_subset": {"utterances": 387, "steps": steps}})
    assert [r["step"] for r in rows] == ["blind", "first", "share"]
    assert rows[0]["its train phone-LM perplexity"] == "72.1" and rows[2]["its train phone-LM perplexity"] == ""
    assert rows[0]["voice clusters it ranks, lowest perplexity first"].endswith("voice07 67 ...")  # eight shown
    assert rows[1]["voice clusters it ranks, lowest perplexity first"] == "voice01 -"  # nothing said: no perplexity
    assert decipher.start_steps({"rounds": []}) == []
