"""Long recordings cut into utterances at pauses, each with the speaker that talks most in it."""
import numpy as np
import pytest
from support.sessions import session

from aitranscribe.core.errors import BadInputError
from aitranscribe.features.vad import DEFAULTS
from aitranscribe.io import audio
from aitranscribe.sources import sessions
from aitranscribe.io.audio import TARGET_SR

SR = TARGET_SR


def test_speech_without_long_pauses_is_cut_to_max_length(tmp_path):
    x, reference = session(["espeak-us-m3"], 16, seed=4, gap_s=(0.2, 0.4))  # no pause reaches PAUSE_S
    path = audio.write(tmp_path / "talk.flac", x)
    result = sessions.cut(path, tmp_path / "talk", max_s=8.0, n_speakers=1, vad_settings=DEFAULTS)
    utts = result["utterances"]
    assert len(utts) >= len(x) / SR / 8 and result["n_speakers"] == 1
    assert all(u["frames"] <= (8.0 + 2 * sessions.PAD_S) * SR for u in utts)
    assert all(a["end"] <= b["start"] for a, b in zip(utts, utts[1:]))  # padding never overlaps a neighbour
    assert sorted(p.name for p in (tmp_path / "talk").iterdir()) == [f"{i:04d}.flac" for i in range(len(utts))]
    speech = sum(b - a for a, b, _ in reference)
    assert result["speech_seconds"] >= 0.95 * speech
    y, _ = audio.read(tmp_path / "talk" / "0001.flac")
    np.testing.assert_allclose(y, x[utts[1]["start"]:utts[1]["end"]], atol=1.0 / 32768 + 1e-6)


def test_a_recording_without_speech_is_a_bad_input(tmp_path):
    path = audio.write(tmp_path / "hiss.flac", np.zeros(40 * SR, np.float32))
    with pytest.raises(BadInputError, match="hiss.flac: no speech found by the VAD"):
        sessions.cut(path, tmp_path / "hiss", max_s=30.0, n_speakers=None, vad_settings=DEFAULTS)
