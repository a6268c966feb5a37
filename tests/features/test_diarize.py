"""Speaker diarization without pretrained weights, and the diarization error rate (DER) that scores it."""
import numpy as np
import pytest
from support.sessions import session

from aitranscribe.core.errors import KitError
from aitranscribe.evaluation.der import der
from aitranscribe.features import diarize
from aitranscribe.features.vad import Detector
from aitranscribe.io.audio import TARGET_SR

SR = TARGET_SR
VAD = {"vad": True, "vad_threshold": 0.4, "vad_window_ms": 25.0, "vad_shift_ms": 10.0, "min_speech_fraction": 0.05}


# --- DER on hand-made cases -----------------------------------------------------------------------------------

REF = [(0.0, 10.0, "A"), (10.0, 20.0, "B"), (20.0, 30.0, "A")]


def test_der_perfect_hypothesis_is_zero():
    r = der(REF, REF, collar=0.0)
    assert r["der"] == 0.0 and r["scored_seconds"] == pytest.approx(30.0)
    assert r["mapping"] == {"A": "A", "B": "B"}


def test_der_ignores_label_names():
    hyp = [(0.0, 10.0, "spk1"), (10.0, 20.0, "spk0"), (20.0, 30.0, "spk1")]
    r = der(REF, hyp, collar=0.0)
    assert r["der"] == 0.0 and r["mapping"] == {"spk1": "A", "spk0": "B"}


def test_der_one_speaker_wholly_confused():
    hyp = [(0.0, 30.0, "x")]  # B's 10 s go to A's label
    r = der(REF, hyp, collar=0.0)
    assert r["confusion"] == pytest.approx(10.0) and r["der"] == pytest.approx(10.0 / 30.0)
    assert r["missed"] == 0.0 and r["false_alarm"] == 0.0


def test_der_extra_hypothesis_speaker_is_confusion():
    hyp = [(0.0, 10.0, "a"), (10.0, 15.0, "b"), (15.0, 20.0, "c"), (20.0, 30.0, "a")]
    r = der(REF, hyp, collar=0.0)
    assert r["confusion"] == pytest.approx(5.0) and r["der"] == pytest.approx(5.0 / 30.0)


def test_der_missed_and_false_alarm():
    hyp = [(0.0, 8.0, "a"), (10.0, 20.0, "b"), (20.0, 30.0, "a"), (31.0, 34.0, "b")]
    r = der(REF, hyp, collar=0.0)
    assert r["missed"] == pytest.approx(2.0) and r["false_alarm"] == pytest.approx(3.0)
    assert r["confusion"] == 0.0 and r["der"] == pytest.approx(5.0 / 30.0)


def test_der_collar_excludes_time_around_reference_boundaries():
    hyp = [(0.0, 10.2, "a"), (10.2, 20.0, "b"), (20.0, 30.0, "a")]  # boundary late by 0.2 s
    assert der(REF, hyp, collar=0.0)["confusion"] == pytest.approx(0.2)
    r = der(REF, hyp, collar=0.25)
    assert r["der"] == 0.0
    # 4 boundaries (0, 10, 20, 30); 0 and 30 cut one side only, inside the recording
    assert r["scored_seconds"] == pytest.approx(30.0 - 4 * 0.25 - 2 * 0.25)


def test_der_overlapping_reference_speech():
    ref = [(0.0, 10.0, "A"), (5.0, 10.0, "B")]  # 5 s of overlap: 15 speaker-seconds
    r = der(ref, [(0.0, 10.0, "a")], collar=0.0)
    assert r["scored_seconds"] == pytest.approx(15.0) and r["missed"] == pytest.approx(5.0)
    assert r["der"] == pytest.approx(5.0 / 15.0)
    both = der(ref, [(0.0, 10.0, "a"), (5.0, 10.0, "b")], collar=0.0)
    assert both["der"] == 0.0


def test_der_rejects_bad_segments():
    with pytest.raises(KitError, match="reference"):
        der([(5.0, 1.0, "A")], [])
    with pytest.raises(KitError, match="collar"):
        der(REF, REF, collar=-1)


# --- diarization of synthetic sessions ------------------------------------------------------------------------

def _check_turns(turns: list, intervals: list) -> None:
    """Turns cover exactly the speech intervals, in order, speakers numbered by first appearance."""
    covered = sum(e - s for s, e, _ in turns)
    assert covered == sum(b - a for a, b in intervals)
    assert all(any(a <= s < e <= b for a, b in intervals) for s, e, _ in turns)
    assert all(t1[1] <= t2[0] for t1, t2 in zip(turns, turns[1:]))
    firsts = []
    for *_, spk in turns:
        if spk not in firsts:
            firsts.append(spk)
    assert firsts == list(range(len(firsts)))
    assert not any(t1[1] == t2[0] and t1[2] == t2[2] for t1, t2 in zip(turns, turns[1:]))  # merged


def _score(turns: list, reference: list) -> float:
    return der(reference, [(s / SR, e / SR, str(spk)) for s, e, spk in turns])["der"]


@pytest.fixture(scope="module")
def two_voices():
    x, reference = session(["espeak-us-m1", "espeak-us-f2"], 14, seed=1)
    return x, reference, Detector(VAD)(x)


@pytest.mark.parametrize("n_speakers", [2, None])
def test_two_voices_are_told_apart(two_voices, n_speakers):
    x, reference, intervals = two_voices
    turns = diarize.speaker_turns(x, intervals, n_speakers=n_speakers)
    _check_turns(turns, intervals)
    assert len({spk for *_, spk in turns}) == 2
    assert _score(turns, reference) <= 0.10


def test_two_similar_male_voices_with_known_count():
    x, reference = session(["espeak-us-m1", "espeak-us-m3"], 14, seed=2)
    intervals = Detector(VAD)(x)
    turns = diarize.speaker_turns(x, intervals, n_speakers=2)
    _check_turns(turns, intervals)
    assert _score(turns, reference) <= 0.10


def test_one_voice_is_one_speaker():
    x, reference = session(["espeak-us-m1"], 12, seed=3)
    intervals = Detector(VAD)(x)
    turns = diarize.speaker_turns(x, intervals)
    _check_turns(turns, intervals)
    assert {spk for *_, spk in turns} == {0}
    assert _score(turns, reference) <= 0.10


def test_silence_raises_and_no_intervals_give_no_turns():
    x = (1e-4 * np.random.default_rng(0).standard_normal(20 * SR)).astype(np.float32)  # -80 dBFS hiss
    intervals = Detector(VAD)(x)  # the VAD falls back to the whole recording when it finds (almost) nothing
    with pytest.raises(KitError, match="no audible speech"):
        diarize.speaker_turns(x, intervals)
    assert diarize.speaker_turns(x, []) == []


def test_bad_arguments_are_named():
    x = np.zeros(SR, np.float32)
    with pytest.raises(KitError, match="mono"):
        diarize.speaker_turns(np.zeros((SR, 2), np.float32), [(0, SR)])
    with pytest.raises(KitError, match="n_speakers"):
        diarize.speaker_turns(x, [(0, SR)], n_speakers=0)


def test_window_statistics_do_not_depend_on_the_block_size(two_voices, monkeypatch):
    x, _, intervals = two_voices
    whole, centres, _ = diarize.window_stats(x, intervals)
    monkeypatch.setattr(diarize, "BLOCK_S", 2.0)  # blocks far shorter than the speech intervals
    blocked, centres2, _ = diarize.window_stats(x, intervals)
    assert np.array_equal(centres, centres2)
    np.testing.assert_allclose(blocked, whole, rtol=1e-3, atol=1e-3)
