"""Shards and the local executor: outputs with done-markers, reruns that redo only the unmarked shards, bad files
reported by name without failing their shard (real MFCC extraction on real audio files, no Ray)."""
import json

import numpy as np
import pytest

from aitranscribe.core.errors import KitError
from aitranscribe.core.params import stage_spec, validate
from aitranscribe.io import audio, manifest
from aitranscribe.scale import executor, shards
from aitranscribe.stages import features


def test_plan_names_keys_and_markers(tmp_path):
    plan = shards.plan(list(range(7)), 3, tmp_path, suffix=".json")
    assert [s.name for s in plan] == ["00000", "00001", "00002"] and [len(s.items) for s in plan] == [3, 3, 1]
    shard = plan[1]
    assert not shards.is_done(shard, retry_bad=True)
    shards.write(shard, {"x": 1}, [], 0.1, "here")
    assert shards.is_done(shard, retry_bad=True) and json.loads(shard.output.read_text()) == {"x": 1}
    assert not shards.is_done(shards.plan(list(range(7)), 4, tmp_path, suffix=".json")[1], retry_bad=True)  # re-planned
    shard.output.unlink()
    assert not shards.is_done(shard, retry_bad=True)  # a marker without its output is not done
    shards.write(shard, None, [{"item": "a.wav", "reason": "broken"}], 0.1, "here")
    assert shards.is_done(shard, retry_bad=False) and not shards.is_done(shard, retry_bad=True)


def test_each_reports_bad_items_by_name():
    done, bad = shards.each([1, 0, 2], lambda x: 1 / x, name_of=lambda x: f"item-{x}")
    assert [v for _, v in done] == [1.0, 0.5] and bad[0]["item"] == "item-0" and "ZeroDivisionError" in bad[0]["reason"]


@pytest.fixture
def corpus(tmp_path, tone):
    """A split of 5 tone recordings (16 kHz) and its manifest; the third file is not audio."""
    root = tmp_path / "audio"
    root.mkdir()
    names = [f"u{i}.wav" for i in range(5)]
    for i, name in enumerate(names):
        audio.write(root / name, tone(0.4 + 0.1 * i, freq=200.0 + 50 * i)[:, 0])
    (root / names[2]).write_bytes(b"RIFF not really audio")
    mdir = tmp_path / "manifests"
    manifest.write(mdir, "train", manifest.Manifest(root, names, [16000] * 5))
    return mdir


def _run(p, mdir, out_dir, settings=executor.Settings()):
    plan = shards.plan([("train", i) for i in range(5)], 2, out_dir / "parts")
    return plan, executor.run(plan, features.extract_worker, {"p": p, "mdir": str(mdir), "out_dir": str(out_dir)},
                              settings, "test features")


def test_local_run_resumes_only_unmarked_shards_and_names_bad_files(corpus, tmp_path, scratch_params):
    p = validate({**scratch_params, "speaker_norm": "none"}, stage_spec(features.PARAMS), "test")  # sharding only
    out = tmp_path / "out"
    plan, report = _run(p, corpus, out)
    assert report.processed == ["00000", "00001", "00002"] and report.skipped == []
    assert [b["item"] for b in report.bad] == [str(corpus.parent / "audio" / "u2.wav")]
    with np.load(plan[1].output) as z:  # the bad file's shard kept its other utterance
        assert z["lengths"].shape == (1,) and z["feats"].shape == (z["lengths"][0], 195)
    first = {s.name: s.output.read_bytes() for s in plan}

    plan[0].marker.unlink()  # as if the run had been killed before shard 0 was marked
    _, again = _run(p, corpus, out)
    assert again.processed == ["00000", "00001"]  # the unmarked one and the one with a bad file
    assert again.skipped == ["00002"]
    assert {s.name: s.output.read_bytes() for s in plan} == first  # the same bytes


def test_a_failing_shard_is_named_and_the_others_are_kept(corpus, tmp_path, scratch_params):
    p = validate({**scratch_params, "speaker_norm": "none"}, stage_spec(features.PARAMS), "test")  # sharding only
    out = tmp_path / "out"
    blocked = out / "parts" / "00001.npz.done"
    blocked.mkdir(parents=True)  # its marker cannot be written
    (blocked / "x").write_text("")
    with pytest.raises(KitError, match=r"1 of 3 shards failed \(shard 00001: .*rerun processes only the others"):
        _run(p, corpus, out)
    assert (out / "parts" / "00000.npz.done").is_file() and (out / "parts" / "00002.npz.done").is_file()


def test_bad_settings_and_workers_that_cannot_start_are_clear_errors(corpus, tmp_path, scratch_params):
    with pytest.raises(KitError, match="executor must be 'local' or 'ray'"):
        executor.Settings.of({"executor": "spark"})
    p = validate({**scratch_params, "kind": "wav2vec2", "speaker_norm": "none"}, stage_spec(features.PARAMS),
                 "test")  # no checkpoint
    with pytest.raises(KitError, match="needs the parameter 'checkpoint'"):
        _run(p, corpus, tmp_path / "out")
