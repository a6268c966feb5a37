"""Training from a folder of long two-speaker recordings plus a text file: stages 01-06 end to end at CI size."""
import json
from pathlib import Path

import pytest
from support import write_audio
from support.sessions import session

from aitranscribe.core.params import stage_spec, validate
from aitranscribe.core.stage import load_summary
from aitranscribe.io import manifest
from aitranscribe.sources import demo
from aitranscribe.stages import audio_prep, data, features, inference, text, train

pytestmark = pytest.mark.slow  # runs pipeline stages end to end

PAIRS = (("espeak-us-m1", "espeak-us-f2"), ("espeak-us-m3", "espeak-us-f1"), ("espeak-us-m2", "espeak-us-f4"))
DECIPHER = {"groups": 8, "tokens": 32, "restarts": 2, "iters": 40, "refine": 1, "refine_iters": 20, "rounds": 2,
            "screen_rounds": 1, "epochs": 1, "hidden": 64, "word_rounds": 1, "word_scales": [0.3], "workers": 1}


def _params(module, common: dict, **overrides) -> dict:
    return validate({**common, **overrides}, stage_spec(module.PARAMS), "test")


@pytest.fixture(scope="module")
def sessions_folder(tmp_path_factory):
    """Three ~2-minute recordings, each of two voices taking turns, and 400 unpaired sentences none of them says."""
    root = tmp_path_factory.mktemp("sessions")
    spoken, unpaired = demo.split_sentences(demo.wordnet_sentences(), 300, 400, seed=11)
    for i, pair in enumerate(PAIRS):
        x, _ = session(list(pair), 40, seed=20 + i, gap_s=(0.6, 1.2), turn=2, sentences=spoken[100 * i:100 * (i + 1)])
        write_audio(root / "recordings" / f"session{i}.wav", x, 16000)
    (root / "sentences.txt").write_text("".join(s + "\n" for s in unpaired), encoding="utf-8")
    return root


def test_training_from_a_folder_of_long_recordings(scratch_params, sessions_folder):
    p = _params(data, scratch_params, source="folder", folder=str(sessions_folder / "recordings"),
                text_file=str(sessions_folder / "sentences.txt"), valid_fraction=0.15, test_fraction=0.15)
    corpus = load_summary(data.run(p))
    assert corpus["n_cut_recordings"] == 3 and corpus["n_text_sentences"] == 400
    assert corpus["n_utterances"] >= 90 and all(corpus["splits"][s]["utterances"] >= 5 for s in manifest.SPLITS)
    assert corpus["diarized_speakers"] == {f"session{i}.wav": 2 for i in range(3)}
    assert corpus["n_speakers"] == 6  # two diarized speakers per recording, named after it

    audio_prep.run(_params(audio_prep, scratch_params))
    feats = features.run(_params(features, scratch_params, speaker_norm="whiten", n_clusters=64, pca_dim=64,
                                 probe_epochs=0))
    norm = load_summary(feats)["speaker_norm"]  # fitted per voice cluster of the audio (no speaker names read)
    assert all(name.startswith("voice") for name in norm["warps"]) and 4 <= len(norm["warps"]) <= 8  # 6 voices
    text.run(_params(text, scratch_params))
    record = train.run(_params(train, scratch_params, decipher=DECIPHER, supervised_epochs=0))
    assert Path(record["checkpoint"]).is_file()
    out = inference.run(_params(inference, scratch_params, split="test"))
    summary = load_summary(out)
    results = json.loads((Path(out["dir"]) / "transcripts.json").read_text())
    assert summary["n_utterances"] == corpus["splits"]["test"]["utterances"] == len(results)
    # a model from 2 minutes x 3 of speech may find no word its graph accepts: words are searched, phones found
    assert all("words" in r for r in results) and sum(len(r["phones"]) for r in results) > 0
