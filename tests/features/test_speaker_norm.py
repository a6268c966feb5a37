"""Label-free speaker normalisation: VTLN warp choice, per-speaker whitening, saving, stage integration."""
import os

import numpy as np
import pytest
from scipy.signal import resample

from aitranscribe.core.stage import load_summary
from aitranscribe.features import speaker_norm
from aitranscribe.features.extract import FrameExtractor, TrainedTransform
from aitranscribe.io import audio, feature_files, manifest
from aitranscribe.stages import audio_prep, data, features
from aitranscribe.core.errors import KitError
from aitranscribe.core.params import stage_spec, validate


def _vowels(seed: int, formants: tuple, n: int = 6, seconds: float = 1.0) -> list[np.ndarray]:
    """Utterances of three alternating synthetic 'vowels' (harmonics shaped by formant peaks), 16 kHz."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        pieces = []
        for k in rng.permutation(30) % 3:
            t = np.arange(int(0.1 * 16000)) / 16000
            f0 = 120 + 10 * rng.random()
            wave = sum(np.exp(-((h * f0 - formants[k][0]) / 150) ** 2) + 0.6 * np.exp(-((h * f0 - formants[k][1]) / 200) ** 2)
                       * np.sin(2 * np.pi * h * f0 * t) for h in range(1, 60))
            pieces.append(wave)
        x = np.concatenate(pieces) + 1e-3 * rng.standard_normal(sum(map(len, pieces)))
        out.append((0.3 * x / np.abs(x).max()).astype(np.float32))
    return out


FORMANTS = ((700, 1200), (300, 2300), (500, 900))


def test_whitening_gives_every_speaker_zero_mean_and_unit_covariance():
    by_speaker = {"a": _vowels(0, FORMANTS), "b": [1.7 * x[::-1].copy() for x in _vowels(1, FORMANTS)]}
    norm = speaker_norm.fit(by_speaker, "whiten")
    for speaker, utts in by_speaker.items():
        frames = np.concatenate([norm(x, speaker, 0) for x in utts])
        assert np.allclose(frames.mean(0), 0, atol=1e-3)
        cov = np.cov(frames, rowvar=False)  # the covariance's regulariser shrinks the smallest directions a little
        assert np.allclose(cov, np.eye(39), atol=0.06)
        assert norm.warps[speaker] == 1.0


def test_vtln_reads_a_voice_with_higher_formants_with_a_larger_warp():
    low = _vowels(0, FORMANTS)
    high = [resample(x, int(len(x) / 1.12)).astype(np.float32) for x in _vowels(1, FORMANTS)]  # formants x 1.12
    norm = speaker_norm.fit({"low": low, "high": high}, "vtln_whiten", codebook_size=6)
    assert norm.warps["high"] > norm.warps["low"]


def test_saved_normalisation_loads_without_pickle_and_adapts_new_speakers(tmp_path):
    utts = _vowels(0, FORMANTS)
    norm = speaker_norm.fit({"a": utts}, "vtln_whiten")
    path = norm.save(tmp_path / "norm.npz")
    loaded = speaker_norm.SpeakerNorm.load(path)
    assert loaded.summary() == norm.summary()
    assert np.array_equal(loaded(utts[0], "a", 2), norm(utts[0], "a", 2))
    new = loaded(utts[1], None, 2)  # an unseen speaker is normalised from the utterance itself
    assert new.shape[1] == 195 and np.allclose(new[:, 78:117].mean(0), 0, atol=1e-3)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"method", "codebook", "speakers", "warps", "means", "whiteners"}
    with pytest.raises(KitError, match="expected one of"):
        speaker_norm.fit({"a": utts}, "none")


@pytest.mark.slow
def test_features_stage_with_speaker_normalisation(scratch_params):
    def params(module, **kw):
        return validate({**scratch_params, **kw}, stage_spec(module.PARAMS), "test")

    data.run(params(data, demo_n_train=18, demo_n_valid=3, demo_n_test=3, demo_n_text=20, demo_glosses=False))
    prep = audio_prep.run(params(audio_prep))
    record = features.run(params(features, n_clusters=16, pca_dim=32, probe_epochs=0, speaker_norm="vtln_whiten",
                                 speaker_source="metadata"))
    summary = load_summary(record)
    speakers = set(manifest.read(prep["manifests"], "train").speakers)
    assert set(summary["speaker_norm"]["warps"]) >= speakers
    assert set(summary["speaker_norm"]["warps"].values()) <= set(speaker_norm.WARPS)
    assert features.metrics({**summary, "seconds": 1}, {})["speaker_source"] == "metadata"
    frames, lengths = feature_files.read_features(record["dir"], "train")
    assert frames.shape[1] == 195 and np.allclose(frames[:, 78:117].mean(0), 0, atol=0.05)  # centre frame, whitened
    transform = TrainedTransform(record)
    assert transform.extractor.norm is not None
    # the default groups speakers from the audio; new audio handed to the fitted pipeline with any speaker name (07's
    # end to end passes the manifest's) gets the transform stage 03 gave the same utterance
    clustered_record = features.run(params(features, n_clusters=8, pca_dim=16, probe_epochs=0, speaker_norm="whiten"))
    clustered = load_summary(clustered_record)
    assert clustered["speakers"]["source"] == "clusters" and clustered["speakers"]["found"] >= 2
    assert 0 < clustered["speakers"]["purity_report_only"]["train"]["purity"] <= 1
    m = manifest.read(prep["manifests"], "test")
    stored, lengths = feature_files.read_features(clustered_record["dir"], "test")
    transform = TrainedTransform(clustered_record)
    for i, start in enumerate(np.cumsum(lengths) - lengths):
        again = transform.extractor(audio.read(m.audio_path(i))[0], m.speakers[i])
        assert np.array_equal(again, stored[start:start + lengths[i]]), i
    os.remove(f"{prep['manifests']}/train.spk")
    unnamed = load_summary(features.run(params(features, n_clusters=8, pca_dim=8, probe_epochs=0,
                                               speaker_norm="whiten")))
    assert unnamed["speakers"]["found"] == clustered["speakers"]["found"]
    assert unnamed["speakers"]["purity_report_only"] is None  # no names to compare with
    # metadata without speaker names is a clear error naming the file
    with pytest.raises(KitError, match="train.spk"):
        features.run(params(features, n_clusters=8, pca_dim=16, probe_epochs=0, speaker_norm="whiten",
                            speaker_source="metadata"))
    with pytest.raises(KitError, match="MFCC features only"):
        FrameExtractor(params(features, kind="wav2vec2", checkpoint="x.pt", speaker_norm="whiten"))
