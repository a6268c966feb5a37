"""Stages 02 and 03: VAD intervals and time mapping, MFCC, fairseq feature files, merging and pooling."""
from pathlib import Path

import numpy as np
import pytest

from aitranscribe.core import stage
from aitranscribe.features import mfcc, units, vad
from aitranscribe.features.wav2vec2 import backends as wav2vec2_backends
from aitranscribe.features.extract import CALIBRATED_DIR, TrainedTransform
from aitranscribe.io import feature_files, manifest
from aitranscribe.stages import audio_prep, data, features
from aitranscribe.core.errors import BadInputError
from aitranscribe.core.params import stage_spec, validate


def test_speech_intervals_from_frame_labels():
    labels = np.array([0, 1, 1, 0, 0, 0, 1, 0])
    # frames of 10 ms shift, 25 ms window at 16 kHz: frame k covers [160k, 160k + 400)
    assert vad.speech_intervals(labels, 2000, 16000, 25, 10) == [(160, 720), (960, 1360)]
    assert vad.speech_intervals(np.zeros(5), 800, 16000, 25, 10) == []
    # overlapping runs merge
    assert vad.speech_intervals(np.array([1, 0, 1]), 800, 16000, 25, 10) == [(0, 720)]


def test_trimmed_time_maps_back_to_original():
    intervals = [(16000, 32000), (48000, 56000)]  # 1-2 s and 3-3.5 s of the original
    t = np.array([0.0, 0.5, 1.0, 1.25, 1.5])
    assert np.allclose(vad.to_original_seconds(t, intervals), [1.0, 1.5, 3.0, 3.25, 3.5])


def test_mfcc_shapes_and_normalisation():
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    f = mfcc.mfcc_features(x, context=2)
    assert f.shape == (mfcc.n_frames(16000), mfcc.dim(13, 2)) == (98, 195)
    centre = f[:, 78:117]  # the unshifted frame of the +-2 stack
    assert np.allclose(centre.mean(0), 0, atol=1e-4) and np.allclose(centre.std(0), 1, atol=1e-2)
    assert mfcc.mfcc_features(np.zeros(100, np.float32), context=0).shape == (1, 39)


def test_merge_runs_and_mean_pool_follow_fairseq():
    feats = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = np.array([3, 3, 1, 1, 1, 7])
    merged, bounds = units.merge_runs(feats, ids)
    assert np.allclose(merged, [[1, 2], [6, 7], [10, 11]]) and bounds.tolist() == [[0, 2], [2, 5], [5, 6]]
    pooled, pb = units.mean_pool(merged, bounds, 0.5)  # ceil(3 * 0.5) = 2 outputs, the odd tail repeats
    assert np.allclose(pooled, [[3.5, 4.5], [10, 11]]) and pb.tolist() == [[0, 5], [5, 6]]
    one, ob = units.mean_pool(merged[:1], bounds[:1], 0.5)
    assert one.shape == (1, 2) and ob.tolist() == [[0, 2]]


def test_feature_files_round_trip_and_mismatch(tmp_path):
    arrays = [np.ones((3, 4), np.float32), np.zeros((2, 4), np.float32)]
    feature_files.write_features(tmp_path, "train", arrays)
    feats, lengths = feature_files.read_features(tmp_path, "train")
    assert lengths.tolist() == [3, 2] and feats.shape == (5, 4)
    feature_files.write_features(tmp_path, "valid", iter([np.concatenate(arrays)]), lengths=[3, 2])
    assert feature_files.read_features(tmp_path, "valid")[1].tolist() == [3, 2]
    (tmp_path / "train.lengths").write_text("3\n3\n")
    with pytest.raises(BadInputError, match="train.npy: 5 rows but train.lengths sums to 6"):
        feature_files.read_features(tmp_path, "train")
    (tmp_path / "test.npy").write_bytes(np.lib.format.magic(1, 0) + b"\x10\x00{'descr'")
    (tmp_path / "test.lengths").write_text("1\n")
    with pytest.raises(BadInputError, match="test.npy: not a readable .npy"):
        feature_files.read_features(tmp_path, "test")


def test_pca_is_fitted_as_fairseq_stores_it():
    x = np.random.default_rng(1).standard_normal((500, 6)).astype(np.float32) @ np.diag([5, 4, 3, 2, 1, 0.5])
    A, b, ratio = units.fit_pca(x, 3)
    y = x @ A + b
    assert A.shape == (6, 3) and np.allclose(y.mean(0), 0, atol=1e-4)
    assert np.all(np.diff(y.var(0)) < 0) and abs(ratio.sum() - 1) < 1e-5


@pytest.mark.slow
def test_stages_02_03_end_to_end_small(scratch_params):
    def params(module, **kw):
        return validate({**scratch_params, **kw}, stage_spec(module.PARAMS), "test")

    data.run(params(data, demo_n_train=16, demo_n_valid=3, demo_n_test=3, demo_n_text=20, demo_glosses=False))
    prep = audio_prep.run(params(audio_prep))
    vads = manifest.read_vads(f"{prep['dir']}/test.vads")
    assert len(vads) == 3 and all(iv for iv in vads)
    assert 0.5 < stage.load_summary(prep)["speech_fraction"] <= 1.0
    p = params(features, n_clusters=16, pca_dim=32, probe_epochs=0)
    record = features.run(p)
    for directory in (record["dir"], record["pca"], record["merged"], record["segments"]):
        for split in ("train", "valid", "test"):
            feats, lengths = feature_files.read_features(directory, split)
            assert lengths.sum() == len(feats)
            assert manifest.read(directory, split, check_files=False).phones
    pooled, lengths = feature_files.read_features(record["segments"], "test")
    assert pooled.shape[1] == 32
    bounds = np.load(f"{record['segments']}/test.bounds.npy")
    assert len(bounds) == len(pooled) and np.all(bounds[:, 1] > bounds[:, 0])
    assert (np.load(f"{record['dir']}/pca/32_pca_A.npy").shape == (195, 32))
    src = (np.array(line.split(), int) for line in open(f"{record['centroids']}/train.src"))
    assert all(ids.max() < 16 for ids in src)
    # the same parameters again: done, nothing recomputed
    marker = stage.is_done(record["dir"], record["params_hash"])
    assert marker and features.run(p)["dir"] == record["dir"]


def test_wav2vec2_features_from_a_fairseq_checkpoint(scratch_params, tmp_path):
    from support.w2v_checkpoints import save_tiny_checkpoint

    from aitranscribe.core.errors import KitError

    def params(module, **kw):
        return validate({**scratch_params, **kw}, stage_spec(module.PARAMS), "test")

    W2V = {"kind": "wav2vec2", "speaker_norm": "none"}  # speaker normalisation is for MFCC frames only
    data.run(params(data, demo_n_train=10, demo_n_valid=2, demo_n_test=2, demo_n_text=10, demo_glosses=False))
    audio_prep.run(params(audio_prep))
    ckpt = tmp_path / "wav2vec_small_tiny.pt"
    save_tiny_checkpoint(ckpt, "cfg", finetuned=True, layers=3, dim=32, normalize=True)
    record = features.run(params(features, **W2V, checkpoint=str(ckpt), layer=1, n_clusters=8,
                                 pca_dim=512, probe_epochs=0))
    feats, lengths = feature_files.read_features(record["dir"], "train")
    assert feats.shape[1] == 32 and lengths.sum() == len(feats)
    assert record["frame_shift_s"] == 40 / 16000  # the tiny model's conv stack strides 40 samples
    assert feature_files.read_features(record["segments"], "test")[0].shape[1] == 32  # PCA clipped to 32
    with pytest.raises(BadInputError, match="3 transformer layers"):
        features.run(params(features, **W2V, checkpoint=str(ckpt), layer=14, probe_epochs=0))
    not_w2v = tmp_path / "lm.pt"
    import torch
    torch.save({"model": {"decoder.embed_tokens.weight": torch.zeros(3, 3)}, "args": None}, not_w2v)
    with pytest.raises(BadInputError, match="lm.pt"):
        features.run(params(features, **W2V, checkpoint=str(not_w2v), probe_epochs=0))
    with pytest.raises(KitError, match="needs the parameter 'checkpoint'"):
        features.run(params(features, **W2V, probe_epochs=0))
    # a calibrated arm: calibrated once on train audio, checked against fp32, saved beside the features and used by
    # the transform stage 06 applies to new audio; on BASE's un-normalised front end int8 misses the bar (as in 07)
    with pytest.raises(KitError, match="openvino-int8: calibrated on 8 train utterance.*below the bar 0.99"):
        features.run(params(features, **W2V, checkpoint=str(ckpt), layer=1, n_clusters=8, probe_epochs=0,
                            feature_backend="openvino-int8"))
    ckpt = tmp_path / "wav2vec_vox_tiny.pt"  # LARGE's layout: a layer norm in every conv block, pre-norm blocks
    save_tiny_checkpoint(ckpt, "cfg", finetuned=False, layers=3, dim=32, normalize=True, extractor_mode="layer_norm",
                         layer_norm_first=True, conv_bias=True)
    record = features.run(params(features, **W2V, checkpoint=str(ckpt), layer=1, n_clusters=8,
                                 probe_epochs=0, feature_backend="openvino-int8"))
    summary = stage.load_summary(record)
    calibration = summary["feature_backend"]["calibration"]
    assert summary["feature_backend"]["arm"] == "openvino-int8" and calibration["utterances"] == 8
    assert calibration["checked_on"] == 2 and calibration["fidelity"]["cosine_mean"] >= 0.99
    saved = Path(record["dir"]) / CALIBRATED_DIR
    assert (saved / "model.xml").is_file() and (saved / "model.bin").is_file()
    reference = features.run(params(features, **W2V, checkpoint=str(ckpt), layer=1, n_clusters=8,
                                    probe_epochs=0, feature_backend="fp32"))
    int8, fp32 = (feature_files.read_features(r["dir"], "test")[0] for r in (record, reference))
    assert int8.shape == fp32.shape and wav2vec2_backends.fidelity(int8, fp32)["cosine_mean"] >= 0.99
    transform = TrainedTransform(record)
    assert transform.extractor.backend == "openvino-int8" and transform.extractor.runner is not None
    (saved / "model.xml").write_text("<net>")  # a damaged saved model is named, not run
    with pytest.raises(KitError, match="model.xml: not a readable OpenVINO model"):
        TrainedTransform(record)
