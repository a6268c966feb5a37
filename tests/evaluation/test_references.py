"""Report-only reference points: forced alignment for the supervised reference, the pocketsphinx peer's phone map,
and the label-free score that chooses the word search's weight."""
import math

import numpy as np
import pytest

from aitranscribe.decoding.tuning import label_free_score
from aitranscribe.evaluation import peer
import torch

from aitranscribe.models.decipher.frame_classifier import FrameClassifier
from aitranscribe.models.decipher.hmm import PhoneHMM
from aitranscribe.models.decipher.model import FrameModel
from aitranscribe.models.decipher.supervised import FLAT_START_ABOVE, flat_labels, force_align, train_reference


def test_forced_alignment_follows_the_reference_order_with_optional_silence():
    sil, a, b = 0, 1, 2
    truth = [sil, sil, a, a, a, b, b, sil, a, a]  # a b, a pause, a
    scores = np.full((len(truth), 3), -5.0)
    scores[np.arange(len(truth)), truth] = 0.0
    assert force_align(scores, [a, b, a], sil).tolist() == truth
    scores[5:7, a] = 0.5  # the scores alone say a where b is: b keeps one frame, in its place in the reference
    assert force_align(scores, [a, b, a], sil).tolist() == [sil, sil, a, a, a, a, b, sil, a, a]
    # every reference phone gets at least one frame, even against the scores
    scores = np.zeros((4, 3))
    scores[:, a] = 1.0
    path = force_align(scores, [a, b, a], sil).tolist()
    assert [p for i, p in enumerate(path) if i == 0 or p != path[i - 1]] == [a, b, a]


def test_kit_phones_map_to_arpabet_for_the_peers_phone_error_rate():
    assert peer.to_arpabet(["w", "ɔː", "ɾ", "ɚ", "ɹ", "ɪ", "n"]) == ["W", "AO", "T", "ER", "IH", "N"]  # water in
    assert peer.to_arpabet(["b", "ɑːɹ", "n̩"]) == ["B", "AA", "R", "AH", "N"]
    assert set(peer.IPA_TO_ARPABET.values()) >= {"AA", "AE", "AH", "ZH", "NG", "OY"}


def test_label_free_score_weighs_fidelity_to_the_model_against_fluency():
    class Unigram:  # a stand-in with kenlm's score(): log10 probability of every word 0.1, sentence end 1
        def score(self, sentence, bos=True, eos=True):
            return -1.0 * len(sentence.split())

    spelled = {"a": ["x"], "b": ["y"]}
    faithful = label_free_score([["a", "b"]], [["x", "y"]], spelled, Unigram())
    unfaithful = label_free_score([["a", "a"]], [["x", "y"]], spelled, Unigram())
    assert faithful["uer"] == 0 and unfaithful["uer"] == 0.5
    assert faithful["score"] < unfaithful["score"]
    assert math.isclose(faithful["word_lm_ppl"], 10 ** (2 / 3))


@pytest.mark.slow
def test_the_peer_transcribes_speech_offline():
    """pocketsphinx's wheel carries its models: it decodes synthetic speech with nothing downloaded."""
    import subprocess

    import soundfile as sf

    from aitranscribe.io.audio import resample

    out = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", "the cat sat on the mat"], capture_output=True,
                         check=True).stdout
    import io

    x, sr = sf.read(io.BytesIO(out), dtype="float32")
    result = peer.evaluate([resample(x, sr)], ["the cat sat on the mat"], [["ð", "ə", "k", "æ", "t"]])
    assert result["utterances"] == 1 and 0 <= result["wer"] <= 1.5 and result["x_realtime_words"] > 0


def test_flat_start_splits_the_frames_evenly_between_silence_and_the_reference_phones():
    sil, a, b = 0, 1, 2
    assert flat_labels(8, [a, b], sil).tolist() == [sil, sil, a, a, b, b, sil, sil]
    assert flat_labels(5, [a, b, a], sil).tolist() == [sil, a, b, a, sil]


def _toy_utterances(n, rng):
    """Utterances of phones a, b, c between silences, each phone a cloud of 4-d frames around its own point."""
    centres = np.array([[0, 0, 0, 0], [4, 0, 0, 0], [0, 4, 0, 0], [0, 0, 4, 0]], dtype=np.float32)
    symbols = ["<SIL>", "a", "b", "c"]
    frames, refs = [], []
    for _ in range(n):
        phones = [int(rng.integers(1, 4))]
        for _ in range(rng.integers(2, 5)):
            phones.append(int(rng.choice([p for p in (1, 2, 3) if p != phones[-1]])))  # no phone twice in a row
        ids = [0, *phones, 0]
        steps = np.repeat(ids, rng.integers(4, 9, size=len(ids)))
        frames.append((centres[steps] + rng.normal(0, 0.3, (len(steps), 4))).astype(np.float32))
        refs.append([symbols[p] for p in phones])
    return frames, refs, symbols


def test_supervised_reference_starts_flat_when_the_unsupervised_model_is_at_chance():
    rng = np.random.default_rng(0)
    frames, refs, symbols = _toy_utterances(128, rng)
    valid = _toy_utterances(20, rng)[:2]
    hmm = PhoneHMM(np.full(4, 0.25), np.full(4, 0.25), (np.ones((4, 4)) - np.eye(4)) / 3, 0.7)
    torch.manual_seed(3)
    untrained = FrameModel(FrameClassifier(input_dim=4, vocab=4, hidden=16, context=1), np.log(np.full(4, 0.25)), hmm,
                           symbols)  # an unsupervised model that learned nothing
    reference, passes = train_reference(untrained, frames, refs, valid, epochs=30, max_passes=2)
    first = {row["start"]: row["per_valid"] for row in passes if row["pass"] == 1}
    assert first["flat"] < 0.1 < first["selected model"]  # even splits beat a chance model's alignment
    assert [(row["start"], row["pass"]) for row in passes] == [("selected model", 1), ("flat", 1), ("flat", 2)]
    assert passes[-1]["per_valid"] < 0.1
    assert reference.symbols == symbols and reference.net.config() == untrained.net.config()


def test_supervised_reference_trains_no_flat_start_when_the_models_alignment_is_good():
    rng = np.random.default_rng(0)
    frames, refs, symbols = _toy_utterances(128, rng)
    valid = _toy_utterances(20, rng)[:2]
    hmm = PhoneHMM(np.full(4, 0.25), np.full(4, 0.25), (np.ones((4, 4)) - np.eye(4)) / 3, 0.7)
    untrained = FrameModel(FrameClassifier(input_dim=4, vocab=4, hidden=16, context=1), np.log(np.full(4, 0.25)), hmm,
                           symbols)
    good, _ = train_reference(untrained, frames, refs, valid, epochs=30, max_passes=2)  # a model that learned
    _, passes = train_reference(good, frames, refs, valid, epochs=30, max_passes=2)
    assert passes[0]["start"] == "selected model" and passes[0]["per_valid"] <= FLAT_START_ABOVE
    assert all(row["start"] == "selected model" for row in passes)  # the flat start is not trained
