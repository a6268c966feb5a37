"""Hand-crafted speech features with numpy/scipy: MFCC-13 + deltas, per-utterance CMVN, frame stacking.

Frames: 25 ms Hamming windows every 10 ms, pre-emphasis 0.97, 512-point FFT power spectrum, 40 mel
filters (20 Hz - 7.6 kHz), log, DCT-II (orthonormal) keeping 13 coefficients. Deltas by the usual
regression over +-2 frames. Stacking with ``context`` c concatenates frames t-c..t+c (edges repeated).
A ``warp`` factor other than 1 scales the filter edges (vocal tract length normalisation: a voice with
higher formants is read with a factor above 1).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.fft import dct, rfft
from ..io.audio import TARGET_SR

WINDOW = 400  # 25 ms
SHIFT = 160  # 10 ms
N_FFT = 512


def _mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _mel_inv(m):
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = 40, fmin: float = 20.0, fmax: float = 7600.0, warp: float = 1.0) -> np.ndarray:
    """Triangular mel filters as a (n_fft/2+1) x n_mels matrix; edges scaled by ``warp`` (kept below Nyquist)."""
    bins = np.linspace(0, TARGET_SR / 2, N_FFT // 2 + 1)
    edges = np.minimum(_mel_inv(np.linspace(_mel(fmin), _mel(fmax), n_mels + 2)) * warp, TARGET_SR / 2 - 10.0)
    fb = np.zeros((len(bins), n_mels), dtype=np.float32)
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (bins - lo) / max(mid - lo, 1e-6)  # edges clipped at Nyquist can coincide
        down = (hi - bins) / max(hi - mid, 1e-6)
        fb[:, m] = np.maximum(0.0, np.minimum(up, down))
    return fb


_FBANKS = {1.0: mel_filterbank()}
_WINDOW = np.hamming(WINDOW).astype(np.float32)


def n_frames(n_samples: int) -> int:
    """Frames of an utterance of ``n_samples`` (at least one)."""
    return max(1, 1 + (n_samples - WINDOW) // SHIFT)


def _fbank(warp: float) -> np.ndarray:
    if warp not in _FBANKS:
        _FBANKS[warp] = mel_filterbank(warp=warp)
    return _FBANKS[warp]


def log_mel(x: np.ndarray, warp: float = 1.0) -> np.ndarray:
    """Log mel energies, frames x 40, with filter edges scaled by ``warp`` (float32 throughout, as Kaldi)."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) < WINDOW:
        x = np.pad(x, (0, WINDOW - len(x)))
    emphasised = np.empty_like(x)
    emphasised[0] = x[0]
    np.subtract(x[1:], np.float32(0.97) * x[:-1], out=emphasised[1:])
    frames = sliding_window_view(emphasised, WINDOW)[::SHIFT][:n_frames(len(x))] * _WINDOW
    spectrum = rfft(frames, N_FFT)
    power = (spectrum.real ** 2 + spectrum.imag ** 2) / np.float32(N_FFT)
    return np.log(np.maximum(power @ _fbank(warp), np.float32(1e-10)))


def _edge_padded(feats: np.ndarray, width: int) -> np.ndarray:
    """``feats`` with its first and last frame repeated ``width`` times (np.pad's "edge" mode, faster)."""
    return feats[np.clip(np.arange(-width, len(feats) + width), 0, len(feats) - 1)]


def deltas(feats: np.ndarray, width: int = 2) -> np.ndarray:
    """Regression deltas over +-``width`` frames (edges repeated)."""
    padded = _edge_padded(feats, width)
    num = sum(k * (padded[width + k:len(feats) + width + k] - padded[width - k:len(feats) + width - k])
              for k in range(1, width + 1))
    return (num / (2 * sum(k * k for k in range(1, width + 1)))).astype(np.float32)


def stack(feats: np.ndarray, context: int) -> np.ndarray:
    """Frames t-context..t+context concatenated (edges repeated); ``context`` 0 returns ``feats``."""
    if context == 0:
        return feats
    padded = _edge_padded(feats, context)
    return np.concatenate([padded[k:k + len(feats)] for k in range(2 * context + 1)], axis=1)


def mfcc_features(x: np.ndarray, n_ceps: int = 13, context: int = 2, cmvn: bool = True, warp: float = 1.0) -> np.ndarray:
    """MFCC + delta + delta-delta (3 x ``n_ceps``), per-utterance CMVN, stacked +-``context`` frames."""
    ceps = dct(log_mel(x, warp), type=2, axis=1, norm="ortho")[:, :n_ceps].astype(np.float32)
    d1 = deltas(ceps)
    feats = np.concatenate([ceps, d1, deltas(d1)], axis=1)
    if cmvn:
        feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-5)
    return stack(feats, context).astype(np.float32)


def dim(n_ceps: int = 13, context: int = 2) -> int:
    """Feature dimension of :func:`mfcc_features`."""
    return 3 * n_ceps * (2 * context + 1)
