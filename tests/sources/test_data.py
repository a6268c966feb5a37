"""Stage 01: the demo corpus, a folder of recordings, manifests and skip-when-done."""
import logging

import numpy as np
import pytest
import soundfile as sf
from support import write_audio

from aitranscribe.core.stage import load_summary
from aitranscribe.io import manifest
from aitranscribe.sources import demo as demo_corpus
from aitranscribe.stages import data
from aitranscribe.text.normalize import normalize_words
from aitranscribe.core.errors import BadInputError, KitError
from aitranscribe.core.params import stage_spec, validate


def params(common, **overrides):
    return validate({**common, **overrides}, stage_spec(data.PARAMS), "test")


def test_wordnet_sentences_are_clean_and_many():
    sentences = demo_corpus.wordnet_sentences()
    assert len(sentences) > 20000
    assert all(5 <= len(normalize_words(s)) <= 16 for s in sentences)
    assert not any(ch.isdigit() for s in sentences for ch in s)


def test_split_is_disjoint_and_deterministic():
    sentences = demo_corpus.wordnet_sentences()
    audio, text = demo_corpus.split_sentences(sentences, 300, 500, seed=3)
    again = demo_corpus.split_sentences(sentences, 300, 500, seed=3)
    other = demo_corpus.split_sentences(sentences, 300, 500, seed=4)
    assert (audio, text) == again and audio != other[0]
    keys = lambda xs: {" ".join(normalize_words(s)) for s in xs}  # noqa: E731
    assert not keys(audio) & keys(text)
    with pytest.raises(KitError, match="usable ones"):
        demo_corpus.split_sentences(sentences, 10**6, 10, seed=0)


def test_every_voice_speaks_16k_audio():
    for voice in demo_corpus.VOICES:
        x = demo_corpus.synthesize(voice, "the cat sat on the mat", 1.0, 0)
        assert x.dtype == np.float32 and 0.5 < len(x) / 16000 < 4, voice


def test_demo_build_small(scratch_params):
    p = params(scratch_params, demo_n_train=12, demo_n_valid=3, demo_n_test=3, demo_n_text=40)
    record = data.run(p)
    summary = load_summary(record)
    assert summary["n_utterances"] == 18 and summary["n_text_sentences"] == 40
    test = manifest.read(record["manifests"], "test")
    assert len(test.words) == len(test.phones) == len(test.speakers) == 3
    assert all(test.phones)  # every reference has phones
    info = sf.info(str(test.audio_path(0)))
    assert (info.samplerate, info.channels) == (16000, 1)
    # the same parameters again: skipped, outputs untouched
    mtime = test.audio_path(0).stat().st_mtime_ns
    assert data.run(p)["dir"] == record["dir"]
    assert test.audio_path(0).stat().st_mtime_ns == mtime
    # other parameters: another output directory
    assert data.run(params(scratch_params, demo_n_train=12, demo_n_valid=3, demo_n_test=3, demo_n_text=40,
                           seed=1))["dir"] != record["dir"]


def test_folder_source_converts_good_and_reports_bad(scratch_params, tmp_path, tone, caplog):
    folder = tmp_path / "recordings"
    write_audio(folder / "alice" / "good.wav", tone(1.0, 44100, 2), 44100)
    (folder / "alice" / "good.txt").write_text("Hello, World!\n")
    (folder / "corrupt.wav").parent.mkdir(exist_ok=True)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    (folder / "empty.flac").write_bytes(b"")
    p = params(scratch_params, source="folder", folder=str(folder))
    with caplog.at_level(logging.ERROR):
        record = data.run(p)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("corrupt.wav" in e and "not readable audio" in e for e in errors), errors
    assert any("empty.flac" in e and "empty file" in e for e in errors), errors
    train = manifest.read(record["manifests"], "train")
    assert train.paths == ["alice/good.flac"] and train.words == ["hello world"] and train.speakers == ["alice"]
    info = sf.info(str(train.audio_path(0)))
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)


def test_folder_source_fail_mode_keeps_good_files(scratch_params, tmp_path, tone):
    folder = tmp_path / "recordings"
    write_audio(folder / "good.flac", tone(0.5, 8000), 8000)
    (folder / "bad.wav").write_bytes(b"not audio at all")
    p = params(scratch_params, source="folder", folder=str(folder), on_bad="fail")
    with pytest.raises(KitError, match=r"bad.wav: not readable audio.*1 good file\(s\) are converted"):
        data.run(p)
    assert list((data.output_dir(p) / "audio").glob("good.flac"))


def test_manifest_errors_name_the_file(tmp_path, tone):
    write_audio(tmp_path / "a.wav", tone(0.1), 16000)
    m = manifest.Manifest(tmp_path, ["a.wav", "missing.wav"], [1600, 1600], words=["a", "b"])
    manifest.write(tmp_path, "train", m)
    with pytest.raises(BadInputError, match=r"train.tsv: 1 audio file\(s\) listed but missing"):
        manifest.read(tmp_path, "train")
    (tmp_path / "train.wrd").write_text("only one line\n")
    with pytest.raises(BadInputError, match="train.wrd: 1 lines but train.tsv lists 2"):
        manifest.read(tmp_path, "train", check_files=False)
