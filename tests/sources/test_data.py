"""Stage 01: the demo corpus, a folder of recordings, manifests and skip-when-done."""
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support import write_audio

from aitranscribe.core.stage import load_summary
from aitranscribe.io import manifest
from aitranscribe.sources import demo as demo_corpus
from aitranscribe.sources import folder as folder_source
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
    p = params(scratch_params, demo_n_train=12, demo_n_valid=3, demo_n_test=3, demo_n_text=40, demo_glosses=False)
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
                           demo_glosses=False, seed=1))["dir"] != record["dir"]


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


# --- a folder that changes between runs, long recordings cut into utterances -------------------------------------

def _converted(record: dict) -> dict[str, int]:
    """``{utterance path: mtime in ns}`` of every converted file the manifests list."""
    out = {}
    for split in manifest.SPLITS:
        m = manifest.read(record["manifests"], split)
        out.update({path: m.audio_path(i).stat().st_mtime_ns for i, path in enumerate(m.paths)})
    return out


def _split_of_each(record: dict) -> dict[str, str]:
    return {path: split for split in manifest.SPLITS for path in manifest.read(record["manifests"], split).paths}


def test_folder_rerun_converts_only_what_changed(scratch_params, tmp_path, tone, caplog):
    folder = tmp_path / "recordings"
    for i, name in enumerate(["a", "b", "c"]):
        write_audio(folder / f"{name}.wav", tone(1.0 + 0.1 * i, 22050, freq=200 + 50 * i), 22050)
        (folder / f"{name}.txt").write_text(f"recording {name}\n")
    p = params(scratch_params, source="folder", folder=str(folder), valid_fraction=0.2, test_fraction=0.2)
    first = data.run(p)
    summary = load_summary(first)
    assert (summary["n_new"], summary["n_changed"], summary["n_unchanged"], summary["n_removed"]) == (3, 0, 0, 0)
    before, splits = _converted(first), _split_of_each(first)
    assert sorted(before) == ["a.flac", "b.flac", "c.flac"]

    write_audio(folder / "d.wav", tone(0.5, 8000), 8000)
    (folder / "d.txt").write_text("recording d\n")
    with caplog.at_level(logging.INFO, logger="aitranscribe"):
        second = data.run(p)
    summary = load_summary(second)
    assert (summary["n_new"], summary["n_changed"], summary["n_unchanged"], summary["n_removed"]) == (1, 0, 3, 0)
    assert "1 new, 0 changed, 3 unchanged, 0 removed recording(s)" in caplog.text
    assert second["dir"] == first["dir"] and second["params_hash"] != first["params_hash"]  # later stages rerun
    after = _converted(second)
    assert {k: after[k] for k in before} == before  # the three earlier files were not converted again
    assert "d.flac" in after and summary["n_utterances"] == 4
    assert {k: _split_of_each(second)[k] for k in splits} == splits  # adding a file moves nobody between splits

    write_audio(folder / "b.wav", tone(2.0, 22050), 22050)  # re-recorded
    third = data.run(p)
    summary = load_summary(third)
    assert (summary["n_new"], summary["n_changed"], summary["n_unchanged"], summary["n_removed"]) == (0, 1, 3, 0)
    now = _converted(third)
    assert now["b.flac"] != after["b.flac"] and all(now[k] == after[k] for k in ("a.flac", "c.flac", "d.flac"))
    assert sf.info(str(data.output_dir(p) / "audio" / "b.flac")).frames == 32000

    (folder / "c.wav").unlink()
    (folder / "c.txt").unlink()
    fourth = data.run(p)
    summary = load_summary(fourth)
    assert (summary["n_new"], summary["n_changed"], summary["n_unchanged"], summary["n_removed"]) == (0, 0, 3, 1)
    assert "c.flac" not in _converted(fourth) and not (data.output_dir(p) / "audio" / "c.flac").exists()
    assert not (data.output_dir(p) / "recordings" / "c.wav.json").exists()
    words = {w for split in manifest.SPLITS for w in manifest.read(fourth["manifests"], split).words}
    assert words == {"recording a", "recording b", "recording d"}

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aitranscribe"):
        fifth = data.run(p)  # nothing changed: skipped
    assert "already done for these parameters and this folder content" in caplog.text
    assert fifth["params_hash"] == fourth["params_hash"] and _converted(fifth) == _converted(fourth)

    (folder / "a.txt").write_text("recording a again\n")  # a transcript edited: manifests rewritten, no conversion
    sixth = data.run(p)
    assert load_summary(sixth)["n_unchanged"] == 3 and _converted(sixth) == _converted(fourth)
    assert "recording a again" in {w for s in manifest.SPLITS for w in manifest.read(sixth["manifests"], s).words}


def test_split_of_is_a_stable_draw():
    names = [f"r{i}.flac" for i in range(2000)]
    drawn = [folder_source.split_of(n, 0, 0.1, 0.2) for n in names]
    assert abs(drawn.count("valid") / 2000 - 0.1) < 0.03 and abs(drawn.count("test") / 2000 - 0.2) < 0.03
    assert drawn == [folder_source.split_of(n, 0, 0.1, 0.2) for n in names]
    assert drawn != [folder_source.split_of(n, 1, 0.1, 0.2) for n in names]


def test_folder_text_file_is_the_unpaired_text(scratch_params, tmp_path, tone):
    from aitranscribe.stages import text

    folder = tmp_path / "recordings"
    write_audio(folder / "a.wav", tone(1.0), 16000)
    record = data.run(params(scratch_params, source="folder", folder=str(folder)))
    assert load_summary(record)["n_text_sentences"] == 0
    with pytest.raises(KitError, match="set the data parameter text_file"):
        text.run(validate(scratch_params, stage_spec(text.PARAMS), "test"))
    corpus = tmp_path / "sentences.txt"
    corpus.write_text("the cat sat on the mat\n\nthe dog ran in the park\n", encoding="utf-8")
    record = data.run(params(scratch_params, source="folder", folder=str(folder), text_file=str(corpus)))
    assert load_summary(record)["n_text_sentences"] == 2
    assert record["text"].endswith("corpus.txt") and Path(record["text"]).read_text() == corpus.read_text()
    with pytest.raises(BadInputError, match="missing.txt: text_file not found"):
        data.run(params(scratch_params, source="folder", folder=str(folder), text_file=str(tmp_path / "missing.txt")))


@pytest.fixture(scope="module")
def long_two_voice_recording(tmp_path_factory):
    """~2.5 minutes: two voices taking turns of 1-3 sentences, 0.7-1.2 s pauses; with the reference turns."""
    from support.sessions import session

    x, reference = session(["espeak-us-m1", "espeak-us-f2"], 48, seed=7, gap_s=(0.7, 1.2), turn=3)
    folder = tmp_path_factory.mktemp("long") / "recordings"
    write_audio(folder / "talks" / "monday.wav", x, 16000)
    (folder / "talks" / "monday.txt").write_text("words of the whole session that no utterance can take\n")
    write_audio(folder / "short.wav", x[:5 * 16000], 16000)
    return folder, x, reference


def test_long_recording_is_cut_at_pauses_with_diarized_speakers(scratch_params, long_two_voice_recording, caplog):
    folder, x, reference = long_two_voice_recording
    p = params(scratch_params, source="folder", folder=str(folder), valid_fraction=0.0, test_fraction=0.0)
    with caplog.at_level(logging.INFO, logger="aitranscribe"):
        record = data.run(p)
    summary = load_summary(record)
    assert summary["n_cut_recordings"] == 1 and summary["diarized_speakers"] == {"talks/monday.wav": 2}
    assert caplog.text.count("their transcripts are not split") == 1
    train = manifest.read(record["manifests"], "train")
    assert train.words is None  # the long recording's utterances have no words, so no .wrd
    cut = [i for i, path in enumerate(train.paths) if path.startswith("talks/monday/")]
    assert len(cut) >= 15 and train.paths[cut[0]] == "talks/monday/0000.flac"
    short = train.paths.index("short.flac")  # 5 s: one utterance as it is
    assert len(train) == len(cut) + 1 and train.speakers[short] == "unknown"
    assert {train.speakers[i] for i in cut} == {"talks/monday:SPEAKER_0", "talks/monday:SPEAKER_1"}
    assert max(train.n_samples[i] for i in cut) <= (30 + 0.2) * 16000

    assert not (Path(record["dir"]) / "work").exists()  # the whole recording at 16 kHz is deleted once cut
    utterances = json.loads((Path(record["dir"]) / "recordings" / "talks" / "monday.wav.json").read_text())
    agree, mapping = 0, {}
    for u in utterances["utterances"]:
        seconds = np.array([u["start"], u["end"]]) / 16000
        overlap = {}
        for a, b, voice in reference:
            overlap[voice] = overlap.get(voice, 0) + max(0.0, min(b, seconds[1]) - max(a, seconds[0]))
        voice = max(overlap, key=overlap.get)
        agree += mapping.setdefault(u["speaker"], voice) == voice
    assert agree >= 0.9 * len(utterances["utterances"]), (agree, len(utterances["utterances"]))
    # each utterance is the recording's audio from its first to its last speech interval (16-bit rounding aside)
    u = utterances["utterances"][3]
    y, _ = sf.read(str(train.root / u["path"]), dtype="float32")
    np.testing.assert_allclose(y, x[u["start"]:u["end"]], atol=1.0 / 32768 + 1e-6)
    speech = sum(b - a for a, b, _ in reference)
    assert sum(train.n_samples[i] for i in cut) / 16000 >= 0.95 * speech  # no speech lost between utterances


def test_two_recordings_with_one_converted_name_are_reported(scratch_params, tmp_path, tone):
    folder = tmp_path / "recordings"
    write_audio(folder / "a.flac", tone(0.5), 16000)
    write_audio(folder / "a.wav", tone(0.7), 16000)
    record = data.run(params(scratch_params, source="folder", folder=str(folder)))
    summary = load_summary(record)
    assert summary["bad_files"] == [{"file": str(folder / "a.wav"),
                                     "reason": "converts to the same name as a.flac; rename one of them"}]
    assert manifest.read(record["manifests"], "train").n_samples == [8000]
