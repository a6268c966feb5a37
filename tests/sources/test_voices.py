"""Speech engines (espeak-ng, flite, Festival, Piper), voices never heard in train, and the corpus's voice metadata."""
import json
from pathlib import Path

import numpy as np
import pytest

from aitranscribe.core.errors import BadInputError, KitError
from aitranscribe.core.params import params_hash, stage_spec, validate
from aitranscribe.io import audio, manifest
from aitranscribe.sources import acoustics, voices
from aitranscribe.stages import data

SENTENCE = "the old man walked slowly along the river and sat down on a wooden bench"  # 15 words
ONE_VOICE_PER_ENGINE = [("espeak-ng", "en-us+f2", 60), ("flite", "slt", 170), ("festival", "kal_diphone", 105),
                        ("festival", "cmu_us_slt_arctic_hts", 170), ("piper", "en_US-joe-medium", 0)]


def params(common, **overrides):
    return validate({**common, **overrides}, stage_spec(data.PARAMS), "test")


@pytest.mark.parametrize("engine, voice, pitch", ONE_VOICE_PER_ENGINE, ids=lambda v: str(v))
def test_each_engine_speaks_a_sentence_at_a_plausible_length(engine, voice, pitch):
    x = voices.speak(engine, voice, SENTENCE, 1.0, pitch)
    assert x.dtype == np.float32 and x.ndim == 1 and np.isfinite(x).all()
    seconds_per_word = len(x) / audio.TARGET_SR / len(SENTENCE.split())
    assert 0.2 < seconds_per_word < 0.6, seconds_per_word  # read speech: about 0.3-0.4 s a word
    loud = np.abs(x) > 0.05 * np.abs(x).max()
    assert 0.3 < loud.mean() < 0.95  # speech with pauses, neither silence nor constant noise
    faster = voices.speak(engine, voice, SENTENCE, 1.3, pitch)
    assert len(faster) < 0.9 * len(x)  # the rate reaches the engine


def test_pitch_reaches_flite_and_festival_diphones():
    def f0(x, sr=16000):  # median autocorrelation pitch of voiced 40 ms frames
        out = []
        for s in range(0, len(x) - 640, 160):
            w = x[s:s + 640] * np.hanning(640)
            ac = np.correlate(w, w, "full")[639:]
            k = 40 + int(np.argmax(ac[40:266]))
            if np.sqrt(np.mean(w ** 2)) > 0.02 and ac[k] > 0.4 * ac[0]:
                out.append(sr / k)
        return np.median(out)

    for engine, voice, base in (("flite", "slt", 170), ("festival", "kal_diphone", 105)):
        low, high = (f0(voices.speak(engine, voice, SENTENCE, 1.0, base + d)) for d in (-20, 20))
        assert high > low * 1.15, (engine, low, high)


def test_piper_is_seeded_offline_and_checked(monkeypatch):
    # the autouse fixture fails any connection: the model comes from the installed package
    a = voices.piper("he dealt the cards face down", "en_US-joe-medium", 1.0, seed=1)
    assert np.array_equal(a, voices.piper("he dealt the cards face down", "en_US-joe-medium", 1.0, seed=1))
    assert not np.array_equal(a, voices.piper("he dealt the cards face down", "en_US-joe-medium", 1.0, seed=2))
    spec = voices.PIPER_VOICES["en_US-joe-medium"]
    monkeypatch.setitem(voices.PIPER_VOICES, "en_US-joe-medium", voices.PiperVoiceSpec(spec.module, spec.package, "0" * 64))
    monkeypatch.setattr(voices, "_PIPER_MODELS", {})
    with pytest.raises(BadInputError, match="sha256"):
        voices.piper("hello there", "en_US-joe-medium", 1.0, seed=1)


def test_missing_engines_and_voices_are_named(monkeypatch, tmp_path):
    with pytest.raises(KitError, match="festival: unknown voice 'nobody'"):
        voices.festival("hello", "nobody", 1.0, 100)
    with pytest.raises(KitError, match="piper: unknown voice"):
        voices.piper("hello", "xx_XX-nobody", 1.0, seed=0)
    with pytest.raises(KitError, match="unknown speech engine"):
        voices.speak("mbrola", "us1", "hello", 1.0, 50)
    monkeypatch.setenv("PATH", str(tmp_path))  # no synthesizer on the path
    with pytest.raises(KitError, match=r"espeak-ng is not installed.*apt-get install espeak-ng"):
        voices.espeak("hello", "en-us", 160, 50)
    with pytest.raises(KitError, match=r"flite is not installed"):
        voices.flite("hello", "slt", 1.0, 170)
    with pytest.raises(KitError, match=r"festival is not installed"):
        voices.festival("hello", "kal_diphone", 1.0, 105)
    monkeypatch.setattr(voices, "FESTIVAL_DIR", tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(KitError, match="festvox-kdlpc16k"):
        voices.festival("hello", "ked_diphone", 1.0, 105)


def test_hold_out_gives_test_utterances_to_the_held_out_voices_in_turn():
    jobs = [(i, f"s{i}", "seen", 1.0, 0) for i in range(100)]
    out = voices.hold_out(jobs, 60, ["a", "b", "c"], 30, seed=4)
    assert out[:60] == jobs[:60] and [j[1] for j in out] == [j[1] for j in jobs]
    held = [j[2] for j in out[60:] if j[2] != "seen"]
    assert len(held) == 30 and {held.count(v) for v in "abc"} == {10}
    assert out == voices.hold_out(jobs, 60, ["a", "b", "c"], 30, seed=4)
    assert out != voices.hold_out(jobs, 60, ["a", "b", "c"], 30, seed=5)
    assert voices.hold_out(jobs, 60, [], 0, seed=4) == jobs


@pytest.mark.parametrize("unseen, n, match", [(["nobody"], 2, "not among"), (["a", "b"], 2, "every voice"),
                                               (["a"], 0, "go together"), ([], 3, "go together"),
                                               (["a"], 9, "between 0 and")])
def test_bad_held_out_settings_are_clear_errors(unseen, n, match):
    with pytest.raises(KitError, match=match):
        voices.check_unseen(["a", "b"], unseen, 5, n)


VOICE_CORPUS = {"demo_n_train": 10, "demo_n_valid": 3, "demo_n_test": 7, "demo_n_text": 30,
                "demo_voices": ["espeak-us-f1", "flite-rms", "festival-kal", "piper-joe", "festival-ked", "flite-awb"],
                "demo_unseen_voices": ["festival-ked", "flite-awb"], "demo_n_test_unseen": 4,
                "demo_rooms": {"room": 0.4, "noise": 0.4, "telephone": 0.2, "level": 0.3}}


@pytest.fixture(scope="module")
def voice_corpus(tmp_path_factory):
    """The small many-engine corpus built twice, from scratch, with the same seed."""
    records = []
    for name in ("a", "b"):
        root = tmp_path_factory.mktemp(name)
        common = {"profile": "test", "data_root": str(root / "data"), "reports_dir": str(root / "reports"),
                  "seed": 7, "share_safe": True, "log_level": "INFO"}
        records.append(data.run(params(common, **VOICE_CORPUS)))
    return records


def test_held_out_voices_speak_only_test_utterances(voice_corpus):
    record = voice_corpus[0]
    splits = {s: manifest.read(record["manifests"], s) for s in manifest.SPLITS}
    held_out = {"festival-ked", "flite-awb"}
    assert not held_out & set(splits["train"].speakers + splits["valid"].speakers)
    assert sum(s in held_out for s in splits["test"].speakers) == 4
    assert {s for s in splits["test"].speakers if s in held_out} == held_out  # each held-out voice speaks
    meta = voices.read_metadata(Path(record["dir"]))
    assert sorted(meta["held_out_voices"]) == ["festival-ked", "flite-awb"]
    assert {v for v, info in meta["voices"].items() if info["held_out"]} == held_out
    for split, m in splits.items():  # one entry per utterance, in manifest order, naming the .spk's voice
        assert [u["voice"] for u in meta["utterances"][split]] == m.speakers
    assert {u["engine"] for u in meta["utterances"]["train"]} <= {"espeak-ng", "flite", "festival", "piper"}
    summary = json.loads((Path(record["dir"]) / "summary.json").read_text())
    assert sum(summary["engines"].values()) == 20 and sorted(summary["held_out_voices"]) == sorted(held_out)
    conditions = [u for us in meta["utterances"].values() for u in us]
    assert any("room" in u for u in conditions) and any("noise" in u for u in conditions)


def test_the_same_seed_builds_the_same_corpus(voice_corpus):
    a, b = (manifest.read(r["manifests"], "test") for r in voice_corpus)
    assert a.paths == b.paths and a.speakers == b.speakers and a.n_samples == b.n_samples
    for split in manifest.SPLITS:
        ma, mb = (manifest.read(r["manifests"], split) for r in voice_corpus)
        for i in range(len(ma)):
            assert np.array_equal(audio.read(ma.audio_path(i))[0], audio.read(mb.audio_path(i))[0]), ma.paths[i]
    ja, jb = (voices.read_metadata(Path(r["dir"])) for r in voice_corpus)
    assert ja == jb


def test_corpus_noise_is_at_the_intended_snr(scratch_params):
    """The same espeak-ng utterances built clean and with noise on every one: the written audio (peak-normalised,
    16-bit FLAC) holds the clean speech plus noise at the SNR its metadata names."""
    sizes = {"demo_n_train": 4, "demo_n_valid": 1, "demo_n_test": 1, "demo_n_text": 20}
    clean = data.run(params(scratch_params, **sizes))
    noisy = data.run(params(scratch_params, **sizes, demo_rooms={"noise": 1.0}))
    mc, mn = manifest.read(clean["manifests"], "train"), manifest.read(noisy["manifests"], "train")
    meta = voices.read_metadata(Path(noisy["dir"]))["utterances"]["train"]
    for i in range(len(mc)):
        x, y = audio.read(mc.audio_path(i))[0].astype(np.float64), audio.read(mn.audio_path(i))[0].astype(np.float64)
        scale = np.dot(x, y) / np.dot(x, x)  # the speech's share of the noisy file (noise is independent of it)
        assert acoustics.snr_db(scale * x, y) == pytest.approx(meta[i]["noise"]["snr_db"], abs=0.5)


def test_new_parameters_at_their_defaults_keep_the_corpus_hash(scratch_params):
    p = params(scratch_params)
    old = {k: v for k, v in p.items() if k not in data.VOICE_PARAMS}
    resolved = data.STAGE.hashed(p)
    assert data.STAGE.locate(p, {})[1] == params_hash({**old, **resolved, "inputs": {}})
    changed = params(scratch_params, demo_rooms={"room": 0.5})
    assert data.STAGE.locate(changed, {})[1] != data.STAGE.locate(p, {})[1]


def test_listen_free_checks_of_the_corpus(voice_corpus):
    from aitranscribe.evaluation.by_voice import audio_checks

    record = voice_corpus[0]
    manifests = {s: manifest.read(record["manifests"], s) for s in manifest.SPLITS}
    rows = audio_checks(manifests, voices.read_metadata(Path(record["dir"]))["utterances"])
    assert len(rows) == 20 and {r["engine"] for r in rows} == {"espeak-ng", "flite", "festival", "piper"}
    assert all(0.15 < r["seconds_per_word"] < 1.0 and -60 < r["rms_dbfs"] < -5 for r in rows), rows
    quiet = [r for r, u in zip(rows, (u for s in manifest.SPLITS for u in voices.read_metadata(
        Path(record["dir"]))["utterances"][s])) if u.get("level_db", 0) < -10 and "noise" not in u]
    assert quiet and all(r["rms_dbfs"] < -25 for r in quiet)  # a lower level is a lower level in the file
