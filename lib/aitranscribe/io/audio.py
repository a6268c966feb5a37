"""Audio reading, checking and conversion to 16 kHz mono, with clear errors naming the file.

soundfile (libsndfile) reads WAV, FLAC, OGG and MP3; resampling is a polyphase filter
(scipy.signal.resample_poly) with the exact rational ratio, so 44.1 kHz -> 16 kHz is 160/441.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ..core.errors import BadInputError

log = logging.getLogger(__name__)

TARGET_SR = 16000
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus")


@dataclass
class AudioInfo:
    """What the header of an audio file says."""

    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def info(path) -> AudioInfo:
    """Header of ``path``; BadInputError when it is missing, empty or not readable audio."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file not found")
    if path.stat().st_size == 0:
        raise BadInputError(path, "empty file (0 bytes)")
    try:
        i = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise BadInputError(path, f"not readable audio ({_reason(exc)})") from None
    if i.frames <= 0:
        raise BadInputError(path, "audio has no samples")
    if i.format == "WAV":
        _check_wav_complete(path)
    return AudioInfo(path, int(i.samplerate), int(i.channels), int(i.frames))


def _check_wav_complete(path: Path) -> None:
    """A WAV whose data chunk declares more bytes than the file holds was cut off: an error, not a shorter file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF":
            return
        f.seek(12)
        while True:
            header = f.read(8)
            if len(header) < 8:
                return
            chunk, length = header[:4], int.from_bytes(header[4:], "little")
            if chunk == b"data":
                available = size - f.tell()
                if length != 0xFFFFFFFF and length > available:
                    raise BadInputError(path, f"truncated WAV: the header declares {length} bytes of audio, "
                                              f"the file holds {available}")
                return
            f.seek(length + (length & 1), 1)


def _reason(exc) -> str:
    """libsndfile's message, without the file name it repeats and with its misleading wordings fixed."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if ": " in text and text.startswith("Error opening"):
        text = text.split(": ", 1)[1]
    if "does not exist or is not a regular file" in text:
        text = "unrecognised or corrupt data"  # libsndfile's wording for undecodable MP3 and the like
    return text.strip()


def read(path, expect_sr: int | None = TARGET_SR, mono: bool = True) -> tuple[np.ndarray, int]:
    """Samples of ``path`` as float32 in [-1, 1] and its sample rate.

    With ``expect_sr`` a different rate is an error (prepared audio must be 16 kHz); with ``mono`` a
    multi-channel file is an error. Non-finite samples are an error.
    """
    head = info(path)
    if expect_sr is not None and head.sample_rate != expect_sr:
        raise BadInputError(path, f"sample rate {head.sample_rate} Hz, expected {expect_sr} Hz "
                                  f"(convert it with source=folder, which resamples)")
    if mono and head.channels != 1:
        raise BadInputError(path, f"{head.channels} channels, expected mono (source=folder mixes channels down)")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BadInputError(path, f"corrupt audio ({_reason(exc)})") from None
    if x.shape[0] == 0:
        raise BadInputError(path, "audio has no samples")
    if not np.isfinite(x).all():
        raise BadInputError(path, "audio contains NaN or infinite samples")
    return (x[:, 0] if mono else x), int(sr)


def resample(x: np.ndarray, sr_in: int, sr_out: int = TARGET_SR) -> np.ndarray:
    """``x`` (1-D) resampled from ``sr_in`` to ``sr_out`` with the exact rational ratio."""
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    ratio = Fraction(sr_out, sr_in)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


STREAM_SECONDS = 120.0  # longer recordings are converted block by block, never loaded whole


def convert_to_16k_mono(src, dst) -> AudioInfo:
    """Read any supported file, mix to mono, resample to 16 kHz and write 16-bit FLAC to ``dst``.

    Recordings longer than ``STREAM_SECONDS`` are streamed in blocks (two passes: peak, then conversion).
    """
    head = info(src)
    if head.seconds > STREAM_SECONDS:
        return _convert_streaming(head, Path(dst))
    x, sr = read(src, expect_sr=None, mono=False)
    changes = []
    if x.shape[1] > 1:
        x = x.mean(axis=1, keepdims=True)
        changes.append(f"{head.channels} channels -> mono")
    if sr != TARGET_SR:
        changes.append(f"{sr} Hz -> {TARGET_SR} Hz")
    clipped = float(np.mean(np.abs(x) >= 0.999))
    if clipped > 0.001:
        log.warning("%s: %.1f%% of the samples are at full scale (clipped recording); kept", Path(src).name,
                    100 * clipped)
    y = resample(x[:, 0], sr, TARGET_SR)
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak > 1.0:
        y = y / peak
        changes.append(f"rescaled peak {peak:.2f} to 1.0")
    if changes:
        log.info("converted %s: %s", Path(src).name, ", ".join(changes))
    write(dst, y)
    return AudioInfo(Path(dst), TARGET_SR, 1, len(y))


def stream_resampled(blocks, sr_in: int, block_frames: int = 60 * TARGET_SR):
    """The 16 kHz resampling of a long mono signal given as consecutive blocks, equal to one-shot
    :func:`resample` up to rounding: every span is resampled with enough neighbouring input on both sides
    (more than the filter's half-length) and only the output of the span itself is kept."""
    ratio = Fraction(TARGET_SR, sr_in)
    up, down = ratio.numerator, ratio.denominator
    half = 10 * max(up, down) // up + 1  # resample_poly's default filter half-length, in input samples
    margin = down * -(-half // down)
    block_frames = down * -(-block_frames // down)
    history = pending = np.zeros(0, np.float32)
    for block in blocks:
        pending = np.concatenate([pending, np.asarray(block, np.float32)])
        while len(pending) >= block_frames + margin:
            span = pending[:block_frames]
            yield _resample_span(history, span, pending[block_frames:block_frames + margin], up, down)
            history = np.concatenate([history, span])[-margin:]
            pending = pending[block_frames:]
    if len(pending):
        yield _resample_span(history, pending, np.zeros(0, np.float32), up, down)


def _resample_span(history, span, future, up, down) -> np.ndarray:
    y = resample_poly(np.concatenate([history, span, future]), up, down)
    offset = len(history) * up // down
    return y[offset:offset + -(-len(span) * up // down)].astype(np.float32)


def _mono_blocks(path: Path, frames: int):
    with sf.SoundFile(str(path)) as f:
        while True:
            block = f.read(frames, dtype="float32", always_2d=True)
            if not len(block):
                return
            if not np.isfinite(block).all():
                raise BadInputError(path, "audio contains NaN or infinite samples")
            yield block.mean(axis=1)


def _convert_streaming(head: AudioInfo, dst: Path) -> AudioInfo:
    """Long recordings: peak and clipping in a first pass, then block-wise conversion written as it goes."""
    from ..core.files import atomic_path

    block = 60 * head.sample_rate
    try:
        peak, clipped = 0.0, 0
        for x in _mono_blocks(head.path, block):
            peak = max(peak, float(np.abs(x).max()))
            clipped += int((np.abs(x) >= 0.999).sum())
        if clipped > 0.001 * head.frames:
            log.warning("%s: %.1f%% of the samples are at full scale (clipped recording); kept", head.path.name,
                        100 * clipped / head.frames)
        written = 0
        with atomic_path(dst) as tmp:
            with sf.SoundFile(str(tmp), "w", TARGET_SR, 1, subtype="PCM_16", format="FLAC") as out:
                for y in stream_resampled(_mono_blocks(head.path, block), head.sample_rate):
                    y = y / peak if peak > 1.0 else y
                    out.write(np.clip(y, -1.0, 1.0))
                    written += len(y)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BadInputError(head.path, f"corrupt audio ({_reason(exc)})") from None
    log.info("converted %s in blocks (%.0f s): %d channel(s) %d Hz -> mono %d Hz", head.path.name, head.seconds,
             head.channels, head.sample_rate, TARGET_SR)
    return AudioInfo(Path(dst), TARGET_SR, 1, written)


class AudioReader:
    """A 16 kHz mono file read lazily: ``len(reader)`` samples, ``reader[a:b]`` float32 samples read from disk, so a
    recording of any length is never held whole. ``blocks(seconds)`` yields ``(offset, samples)`` in order."""

    ndim = 1

    def __init__(self, path):
        head = info(path)
        if head.channels != 1 or head.sample_rate != TARGET_SR:
            raise BadInputError(head.path, f"expected {TARGET_SR} Hz mono, got {head.sample_rate} Hz "
                                           f"with {head.channels} channel(s)")
        self.path, self.n = head.path, head.frames

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("AudioReader supports contiguous slices only")
        a, b, _ = index.indices(self.n)
        if b <= a:
            return np.zeros(0, np.float32)
        try:
            with sf.SoundFile(str(self.path)) as f:
                f.seek(a)
                return f.read(b - a, dtype="float32")
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise BadInputError(self.path, f"corrupt audio ({_reason(exc)})") from None

    def blocks(self, seconds: float):
        """``(offset, samples)`` for consecutive blocks of ``seconds`` (the last one shorter)."""
        size = int(seconds * TARGET_SR)
        try:
            with sf.SoundFile(str(self.path)) as f:
                offset = 0
                while True:
                    x = f.read(size, dtype="float32")
                    if not len(x):
                        return
                    yield offset, x
                    offset += len(x)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise BadInputError(self.path, f"corrupt audio ({_reason(exc)})") from None


def write(path, samples: np.ndarray, sample_rate: int = TARGET_SR) -> Path:
    """Write mono float samples as 16-bit audio (format from the suffix), atomically."""
    from ..core.files import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fmt = {".flac": "FLAC", ".wav": "WAV"}.get(path.suffix.lower(), "FLAC")
        sf.write(str(tmp), np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format=fmt)
    return path
