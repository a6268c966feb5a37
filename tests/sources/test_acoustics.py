"""Rooms and microphones: noise at the intended SNR, image-source rooms, the telephone channel, levels, the plan."""
import numpy as np
import pytest
from scipy.signal import welch

from aitranscribe.core.errors import KitError
from aitranscribe.sources import acoustics, voices

SETTINGS = {"room": 0.25, "noise": 0.25, "telephone": 0.1, "level": 0.25, "rt60_s": [0.2, 0.6],
            "snr_db": [20, 10, 5], "colours": ["white", "pink", "brown"], "level_db": [-25.0, -3.0]}


@pytest.fixture(scope="module")
def speech():
    x = voices.speak("espeak-ng", "en-us+m1", "he dealt the cards face down and smiled", 1.0, 45, 165)
    loud = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
    x = x[loud[0]:loud[-1] + 1]  # without espeak's leading and trailing silence: the tail is the room's
    return (acoustics.PEAK * x / np.abs(x).max()).astype(np.float32)


def band_db(x, y, lo, hi):
    """Power of ``y`` against ``x`` (both at equal total power) in the band lo..hi Hz, in dB."""
    f, px = welch(x, 16000, nperseg=1024)
    _, py = welch(y * np.sqrt(np.mean(x ** 2) / np.mean(y ** 2)), 16000, nperseg=1024)
    m = (f >= lo) & (f < hi)
    return 10 * np.log10(py[m].sum() / px[m].sum())


@pytest.mark.parametrize("colour", sorted(acoustics.COLOURS))
@pytest.mark.parametrize("snr", [20, 10, 5, 0])
def test_noise_is_added_at_the_intended_snr(speech, colour, snr):
    noisy = acoustics.add_noise(speech, snr, colour, np.random.default_rng(3))
    assert acoustics.snr_db(speech, noisy) == pytest.approx(snr, abs=1e-6)
    assert not np.allclose(noisy, speech)


def test_noise_colours_tilt_the_spectrum():
    rng = np.random.default_rng(0)
    tilt = {}
    for colour in acoustics.COLOURS:
        f, p = welch(acoustics.coloured_noise(160000, colour, rng), 16000, nperseg=2048)
        tilt[colour] = 10 * np.log10(p[(f > 100) & (f < 200)].mean() / p[(f > 4000) & (f < 8000)].mean())
    assert abs(tilt["white"]) < 2 and 10 < tilt["pink"] < 20 and tilt["brown"] > 25


def test_silence_cannot_get_an_snr():
    with pytest.raises(KitError, match="silent"):
        acoustics.add_noise(np.zeros(1000), 10, "white", np.random.default_rng(0))


@pytest.mark.parametrize("rt60", [0.2, 0.4, 0.6])
def test_a_room_reverberates_with_about_its_rt60(speech, rt60):
    room = {"size_m": [6.0, 4.5, 2.8], "rt60_s": rt60, "talker_m": [2.0, 1.5, 1.6], "mic_m": [4.1, 3.0, 1.2]}
    rir = acoustics.room_impulse_response(room)
    # image sources decay a little slower than Sabine's formula says: measured 0.22, 0.53, 0.86 s here
    assert rt60 <= acoustics.measured_rt60(rir) <= 1.5 * rt60
    assert np.argmax(np.abs(rir)) == 40  # the direct path first, after the fractional-delay filter's half length
    wet = acoustics.reverberate(speech, rir, tail_s=0.5 * rt60)
    assert len(wet) == len(speech) + int(0.5 * rt60 * 16000)
    dry = np.concatenate([speech, np.zeros(len(wet) - len(speech))])
    assert abs(np.corrcoef(dry[40:], wet[:-40])[0, 1]) < 0.9  # the signal changed, more with more reverberation
    assert np.sqrt(np.mean(wet[len(speech):] ** 2)) > 1e-3 * np.sqrt(np.mean(wet ** 2))  # a tail after the speech


def test_an_impossible_room_is_a_clear_error():
    room = {"size_m": [40.0, 40.0, 20.0], "rt60_s": 0.05, "talker_m": [2, 2, 1.6], "mic_m": [4, 3, 1.2]}
    with pytest.raises(KitError, match="cannot have RT60"):
        acoustics.room_impulse_response(room)


def test_the_telephone_keeps_300_to_3400_hz(speech):
    line = acoustics.telephone(speech)
    assert abs(len(line) - len(speech)) <= 1
    assert band_db(speech, line, 3800, 8000) < -25  # above the band: gone (8 kHz sampling)
    assert band_db(speech, line, 0, 200) < -10      # below it: damped
    assert abs(band_db(speech, line, 500, 3000)) < 3  # inside: kept
    assert len(np.unique(np.round(np.abs(line[::2]), 4))) > 100  # companded, not clipped to a few values


def test_apply_chains_the_parts_and_sets_the_level(speech):
    assert acoustics.apply(speech, None) is speech
    quiet = acoustics.apply(speech, {"level_db": -12.0})
    assert np.abs(quiet).max() == pytest.approx(acoustics.PEAK * 10 ** (-12 / 20), rel=1e-6)
    noisy = acoustics.apply(speech, {"noise": {"colour": "pink", "snr_db": 10.0, "seed": 5}})
    again = acoustics.add_noise(speech.astype(np.float64), 10.0, "pink", np.random.default_rng(5))
    scale = acoustics.PEAK / np.abs(again).max()  # noise, then the peak: both scaled alike
    assert acoustics.snr_db(scale * speech, noisy) == pytest.approx(10.0, abs=1e-3)
    both = {"room": {"size_m": [5.0, 4.0, 2.7], "rt60_s": 0.3, "talker_m": [1.5, 1.5, 1.6], "mic_m": [3.5, 2.5, 1.0]},
            "noise": {"colour": "white", "snr_db": 5.0, "seed": 1}, "telephone": True, "level_db": -6.0}
    y = acoustics.apply(speech, both)
    assert y.dtype == np.float32 and len(y) > len(speech)
    assert np.abs(y).max() == pytest.approx(acoustics.PEAK * 10 ** (-6 / 20), rel=1e-5)
    assert np.array_equal(y, acoustics.apply(speech, both))  # a pure function of its inputs


def test_plan_draws_shares_reproducibly():
    plan = acoustics.plan(4000, SETTINGS, seed=7)
    assert plan == acoustics.plan(4000, SETTINGS, seed=7) and plan != acoustics.plan(4000, SETTINGS, seed=8)
    share = {k: np.mean([bool(c and k in c) for c in plan]) for k in ("room", "noise", "telephone", "level_db")}
    assert share == pytest.approx({"room": 0.25, "noise": 0.25, "telephone": 0.1, "level_db": 0.25}, abs=0.03)
    assert np.mean([c is None for c in plan]) == pytest.approx(0.75 * 0.75 * 0.9 * 0.75, abs=0.03)
    snrs = {c["noise"]["snr_db"] for c in plan if c and "noise" in c}
    assert snrs == {20.0, 10.0, 5.0}
    assert all(0.2 <= c["room"]["rt60_s"] <= 0.6 for c in plan if c and "room" in c)
    # one share changed: every other choice stays where it was
    more_noise = acoustics.plan(4000, {**SETTINGS, "noise": 0.5}, seed=7)
    assert [c and c.get("room") for c in plan] == [c and c.get("room") for c in more_noise]
    assert acoustics.plan(5, {**SETTINGS, "room": 0, "noise": 0, "telephone": 0, "level": 0}, 7) == [None] * 5


@pytest.mark.parametrize("bad, match", [({"room": 1.5}, "share between 0 and 1"), ({"rt60_s": [0.6, 0.2]}, "range"),
                                        ({"colours": ["purple"]}, "colours"), ({"snr_db": []}, "snr_db")])
def test_bad_settings_are_clear_errors(bad, match):
    with pytest.raises(KitError, match=match):
        acoustics.plan(3, {**SETTINGS, **bad}, seed=0)
