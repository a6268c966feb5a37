"""Speakers without names: utterances grouped into voices from their audio alone, new voices told apart, the
normalisation following the clusters for audio whose speaker it was never told."""
import random

import numpy as np
import pytest

from aitranscribe.core.errors import KitError
from aitranscribe.features import diarize, speaker_clusters, speaker_norm
from aitranscribe.sources import demo

VOICES = {v.name: v for v in demo.VOICES}
TRAIN_VOICES = ("espeak-us-m1", "espeak-us-f2", "espeak-us-klatt")


def _utterances(voice: str, n: int, seed: int) -> list[np.ndarray]:
    """``n`` WordNet sentences spoken by ``voice`` with the demo's rate and pitch jitter (16 kHz float32)."""
    rng = random.Random(seed)
    pool = demo.wordnet_sentences()
    return [demo.synthesize(VOICES[voice], pool[rng.randrange(len(pool))], 1 + rng.uniform(-0.15, 0.15),
                            rng.randint(-8, 8)) for _ in range(n)]


@pytest.fixture(scope="module")
def corpus():
    """Train: 14 utterances of each of three voices, interleaved; held out: 4 more of each and 6 of a fourth voice."""
    train = {v: _utterances(v, 14, seed=k) for k, v in enumerate(TRAIN_VOICES)}
    held = {v: _utterances(v, 4, seed=10 + k) for k, v in enumerate(TRAIN_VOICES)}
    held["espeak-us-f4"] = _utterances("espeak-us-f4", 6, seed=20)
    order = [(v, i) for i in range(14) for v in TRAIN_VOICES]
    return ([train[v][i] for v, i in order], [v for v, _ in order], held)


def _stats(utts):
    return np.stack([diarize.utterance_stats(x) for x in utts])


def test_voices_are_found_without_names_and_their_number_is_read_off_the_data(corpus):
    audio, names, _ = corpus
    clusters, labels = speaker_clusters.fit(_stats(audio), seed=0)
    assert len(clusters.centres) == 3 and sorted(set(labels)) == [0, 1, 2]
    score = speaker_clusters.purity(labels, names)
    assert score["purity"] >= 0.95 and score["inverse_purity"] >= 0.95
    # the same audio gives the same clusters (fit reads no names: there is no argument for them)
    again, labels_again = speaker_clusters.fit(_stats(audio), seed=0)
    assert np.array_equal(labels, labels_again) and np.allclose(again.centres, clusters.centres)


def test_a_number_of_voices_at_the_bound_is_warned_of(corpus, caplog):
    audio, _, _ = corpus
    with caplog.at_level("WARNING", logger=speaker_clusters.__name__):
        speaker_clusters.fit(_stats(audio), seed=0)
    assert not caplog.records  # 3 voices found, 16 allowed
    with caplog.at_level("WARNING", logger=speaker_clusters.__name__):
        clusters, _ = speaker_clusters.fit(_stats(audio), seed=0, max_voices=2)
    assert len(clusters.centres) == 2 and "the most allowed" in caplog.text


def test_held_out_utterances_join_their_voice_and_a_new_voice_is_told_apart(corpus):
    audio, names, held = corpus
    clusters, labels = speaker_clusters.fit(_stats(audio), seed=0)
    majority = {k: max(set(names), key=[n for n, lab in zip(names, labels) if lab == k].count) for k in range(3)}
    for voice in TRAIN_VOICES:
        assigned = clusters.assign(_stats(held[voice]))
        assert [majority.get(int(k)) for k in assigned].count(voice) >= 3, voice
    new = clusters.assign(_stats(held["espeak-us-f4"]))
    assert (new == speaker_clusters.NEW_VOICE).sum() >= 3
    assert clusters.speaker_of(held["espeak-us-f4"][0], allow_new=False) is not None  # never new when not allowed


def test_purity_counts_and_errors():
    score = speaker_clusters.purity([0, 0, 1, speaker_clusters.NEW_VOICE], ["a", "b", "b", "b"])
    assert score["purity"] == pytest.approx(3 / 4) and score["inverse_purity"] == pytest.approx(2 / 4)
    assert score["counts"] == {"voice01": {"a": 1, "b": 1}, "voice02": {"b": 1}}
    with pytest.raises(KitError, match="2 labels for 1 names"):
        speaker_clusters.purity([0, 1], ["a"])
    with pytest.raises(KitError, match="too few"):
        speaker_clusters.fit(np.zeros((3, 58)))


def test_normalisation_saved_with_clusters_follows_them_for_unnamed_audio(corpus, tmp_path):
    audio, names, held = corpus
    clusters, labels = speaker_clusters.fit(_stats(audio), seed=0)
    by_voice = {}
    for x, k in zip(audio, labels):
        by_voice.setdefault(speaker_clusters.name(int(k)), []).append(x)
    norm = speaker_norm.fit(by_voice, "whiten")
    norm.clusters = clusters
    loaded = speaker_norm.SpeakerNorm.load(norm.save(tmp_path / "norm.npz"))
    assert loaded.clusters is not None and np.array_equal(loaded.clusters.centres, clusters.centres)
    x = held[TRAIN_VOICES[0]][0]
    cluster = loaded.speaker_of(x, None)
    assert cluster in norm.warps
    # audio of an unknown (or unnamed) speaker takes its cluster's transform, exactly as if the cluster were named
    assert np.array_equal(loaded(x, "a name the norm never saw", 2), loaded(x, cluster, 2))
    assert np.array_equal(loaded(x, None, 2), norm(x, cluster, 2))
    # a new voice is normalised from its own audio: its frames come out centred
    new = [u for u in held["espeak-us-f4"] if loaded.speaker_of(u, None) is None][0]
    assert np.allclose(loaded(new, None, 0).mean(0), 0, atol=1e-3)
    # without clusters an unknown speaker is normalised from its own audio, as before
    plain = speaker_norm.SpeakerNorm(norm.method, norm.codebook, norm.warps, norm.means, norm.whiteners)
    assert plain.speaker_of(x, "someone") is None
