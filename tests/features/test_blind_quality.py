"""Blind audio measures: a noisier recording has the lower blind SNR, a telephone-band one is left out."""
import numpy as np
import pytest

from aitranscribe.features import blind_quality

SR = 16000


def _speechlike(rng, seconds=2.0):
    """Bursts of broadband sound between pauses: a signal whose frame powers spread as speech's do."""
    n = int(seconds * SR)
    envelope = (np.sin(np.arange(n) / SR * 2 * np.pi * 2.0) > 0).astype(float)
    return envelope * rng.normal(0, 0.3, n)


def _telephone(x):
    """Everything above 3.4 kHz removed (an ideal low-pass in the frequency domain)."""
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / SR) > 3400] = 0
    return np.fft.irfft(spectrum, len(x))


def test_noise_lowers_the_blind_snr_and_a_telephone_band_has_no_high_band():
    rng = np.random.default_rng(0)
    clean = _speechlike(rng)
    noisy = clean + rng.normal(0, 0.1, len(clean))
    q_clean, q_noisy = blind_quality.measure(clean, SR), blind_quality.measure(noisy, SR)
    assert q_clean["snr_db"] > q_noisy["snr_db"] + 10
    assert q_clean["high_share"] == pytest.approx(0.5, abs=0.1)  # white bursts: half the band above 4 kHz
    assert blind_quality.measure(_telephone(clean), SR)["high_share"] < 1e-3
    assert blind_quality.measure(np.zeros(10), SR)["snr_db"] == pytest.approx(0.0, abs=1e-6)  # shorter than a frame


def test_the_cleanest_share_keeps_the_highest_snr_and_leaves_band_limited_recordings_out():
    rows = [{"snr_db": 30.0, "high_share": 0.0001},   # telephone: left out, however high its SNR
            {"snr_db": 25.0, "high_share": 0.3}, {"snr_db": 5.0, "high_share": 0.3},
            {"snr_db": 15.0, "high_share": 0.2}, {"snr_db": 10.0, "high_share": 0.25}]
    assert blind_quality.cleanest(rows, 0.4) == [1, 3]
    assert blind_quality.cleanest(rows, 1.0) == [1, 2, 3, 4]
    assert blind_quality.cleanest([], 0.4) == []
