"""The continued chain's start from several screening chains (stage 05, method decipher, :mod:`.ensemble`)."""
import json

import numpy as np
import pytest

from aitranscribe.models.decipher import ensemble, selftrain
from aitranscribe.models.decipher.hmm import PhoneHMM, label_statistics, transitions
from aitranscribe.models.decipher.model import FrameModel
from aitranscribe.text import lm

SYMBOLS = ["a", "b", "c"]
NEXT = np.array([[0.0, 0.8, 0.2], [0.2, 0.0, 0.8], [0.8, 0.2, 0.0]])  # a->b, b->c, c->a mostly


def _sequence(rng, n):
    seq = [int(rng.integers(3))]
    while len(seq) < n:
        seq.append(int(rng.choice(3, p=NEXT[seq[-1]])))
    return np.array(seq)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Frames of three well-apart phones (runs of 4 frames), the text's phone LM, and three real frame models:
    two trained on the true labels (seeds 0, 1), one on labels with a and b swapped (a consistent wrong cipher)."""
    d = tmp_path_factory.mktemp("ensemble")
    rng = np.random.default_rng(0)
    lines = [_sequence(rng, 12) for _ in range(300)]
    (d / "phones.txt").write_text("".join(" ".join(SYMBOLS[i] for i in line) + "\n" for line in lines))
    phone_lm = lm.load(lm.train_arpa(d / "phones.txt", d / "phones.arpa", order=2, memory="100M"))
    means = rng.normal(size=(3, 6)) * 2
    truth = [np.repeat(_sequence(rng, 8), 4) for _ in range(60)]
    frames = [(means[y] + rng.normal(size=(len(y), 6))).astype(np.float32) for y in truth]
    trans = transitions(lines, 3)

    def model(labels, seed):
        net = selftrain.train_classifier(frames[:40], labels[:40], 3, epochs=8, hidden=16, seed=seed, batch=8,
                                         quiet=True)
        prior, stay = label_statistics(labels[:40], 3)
        return FrameModel(net, prior, PhoneHMM(trans["start"], trans["end"], trans["between"], stay), SYMBOLS)

    swap = np.array([1, 0, 2])
    models = {"good": model(truth, 0), "good2": model(truth, 1), "swapped": model([swap[y] for y in truth], 0)}
    return {"frames": {"train": frames[:40], "valid": frames[40:]}, "phone_lm": phone_lm, "models": models,
            "dir": d}


def test_mean_scores_average_the_models_frame_scores(world):
    good, swapped = world["models"]["good"], world["models"]["swapped"]
    frames = world["frames"]["valid"][:3]
    mean = ensemble.mean_scores([good, swapped], frames)
    for m, a, b in zip(mean, good.frame_scores(frames), swapped.frame_scores(frames)):
        np.testing.assert_allclose(m, (a + b) / 2, rtol=1e-6)


def test_k_is_the_average_whose_valid_transcripts_the_phone_lm_likes_best(world):
    m, valid, phone_lm = world["models"], world["frames"]["valid"], world["phone_lm"]
    # a wrong cipher ranked first: the two right models outvote it, so more than one chain is the better start
    k, table = ensemble.choose_k([m["swapped"], m["good"], m["good2"]], valid, phone_lm)
    assert [row["k"] for row in table] == [1, 2, 3]
    assert k > 1 and table[k - 1]["phone_lm_ppl_valid"] < table[0]["phone_lm_ppl_valid"]
    assert table[k - 1]["phone_lm_ppl_valid"] == min(row["phone_lm_ppl_valid"] for row in table)
    # the same model twice averages to itself: a tie keeps the best chain alone
    k, table = ensemble.choose_k([m["good"], m["good"]], valid, phone_lm)
    assert k == 1 and table[0]["phone_lm_ppl_valid"] == table[1]["phone_lm_ppl_valid"]


def _chains(root, models: dict, frames) -> dict:
    """Screening chains as stage 05 leaves them: decipherment.npz and rounds 1-2 (model, round.json, labels)."""
    dirs = {}
    for seed, model in models.items():
        chain = root / f"chain-seed{seed}"
        (chain / "rounds").mkdir(parents=True)
        np.savez(chain / "decipherment.npz", seed=seed)
        for r in (1, 2):
            round_dir = chain / "rounds" / f"round-{r}"
            round_dir.mkdir()
            model.save(round_dir / "model.pt", {"round": r})
            (round_dir / "round.json").write_text(json.dumps({"round": r, "phone_lm_ppl_train": 10.0 - r}))
            own = np.concatenate(model.hmm.best_paths(model.frame_scores(frames))).astype(np.int16)
            np.save(round_dir / "next_labels.npy", own)
        dirs[seed] = chain
    return dirs


def test_the_best_chain_continues_in_a_directory_of_its_own_from_the_average(world, tmp_path):
    m, frames = world["models"], world["frames"]
    dirs = _chains(tmp_path, {7: m["swapped"], 8: m["good"], 9: m["good2"]}, frames["train"])
    own = np.load(dirs[7] / "rounds" / "round-2" / "next_labels.npy")
    seen = []

    def relabel(paths):  # the chain's decipherment restarted from the paths (here: the paths themselves, recorded)
        seen.append(paths)
        return paths

    result = ensemble.start(tmp_path, [7, 8, 9], dirs, {7: 2, 8: 2, 9: 2}, 2, frames, world["phone_lm"], relabel)
    k = result["k"]
    target = tmp_path / f"ensemble-k{k}-seed7"
    assert k > 1 and result["dir"] == str(target) and result["chains"] == [7, 8, 9][:k]
    assert (target / "decipherment.npz").is_file() and (target / "rounds" / "round-1" / "model.pt").is_file()
    labels = np.load(target / "rounds" / "round-2" / "next_labels.npy")
    chosen = [m["swapped"], m["good"], m["good2"]][:k]
    expected = np.concatenate(chosen[0].hmm.best_paths(ensemble.mean_scores(chosen, frames["train"])))
    np.testing.assert_array_equal(labels, expected)
    assert len(seen) == 1 and len(seen[0]) == len(frames["train"])
    assert not np.array_equal(labels, own)
    np.testing.assert_array_equal(np.load(dirs[7] / "rounds" / "round-2" / "next_labels.npy"), own)  # untouched
    # resumed: the choice and the directory are reused, nothing is made again
    stamp = (target / "rounds" / "round-2" / "next_labels.npy").stat().st_mtime_ns
    again = ensemble.start(tmp_path, [7, 8, 9], dirs, {7: 2, 8: 2, 9: 2}, 2, frames, world["phone_lm"], relabel)
    assert again == result and len(seen) == 1
    assert (target / "rounds" / "round-2" / "next_labels.npy").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".*partial"))


def test_with_k_one_the_best_chain_continues_in_its_own_directory(world, tmp_path):
    m, frames = world["models"], world["frames"]
    dirs = _chains(tmp_path, {3: m["good"], 4: m["good"]}, frames["train"])
    result = ensemble.start(tmp_path, [3, 4], dirs, {3: 2, 4: 2}, 2, frames, world["phone_lm"], lambda paths: paths)
    assert result["k"] == 1 and result["dir"] == str(dirs[3])
    assert not list(tmp_path.glob("ensemble-*"))


def test_a_restarted_chain_counts_its_patience_from_the_restart():
    rounds = [{"round": r, "phone_lm_ppl_train": p} for r, p in enumerate([40.0, 50.0, 52.0, 60.0], 1)]
    assert selftrain._stalled(rounds[:3], 2)  # rounds 2-3 no better than round 1: a chain would stop
    assert not selftrain._stalled(rounds[2:], 2)  # restarted after round 2: only two rounds since
