"""Session figures: talk time and share, turns, stretches, pauses, overlaps, speech rate; and sessions.csv."""
import csv
import io

import pytest
from support.sessions import session

from aitranscribe.evaluation.der import der
from aitranscribe.features.utterances import speaker_utterances
from aitranscribe.features.vad import DEFAULTS, Detector
from aitranscribe.io import audio
from aitranscribe.transcription import session_figures as sf

SR = 16000


def _pieces():
    return [(0.0, 2.0, "A"), (2.2, 4.0, "A"),  # one stretch: the 0.2 s gap is shorter than a pause
            (5.0, 6.0, "A"),                    # a 1 s pause within A's first turn
            (6.5, 9.0, "B"),
            (9.3, 10.0, "A"), (9.8, 10.5, "B")]  # A's second turn, B talks over its last 0.2 s


def test_figures_of_a_small_session_by_hand():
    words = [{"word": w, "start": s, "speaker": spk} for w, s, spk in
             [("so", 0.1, "A"), ("how", 1.0, "A"), ("are", 5.1, "A"), ("fine", 7.0, "B"), ("good", 9.5, "A")]]
    out = sf.figures(_pieces(), words, seconds=12.0, pause_s=0.5)
    a, b = out["speakers"]["A"], out["speakers"]["B"]
    assert list(out["speakers"]) == ["A", "B"]  # order of first appearance
    assert a["talk_s"] == pytest.approx(4.0 + 1.0 + 0.7) and b["talk_s"] == pytest.approx(2.5 + 0.7)
    assert a["talk_share"] == pytest.approx(5.7 / 8.9, abs=1e-4) and a["talk_share"] + b["talk_share"] == pytest.approx(1)
    assert (a["turns"], b["turns"]) == (2, 2)
    assert a["longest_turn_s"] == 6.0 and a["mean_turn_s"] == pytest.approx((6.0 + 0.7) / 2, abs=0.01)
    assert a["longest_stretch_s"] == 4.0 and b["longest_stretch_s"] == 2.5
    assert (a["pauses"], a["pause_total_s"], a["longest_pause_s"]) == (1, 1.0, 1.0)
    assert b["pauses"] == 0
    assert (a["overlaps"], a["overlap_s"]) == (1, 0.2) and (b["overlaps"], b["overlap_s"]) == (1, 0.2)
    assert a["words"] == 4 and a["words_per_minute"] == pytest.approx(60 * 4 / 5.7, abs=0.1)
    rec = out["recording"]
    assert rec["talk_s"] == pytest.approx(10.5 - 1.0 - 0.5 - 0.3)  # the union of the speech: 8.7 s
    assert rec["talk_share"] == pytest.approx(8.7 / 12, abs=1e-4)
    assert (rec["turns"], rec["switches"], rec["words"]) == (4, 3, 5)
    assert (rec["pauses"], rec["pause_total_s"], rec["longest_pause_s"]) == (2, 1.5, 1.0)  # the 0.5 s switch too
    assert (rec["overlaps"], rec["overlap_s"]) == (1, 0.2)


def test_a_shorter_pause_setting_counts_more_pauses():
    assert sf.figures(_pieces(), [], 12.0, pause_s=0.1)["speakers"]["A"]["pauses"] == 2
    assert sf.figures(_pieces(), [], 12.0, pause_s=2.0)["speakers"]["A"]["longest_stretch_s"] == 6.0


def test_a_piece_that_ends_before_it_starts_is_an_error():
    with pytest.raises(ValueError, match="ends before it starts"):
        sf.figures([(2.0, 1.0, "A")], [], 3.0)


def test_sessions_csv_has_a_row_per_recording_and_speaker():
    results = [{"name": "visit", "session": sf.figures(_pieces(), [], 12.0)}, {"name": "no-figures"}]
    rows = list(csv.DictReader(io.StringIO(sf.csv_text(results, {"A": "Therapist"}))))
    assert [(r["recording"], r["speaker"], r["name"]) for r in rows] == [
        ("visit", "", ""), ("visit", "A", "Therapist"), ("visit", "B", "B")]
    assert float(rows[1]["talk_s"]) == pytest.approx(5.7) and rows[0]["mean_turn_s"] == ""
    assert list(rows[0]) == list(sf.COLUMNS)


def test_talk_shares_of_a_diarized_two_voice_session_match_its_true_turns(tmp_path):
    """The synthetic session's speech found by the VAD and told apart by the diarization: each voice's share of the
    talk within 5 points of the share its true turns give."""
    x, reference = session(["espeak-us-m1", "espeak-us-f2"], 16, seed=3, gap_s=(0.3, 0.9), turn=2)
    path = audio.write(tmp_path / "visit.flac", x)
    utts, _ = speaker_utterances(audio.AudioReader(path), Detector(DEFAULTS), pause_s=0.5, max_s=20.0)
    pieces = [(a / SR, b / SR, str(u["speaker"])) for u in utts for a, b in u["intervals"]]
    found = sf.figures(pieces, [], len(x) / SR)["speakers"]
    truth = sf.figures(reference, [], len(x) / SR)["speakers"]
    mapping = der(reference, pieces)["mapping"]
    assert len(found) == 2 and set(mapping.values()) == set(truth)
    for spk, values in found.items():
        assert abs(values["talk_share"] - truth[mapping[spk]]["talk_share"]) <= 0.05
    assert abs(sum(v["turns"] for v in found.values()) - sum(v["turns"] for v in truth.values())) <= 1
