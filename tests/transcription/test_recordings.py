"""Long recordings: utterance results joined with speakers; speaker-tagged subtitles and text."""
from aitranscribe.transcription import recordings
from aitranscribe.decoding.timing import speaker_text, subtitles


def _utt(speaker, words):
    return {"speaker": speaker, "phones": [{"phone": "a", "start": s, "end": e} for _, s, e in words],
            "words": [{"word": w, "start": s, "end": e} for w, s, e in words]}


def test_merge_joins_consecutive_utterances_of_one_speaker():
    results = [_utt("SPEAKER_1", [("hello", 0.5, 0.9), ("there", 1.0, 1.4)]),
               _utt("SPEAKER_1", [("how", 2.0, 2.2)]),
               _utt("SPEAKER_2", [("fine", 3.0, 3.5)]),
               _utt("SPEAKER_1", [])]
    turns = [(0.4, 1.5, "SPEAKER_1"), (1.9, 2.3, "SPEAKER_1"), (2.9, 3.6, "SPEAKER_2"), (4.0, 4.2, "SPEAKER_1")]
    out = recordings.merge("visit", 5.0, results, turns)
    assert out["segments"] == [{"speaker": "SPEAKER_1", "start": 0.5, "end": 2.2, "text": "hello there how"},
                               {"speaker": "SPEAKER_2", "start": 3.0, "end": 3.5, "text": "fine"}]
    assert out["turns"] == [{"speaker": "SPEAKER_1", "start": 0.4, "end": 2.3},
                            {"speaker": "SPEAKER_2", "start": 2.9, "end": 3.6},
                            {"speaker": "SPEAKER_1", "start": 4.0, "end": 4.2}]
    assert out["n_speakers"] == 2 and out["n_utterances"] == 4
    assert [w["speaker"] for w in out["words"]] == ["SPEAKER_1"] * 3 + ["SPEAKER_2"]
    assert speaker_text(out["segments"]) == "SPEAKER_1: hello there how\nSPEAKER_2: fine\n"


def test_subtitle_cues_break_at_speaker_changes_and_say_who_speaks():
    words = [{"word": w, "start": i, "end": i + 0.5, "speaker": spk}
             for i, (w, spk) in enumerate([("yes", "SPEAKER_1"), ("no", "SPEAKER_2"), ("maybe", "SPEAKER_2")])]
    srt = subtitles(words, "srt")
    assert "SPEAKER_1: yes\n" in srt and "SPEAKER_2: no maybe\n" in srt and srt.count(" --> ") == 2
    plain = subtitles([{k: v for k, v in w.items() if k != "speaker"} for w in words], "vtt")
    assert plain.startswith("WEBVTT") and "no maybe" in plain and "SPEAKER" not in plain
