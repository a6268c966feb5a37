"""Speaker utterances: runs of one speaker cut at pauses, never across a change of speaker."""
from support.sessions import session

from aitranscribe.evaluation.der import der
from aitranscribe.features.utterances import by_speaker, speaker_utterances
from aitranscribe.features.vad import DEFAULTS, Detector
from aitranscribe.io import audio
from aitranscribe.io.audio import TARGET_SR

SR = TARGET_SR


def test_a_change_of_speaker_ends_an_utterance_even_without_a_pause():
    turns = [(0, 1000, 0), (1000, 3000, 1), (3100, 4000, 1), (20000, 21000, 1), (21000, 22000, 0)]
    out = by_speaker(turns, pause_s=0.5, max_s=20.0)
    assert out == [{"intervals": [(0, 1000)], "speaker": 0},
                   {"intervals": [(1000, 3000), (3100, 4000)], "speaker": 1},  # a 6 ms pause does not cut
                   {"intervals": [(20000, 21000)], "speaker": 1},  # a 1 s pause does
                   {"intervals": [(21000, 22000)], "speaker": 0}]
    assert by_speaker([], 0.5, 20.0) == []


def test_quick_replies_get_their_own_speaker(tmp_path):
    """Two voices answering within 0.2-0.45 s (shorter than the pause that ends an utterance): every utterance is
    one voice's, so the diarization error of the utterances is that of the diarization itself."""
    x, reference = session(["espeak-us-m1", "espeak-us-f2"], 16, seed=3, gap_s=(0.2, 0.45), turn=2)
    path = audio.write(tmp_path / "visit.flac", x)
    utts, note = speaker_utterances(audio.AudioReader(path), Detector(DEFAULTS), pause_s=0.5, max_s=20.0)
    assert note is None and {u["speaker"] for u in utts} == {0, 1}
    hyp = [(u["intervals"][0][0] / SR, u["intervals"][-1][1] / SR, str(u["speaker"])) for u in utts]
    assert der(reference, hyp)["der"] <= 0.10
    assert len(utts) >= 8  # one per turn at least
