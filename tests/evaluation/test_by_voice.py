"""Report-only error rates per voice, engine, held-out voices and acoustic condition, and stage 06's metrics of them."""
import pytest

from aitranscribe.core import metric_labels
from aitranscribe.core.errors import KitError
from aitranscribe.evaluation import by_voice
from aitranscribe.stages import inference


def utterance(words: str, said: str | None = None) -> tuple[dict, dict]:
    """A transcript (of ``said``, default the reference) and its item with reference words and phones (a letter a
    phone, enough for counting errors)."""
    said = words if said is None else said
    result = {"phones": [{"phone": c} for c in said.replace(" ", "")], "words": [{"word": w} for w in said.split()]}
    return result, {"ref_words": words, "ref_phones": list(words.replace(" ", ""))}


@pytest.fixture
def corpus():
    pairs = [utterance("a cat sat"), utterance("the dog ran"),           # espeak-ng, heard in train: right
             utterance("a big hat", "a pig"), utterance("red sky", "")]  # flite, held out: wrong
    utterances = [{"voice": "espeak-us-f1", "engine": "espeak-ng"},
                  {"voice": "espeak-us-f1", "engine": "espeak-ng", "room": {"rt60_s": 0.3}},
                  {"voice": "flite-awb", "engine": "flite", "noise": {"snr_db": 5}, "telephone": True},
                  {"voice": "flite-awb", "engine": "flite", "level_db": -10.0}]
    return [r for r, _ in pairs], [it for _, it in pairs], utterances


def test_figures_group_by_voice_engine_seen_and_condition(corpus):
    results, items, utterances = corpus
    figures = by_voice.figures(results, items, utterances, held_out=["flite-awb"])
    assert figures["voices"]["espeak-us-f1"] == {"n_utterances": 2, "per": 0.0, "wer": 0.0}
    awb = figures["voices"]["flite-awb"]
    assert awb["n_utterances"] == 2 and awb["wer"] == pytest.approx(4 / 5)  # a pig vs a big hat; nothing vs red sky
    assert awb["per"] == pytest.approx((4 + 6) / 13)  # apig vs abighat: 1 sub + 3 del; redsky: 6 del
    assert figures["engines"]["flite"] == awb and figures["engines"]["espeak-ng"]["wer"] == 0.0
    assert figures["seen"]["unseen"] == awb and figures["seen"]["seen"]["wer"] == 0.0
    assert set(figures["conditions"]) == {"clean", "room", "noise+telephone", "level"}


def test_figures_refuse_metadata_of_another_split(corpus):
    results, items, utterances = corpus
    with pytest.raises(KitError, match="does not belong to this split"):
        by_voice.figures(results, items, utterances[:3], held_out=[])


def test_stage_06_metrics_and_labels_of_the_voice_figures(corpus):
    results, items, utterances = corpus
    summary = {"by_voice": {**by_voice.figures(results, items, utterances, ["flite-awb"]),
                            "held_out_voices": ["flite-awb"]}}
    metrics = inference.voice_metrics(summary)
    assert metrics["wer_unseen_voices"] == 0.8 and metrics["wer_seen_voices"] == 0.0
    assert metrics["wer_engine_flite"] == 0.8 and metrics["wer_engine_espeak_ng"] == 0.0
    assert set(metrics) == {f"{r}_{g}" for r in ("per", "wer") for g in
                            ("unseen_voices", "seen_voices", "engine_flite", "engine_espeak_ng")}
    assert metric_labels.label("inference.wer_engine_espeak_ng") == "WER on espeak_ng voices (report-only)"
    assert metric_labels.label("inference.wer_unseen_voices") == "WER on voices never heard in train (report-only)"
    assert metric_labels.value_text("inference.wer_engine_flite", 0.8) == "80.0%"
    # one engine and no held-out voice (the plain demo): no such metrics, and none without the metadata
    only_espeak = by_voice.figures(results[:2], items[:2], utterances[:2], [])
    assert inference.voice_metrics({"by_voice": {**only_espeak, "held_out_voices": []}}) == {}
    assert inference.voice_metrics({}) == {}
    table = inference.voice_table(summary)
    assert table.loc[("voice", "flite-awb (never in train)"), "WER"] == 80.0
