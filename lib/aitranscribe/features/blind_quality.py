"""Label-free audio measures of a recording, and the share of a corpus that sounds cleanest by them.

No transcript, speaker name or condition label is read: only the samples.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HIGH_HZ = 4000.0     # telephone lines carry nothing above 3.4 kHz
BAND_LIMITED = 0.05  # a high-band share below this fraction of the corpus's median: band-limited
FRAME, HOP = 400, 160  # 25 ms frames every 10 ms at 16 kHz


def measure(samples: np.ndarray, sr: int) -> dict:
    """``snr_db``: the 90th over the 10th percentile of the frame powers, in dB (a blind signal-to-noise ratio);
    ``high_share``: the share of the power above :data:`HIGH_HZ`. ``samples``: mono audio at rate ``sr``."""
    x = np.asarray(samples, dtype=np.float64)
    x = np.pad(x, (0, max(0, FRAME - len(x))))
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::HOP]
    power = (frames ** 2).mean(1)
    top, floor = np.percentile(power, 90), np.percentile(power, 10)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2
    freqs = np.fft.rfftfreq(FRAME, 1 / sr)
    return {"snr_db": round(float(10 * np.log10((top + 1e-12) / (floor + 1e-12 + 1e-9 * top))), 2),
            "high_share": float(spectrum[:, freqs >= HIGH_HZ].sum() / max(spectrum.sum(), 1e-30))}


def measure_file(path: Path) -> dict:
    """:func:`measure` of the recording at ``path``."""
    from ..io import audio

    samples, sr = audio.read(path)
    return measure(samples, sr)


def cleanest(qualities: list[dict], share: float) -> list[int]:
    """Indices (sorted) of the ``share`` of all recordings with the highest ``snr_db`` among those that are not
    band-limited (``high_share`` under :data:`BAND_LIMITED` x the median's). ``qualities``: :func:`measure` rows."""
    if not qualities:
        return []
    median = float(np.median([q["high_share"] for q in qualities]))
    wide = [i for i, q in enumerate(qualities) if q["high_share"] >= BAND_LIMITED * median]
    wide.sort(key=lambda i: -qualities[i]["snr_db"])
    return sorted(wide[:int(round(share * len(qualities)))])
