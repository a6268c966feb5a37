"""The bad-input corpus: every kind of broken input gets a clear error or a logged skip naming the file.

The corpus is generated here (no committed binaries). Kinds covered elsewhere: a text corpus with no English
(test_text), checkpoints of the wrong kind or with too few layers (test_wav2vec2, test_features), a
truncated .npy (test_features), malformed and unknown parameters (test_params), archives with ../ paths,
absolute paths or symlinks and corrupted downloads (test_download, test_librispeech).
"""
import logging

import numpy as np
import pytest
import soundfile as sf

from aitranscribe.features.vad import Detector
from aitranscribe.io import audio as audio_io
from aitranscribe.io import manifest
from aitranscribe.sources import folder as folder_source
from aitranscribe.stages import data
from aitranscribe.core.errors import BadInputError
from aitranscribe.core.params import stage_spec, validate

SR = 16000
TONE = (0.3 * np.sin(np.arange(SR) / 10)).astype(np.float32)


def _truncate(path, keep=0.5):
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


def make(kind, path):
    """Write one broken file of ``kind`` at ``path``; return the expected message fragment."""
    if kind == "truncated_wav":
        sf.write(str(path), TONE, SR)
        _truncate(path)
        return "truncated WAV"
    if kind == "truncated_flac":
        sf.write(str(path), TONE, SR)
        _truncate(path)
        return "corrupt audio"
    if kind == "zero_length":
        path.write_bytes(b"")
        return "empty file (0 bytes)"
    if kind == "header_only":
        sf.write(str(path), np.zeros(0, np.float32), SR)
        return "audio has no samples"
    if kind in ("nan_samples", "inf_samples"):
        x = TONE.copy()
        x[100] = np.nan if kind == "nan_samples" else np.inf
        sf.write(str(path), x, SR, subtype="FLOAT")
        return "NaN or infinite samples"
    if kind in ("rate_8k", "rate_48k"):
        rate = 8000 if kind == "rate_8k" else 48000
        sf.write(str(path), TONE, rate)
        return f"sample rate {rate} Hz, expected 16000 Hz"
    if kind in ("stereo", "six_channels"):
        channels = 2 if kind == "stereo" else 6
        sf.write(str(path), np.tile(TONE[:, None], (1, channels)), SR)
        return f"{channels} channels, expected mono"
    if kind == "not_audio":
        path.write_text("this is a text file with an audio name")
        return "not readable audio"
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        return "not readable audio"
    raise ValueError(kind)


AUDIO_KINDS = {"truncated_wav": ".wav", "truncated_flac": ".flac", "zero_length": ".wav", "header_only": ".wav",
               "nan_samples": ".wav", "inf_samples": ".wav", "rate_8k": ".wav", "rate_48k": ".wav",
               "stereo": ".wav", "six_channels": ".wav", "not_audio": ".wav", "random_bytes": ".mp3"}


@pytest.mark.parametrize("kind", sorted(AUDIO_KINDS))
def test_prepared_audio_errors_name_file_and_reason(kind, tmp_path):
    path = tmp_path / f"{kind}{AUDIO_KINDS[kind]}"
    expected = make(kind, path)
    with pytest.raises(BadInputError) as err:
        audio_io.read(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_folder_source_skips_every_bad_kind_and_keeps_the_good(scratch_params, tmp_path, caplog):
    folder = tmp_path / "recordings"
    folder.mkdir()
    expected = {}
    for kind, suffix in AUDIO_KINDS.items():
        if kind in ("rate_8k", "rate_48k", "stereo", "six_channels"):
            continue  # convertible: the folder source resamples and mixes down
        expected[f"{kind}{suffix}"] = make(kind, folder / f"{kind}{suffix}")
    for kind in ("rate_8k", "rate_48k", "stereo", "six_channels"):
        make(kind, folder / f"{kind}.wav")
    sf.write(str(folder / "clipped.wav"), np.clip(TONE * 20, -1, 1), SR)
    (folder / "latin1.wav").write_bytes((folder / "stereo.wav").read_bytes())
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    sf.write(str(folder / "blank_transcript.wav"), TONE, SR)
    (folder / "blank_transcript.txt").write_text("  ...  \n")
    expected["latin1.txt"] = "transcript is not UTF-8"
    expected["blank_transcript.wav"] = "its transcript is empty"
    p = validate({**scratch_params, "source": "folder", "folder": str(folder)}, stage_spec(data.PARAMS), "test")
    with caplog.at_level(logging.WARNING):
        record = data.run(p)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    for name, message in expected.items():
        assert any(name in e and message in e for e in errors), (name, message, errors)
    assert any("clipped.wav" in r.getMessage() and "clipped recording" in r.getMessage() for r in caplog.records)
    kept = sorted(sum((manifest.read(record["manifests"], s).paths for s in manifest.SPLITS), []))
    assert kept == ["clipped.flac", "rate_48k.flac", "rate_8k.flac", "six_channels.flac", "stereo.flac"]


def test_silence_only_keeps_the_utterance_whole():
    p = {"vad": True, "vad_threshold": 0.4, "vad_window_ms": 25.0, "vad_shift_ms": 10.0, "min_speech_fraction": 0.05}
    silence = np.zeros(SR, np.float32)
    assert Detector(p)(silence) == [(0, SR)]


def test_manifest_problems(tmp_path):
    sf.write(str(tmp_path / "a.wav"), TONE, SR)
    (tmp_path / "train.tsv").write_text(f"{tmp_path}\na.wav\t16000\nmissing.wav\t16000\n")
    with pytest.raises(BadInputError, match=r"train.tsv: 1 audio file\(s\) listed but missing.*missing.wav"):
        manifest.read(tmp_path, "train")
    (tmp_path / "valid.tsv").write_text(f"{tmp_path}\na.wav 16000\n")
    with pytest.raises(BadInputError, match=r"valid.tsv: line 2: expected 'path<TAB>num_samples'"):
        manifest.read(tmp_path, "valid")
    (tmp_path / "test.tsv").write_text(f"{tmp_path}\na.wav\t16000\n")
    (tmp_path / "test.wrd").write_text("one\ntwo\n")
    with pytest.raises(BadInputError, match="test.wrd: 2 lines but test.tsv lists 1 utterances"):
        manifest.read(tmp_path, "test")
    (tmp_path / "test.wrd").write_bytes(b"caf\xe9\n")
    with pytest.raises(BadInputError, match=r"test.wrd: not UTF-8 text"):
        manifest.read(tmp_path, "test")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(BadInputError, match="empty.tsv: empty manifest"):
        manifest.read(tmp_path, "empty")


def test_transcript_table_malformed(tmp_path):
    table = tmp_path / "transcripts.tsv"
    table.write_text("a.wav\thello\nno tab on this line\n")
    with pytest.raises(BadInputError, match="transcripts.tsv: line 2: expected 'relative/path<TAB>words'"):
        folder_source.read_transcripts_tsv(table)


def test_very_long_recording_is_streamed_not_loaded_whole(tmp_path, monkeypatch):
    """Past STREAM_SECONDS a recording is converted block by block, with the same result as in one piece."""
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((44100 * 5, 2))).astype(np.float32)
    src = tmp_path / "long.wav"
    sf.write(str(src), x, 44100, subtype="FLOAT")
    whole = audio_io.convert_to_16k_mono(src, tmp_path / "whole.flac")
    monkeypatch.setattr(audio_io, "STREAM_SECONDS", 1.0)
    monkeypatch.setattr(audio_io, "read", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded whole")))
    streamed = audio_io.convert_to_16k_mono(src, tmp_path / "streamed.flac")
    a, _ = sf.read(str(tmp_path / "whole.flac"))
    b, _ = sf.read(str(tmp_path / "streamed.flac"))
    assert whole.frames == streamed.frames == 80000 and np.abs(a - b).max() <= 1 / 32768


def test_stream_resampling_equals_one_shot():
    rng = np.random.default_rng(1)
    for rate in (8000, 22050, 44100, 48000):
        x = (0.1 * rng.standard_normal(rate * 3)).astype(np.float32)
        blocks = [x[i:i + 9999] for i in range(0, len(x), 9999)]
        streamed = np.concatenate(list(audio_io.stream_resampled(blocks, rate, block_frames=rate // 2)))
        assert np.allclose(streamed, audio_io.resample(x, rate), atol=1e-6)
