"""Long recordings: VAD block by block equals VAD on pieces, utterances cut at pauses, lazy audio reading."""
import numpy as np
import pytest

from aitranscribe.features.vad import Detector, utterance_spans
from aitranscribe.io import audio

SR = audio.TARGET_SR
VAD = {"vad": True, "vad_threshold": 0.4, "vad_window_ms": 25.0, "vad_shift_ms": 10.0, "min_speech_fraction": 0.1}


def test_utterance_spans_cut_at_pauses_and_bound_length():
    s = SR
    intervals = [(0, 2 * s), (int(2.2 * s), 4 * s), (5 * s, 7 * s), (int(7.1 * s), 30 * s)]
    spans = utterance_spans(intervals, pause_s=0.5, max_s=20.0)
    # the 1 s pause starts a new utterance; 0.2 s and 0.1 s pauses do not; the 25 s run has no inner pause long enough
    assert spans[0] == [(0, 2 * s), (int(2.2 * s), 4 * s)]
    assert all(g[-1][1] - g[0][0] <= 20 * s for g in spans)
    assert [iv for g in spans for iv in g][:3] == intervals[:3]
    covered = sum(b - a for g in spans for a, b in g)
    assert covered == sum(b - a for a, b in intervals)


def test_utterance_spans_cut_a_long_group_at_its_longest_pause():
    s = SR
    intervals = [(k * 3 * s, k * 3 * s + int(2.8 * s)) for k in range(10)]  # 0.2 s pauses, 30 s in all
    intervals[4] = (12 * s, int(14.5 * s))  # the longest pause (0.5 s) after the fifth interval
    spans = utterance_spans(intervals, pause_s=0.6, max_s=20.0)
    assert len(spans) == 2 and spans[0][-1] == intervals[4] and spans[1][0] == intervals[5]


def test_audio_reader_slices_and_blocks(tmp_path):
    x = (np.random.default_rng(0).standard_normal(5 * SR) * 0.1).astype(np.float32)
    path = audio.write(tmp_path / "a.flac", x)
    reader = audio.AudioReader(path)
    whole, _ = audio.read(path)
    assert len(reader) == len(whole)
    np.testing.assert_array_equal(reader[SR:2 * SR], whole[SR:2 * SR])
    parts = list(reader.blocks(2.0))
    assert [o for o, _ in parts] == [0, 2 * SR, 4 * SR]
    np.testing.assert_array_equal(np.concatenate([b for _, b in parts]), whole)
    with pytest.raises(TypeError):
        reader[::2]


def test_streamed_vad_finds_the_same_speech_as_whole_file_vad(tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    quiet = (rng.standard_normal(SR) * 1e-4).astype(np.float32)
    x = np.concatenate([quiet, tone, tone, quiet, quiet, tone, quiet] * 3)
    path = audio.write(tmp_path / "s.flac", x)
    detect = Detector(VAD)
    streamed = detect.stream(audio.AudioReader(path), block_s=5.0)
    whole = detect(audio.read(path)[0])
    assert len(streamed) == len(whole) == 6
    for (a, b), (c, d) in zip(streamed, whole):
        assert abs(a - c) < 0.2 * SR and abs(b - d) < 0.2 * SR  # rVAD smooths ~0.1 s across a block edge
