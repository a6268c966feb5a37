"""Rooms and microphones for synthetic speech: reverberation, noise at a chosen SNR, a telephone channel, levels.

Each utterance of a corpus may get a *condition* (:func:`plan` draws them with the corpus seed, one independent
draw per utterance index, so the same seed gives the same conditions and a resumed build the same audio):

- ``room``: a shoebox room (size, target RT60, talker and microphone positions) whose impulse response comes from
  pyroomacoustics' image-source method (absorption and reflection order from Sabine's formula for the target
  RT60). The image-source responses decay slower than Sabine's formula says: over 40 rooms of the demo-voices
  corpus (targets 0.20-0.59 s) :func:`measured_rt60` gave 0.22-1.19 s, a median 1.36x the target.
- ``noise``: white, pink or brown Gaussian noise scaled to ``snr_db``: 10 log10 of the speech's mean power over
  the noise's, over the whole utterance, measured at the microphone (after the room, before the channel).
- ``telephone``: the G.711 path: 8 kHz, 300-3400 Hz band, 8-bit mu-law companding, back to 16 kHz.
- ``level_db``: the recording level relative to the corpus's normal peak (0.9 full scale).

:func:`apply` runs room -> noise -> telephone -> level on 16 kHz float audio; every random choice (noise samples
too) comes from the condition itself, so it is a pure function of its inputs.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

from ..core.errors import KitError
from ..io.audio import TARGET_SR

COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectrum ~ 1 / f^exponent
PEAK = 0.9
TELEPHONE_SR, TELEPHONE_BAND = 8000, (300.0, 3400.0)
MU = 255.0


def _share(rng: np.random.Generator, fraction: float) -> bool:
    return bool(rng.random() < fraction)


def draw(rng: np.random.Generator, s: dict) -> dict | None:
    """One utterance's condition from settings ``s`` (``room``, ``noise``, ``telephone``, ``level``: the shares of
    utterances that get each, drawn independently; ``rt60_s`` and ``level_db``: ranges; ``snr_db`` and
    ``colours``: choices), or None for a clean one. Every draw is made whether used or not, so changing one share
    leaves the others' choices in place."""
    has = {k: _share(rng, s[k]) for k in ("room", "noise", "telephone", "level")}
    size = [float(rng.uniform(3.0, 8.0)), float(rng.uniform(3.0, 6.0)), float(rng.uniform(2.4, 3.2))]
    rt60 = float(rng.uniform(*s["rt60_s"]))
    talker = [float(rng.uniform(0.5, d - 0.5)) for d in size[:2]] + [float(rng.uniform(1.4, 1.8))]
    mic = [float(rng.uniform(0.5, d - 0.5)) for d in size[:2]] + [float(rng.uniform(0.7, 1.5))]
    snr, colour = float(rng.choice(s["snr_db"])), str(rng.choice(s["colours"]))
    noise_seed, level = int(rng.integers(2**31)), float(rng.uniform(*s["level_db"]))
    condition = {}
    if has["room"]:
        condition["room"] = {"size_m": [round(v, 3) for v in size], "rt60_s": round(rt60, 3),
                             "talker_m": [round(v, 3) for v in talker], "mic_m": [round(v, 3) for v in mic]}
    if has["noise"]:
        condition["noise"] = {"colour": colour, "snr_db": snr, "seed": noise_seed}
    if has["telephone"]:
        condition["telephone"] = True
    if has["level"]:
        condition["level_db"] = round(level, 2)
    return condition or None


def plan(n: int, s: dict, seed: int) -> list[dict | None]:
    """Conditions of utterances ``0..n-1`` (:func:`draw`), each from its own generator keyed by ``seed`` and index."""
    check(s)
    if not any(s[k] > 0 for k in ("room", "noise", "telephone", "level")):
        return [None] * n
    return [draw(np.random.default_rng([seed, 35, 2, i]), s) for i in range(n)]


def check(s: dict) -> None:
    """Errors for settings that cannot be drawn from: shares outside 0..1, empty or reversed ranges, bad colours."""
    for k in ("room", "noise", "telephone", "level"):
        if not 0.0 <= s[k] <= 1.0:
            raise KitError(f"demo_rooms.{k}: a share between 0 and 1, got {s[k]}")
    for k in ("rt60_s", "level_db"):
        if len(s[k]) != 2 or s[k][0] > s[k][1]:
            raise KitError(f"demo_rooms.{k}: a range [low, high], got {s[k]}")
    if s["rt60_s"][0] <= 0:
        raise KitError(f"demo_rooms.rt60_s: reverberation times are positive, got {s['rt60_s']}")
    if not s["snr_db"] or not s["colours"] or set(s["colours"]) - set(COLOURS):
        raise KitError(f"demo_rooms: snr_db needs at least one value and colours some of {list(COLOURS)}, got "
                       f"{s['snr_db']} and {s['colours']}")


def room_impulse_response(room: dict, sr: int = TARGET_SR) -> np.ndarray:
    """The impulse response from talker to microphone of ``room`` (image-source method), starting 40 samples (the
    fractional-delay filter's half length) before its direct path."""
    import pyroomacoustics as pra

    try:
        absorption, max_order = pra.inverse_sabine(room["rt60_s"], room["size_m"])
    except ValueError as exc:
        raise KitError(f"room {room['size_m']} m cannot have RT60 {room['rt60_s']} s: {exc}") from None
    shoebox = pra.ShoeBox(room["size_m"], fs=sr, materials=pra.Material(absorption), max_order=max_order)
    shoebox.add_source(room["talker_m"])
    shoebox.add_microphone(room["mic_m"])
    shoebox.compute_rir()
    rir = np.asarray(shoebox.rir[0][0], dtype=np.float64)
    return rir[max(int(np.argmax(np.abs(rir))) - 40, 0):]


def measured_rt60(rir: np.ndarray, sr: int = TARGET_SR) -> float:
    """RT60 of an impulse response from its Schroeder decay (pyroomacoustics' -5 to -65 dB fit, extrapolated)."""
    import pyroomacoustics as pra

    return float(pra.experimental.measure_rt60(rir, fs=sr))


def reverberate(x: np.ndarray, rir: np.ndarray, tail_s: float) -> np.ndarray:
    """``x`` through ``rir``, keeping ``tail_s`` seconds of its reverberant tail after the dry signal ends."""
    y = fftconvolve(x.astype(np.float64), rir)
    return y[:len(x) + int(tail_s * TARGET_SR)]


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of Gaussian noise whose power spectrum falls as 1 / f^k (white 0, pink 1, brown 2), unit power."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / f ** (COLOURS[colour] / 2), n)
    noise -= noise.mean()
    return noise / np.sqrt(np.mean(noise ** 2))


def snr_db(signal: np.ndarray, noisy: np.ndarray) -> float:
    """10 log10 of the mean power of ``signal`` over that of ``noisy - signal``."""
    return 10 * math.log10(np.mean(np.square(signal, dtype=np.float64)) /
                           np.mean(np.square(noisy.astype(np.float64) - signal)))


def add_noise(x: np.ndarray, snr: float, colour: str, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus ``colour`` noise scaled so that :func:`snr_db` of the result is ``snr``."""
    power = float(np.mean(np.square(x, dtype=np.float64)))
    if power <= 0:
        raise KitError("cannot add noise at an SNR to a silent signal")
    return x + coloured_noise(len(x), colour, rng) * math.sqrt(power / 10 ** (snr / 10))


def telephone(x: np.ndarray, sr: int = TARGET_SR) -> np.ndarray:
    """``x`` through a G.711 telephone channel: to 8 kHz, 300-3400 Hz band, 8-bit mu-law, back to ``sr``."""
    ratio = Fraction(TELEPHONE_SR, sr)
    y = resample_poly(x, ratio.numerator, ratio.denominator)
    y = sosfilt(butter(4, TELEPHONE_BAND, btype="bandpass", fs=TELEPHONE_SR, output="sos"), y)
    y = np.clip(y / max(float(np.abs(y).max()), 1e-9), -1, 1)  # the codec's full scale
    code = np.round(np.sign(y) * np.log1p(MU * np.abs(y)) / np.log1p(MU) * 127) / 127  # 8 bits: sign + 7
    y = np.sign(code) * np.expm1(np.abs(code) * np.log1p(MU)) / MU
    return resample_poly(y, ratio.denominator, ratio.numerator)[:int(round(len(x)))]


def _peak(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    return peak * x / max(float(np.abs(x).max()), 1e-9)


def apply(x: np.ndarray, condition: dict | None) -> np.ndarray:
    """``x`` (16 kHz, peak ``PEAK``) through ``condition``'s room, noise, telephone channel and level (each if
    present), peak ``PEAK`` before the level; float32. Without a condition, ``x`` itself."""
    if not condition:
        return x
    y = x.astype(np.float64)
    if "room" in condition:
        rir = room_impulse_response(condition["room"])
        y = _peak(reverberate(y, rir, tail_s=0.5 * condition["room"]["rt60_s"]))
    if "noise" in condition:
        noise = condition["noise"]
        y = _peak(add_noise(y, noise["snr_db"], noise["colour"], np.random.default_rng(noise["seed"])))
    if condition.get("telephone"):
        y = _peak(telephone(y))
    y = y * 10 ** (condition.get("level_db", 0.0) / 20)
    return y.astype(np.float32)
