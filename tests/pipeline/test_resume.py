"""Crash safety: a stage killed with SIGKILL mid-way resumes without recomputing finished work."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from aitranscribe.core import stage
from aitranscribe.core.params import stage_spec, validate
from aitranscribe.models.gan import training as gan_training
from aitranscribe.stages import audio_prep, data, features, text, train

pytestmark = pytest.mark.slow  # runs pipeline stages end to end

SCRIPT = """
import json, sys, time
from aitranscribe.core import params
from aitranscribe.core.logs import setup_logging
from aitranscribe.scale import executor
from aitranscribe.stages import {module} as m
p, pause = json.loads(sys.argv[1]), float(sys.argv[2])
if pause:  # each shard takes at least `pause` s longer, so the test's kill lands between shards on a busy machine too
    process_shard = executor.process_shard
    executor.process_shard = lambda *a: (process_shard(*a), time.sleep(pause))[0]
setup_logging("WARNING")
m.run(params.validate(p, params.stage_spec(m.PARAMS), "test"))
"""


def _params(module, common, **kw):
    return validate({**common, **kw}, stage_spec(module.PARAMS), "test")


def _start(module: str, p: dict, shard_pause: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT.format(module=module), json.dumps(p), str(shard_pause)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        if proc.poll() is not None:
            raise AssertionError(f"the stage finished before it could be killed: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the kill point was never reached")


def test_features_killed_mid_extraction_resume(scratch_params, caplog):
    data.run(_params(data, scratch_params, demo_n_train=24, demo_n_valid=2, demo_n_test=2, demo_n_text=10,
                     demo_glosses=False))
    audio_prep.run(_params(audio_prep, scratch_params))
    p = _params(features, scratch_params, chunk_size=3, n_clusters=8, pca_dim=16, probe_epochs=0)
    out = features.output_dir(p)
    parts = out / "parts" / "frames" / "train"
    proc = _start("features", p, shard_pause=1.0)  # without it, CI's busy machine once killed after the last shard
    _kill_when(proc, lambda: len(list(parts.glob("*.npz.done"))) >= 2)
    finished = sorted(parts.glob("*.npz.done"))  # shards with their done-marker
    assert len(finished) < 8  # killed mid-extraction: some train shards not yet done
    assert not (out / stage.DONE).exists()  # no stage marker
    for marker in finished:  # every marked shard is whole (a kill can only leave hidden temporary files)
        with np.load(marker.with_suffix("")) as z:
            assert len(z["lengths"]) == 3 and z["lengths"].sum() == len(z["feats"])
    with caplog.at_level("INFO", logger="aitranscribe"):
        record = features.run(p)
    # 8 train shards of 3 utterances, 1 valid, 1 test: only the unmarked ones are extracted again
    assert f"frame features: {len(finished)} of 10 shards already done, reused" in caplog.text
    assert stage.is_done(out, record["params_hash"])
    assert not (out / "parts").exists()  # the shards, and any temporary file the kill left, are gone
    feats, lengths = np.load(Path(record["dir"]) / "train.npy"), Path(record["dir"], "train.lengths").read_text().split()
    assert len(lengths) == 24 and int(sum(map(int, lengths))) == len(feats)


def test_training_killed_resumes_from_last_checkpoint(scratch_params):
    data.run(_params(data, scratch_params, demo_n_train=24, demo_n_valid=4, demo_n_test=4, demo_n_text=60,
                     demo_glosses=False))
    audio_prep.run(_params(audio_prep, scratch_params))
    features.run(_params(features, scratch_params, n_clusters=8, pca_dim=16, probe_epochs=0))
    text.run(_params(text, scratch_params, min_phones=1))
    p = _params(train, scratch_params, method="gan", gan={"updates": 400, "eval_every": 20, "batch_size": 8,
                                                          "disc_dim": 16}, supervised_epochs=0)
    run_dir = train.output_dir(p) / "runs" / gan_training.run_name(gan_training.sweep_settings(p["gan"])[0])
    last = run_dir / "checkpoint_last.pt"
    proc = _start("train", p)
    _kill_when(proc, lambda: last.is_file() and gan_training.load_checkpoint(last)["step"] >= 40, timeout=180)
    step_at_kill = gan_training.load_checkpoint(last)["step"]
    assert 40 <= step_at_kill < 400
    record = train.run(p)
    history = json.loads((run_dir / "history.json").read_text())
    assert history[-1]["update"] == 400
    updates = [e["update"] for e in history]
    assert updates == sorted(set(updates))  # resumed: no update evaluated twice, none lost
    assert Path(record["checkpoint"]).is_file()


def test_self_training_killed_resumes_after_its_last_finished_round(scratch_params):
    data.run(_params(data, scratch_params, demo_n_train=24, demo_n_valid=4, demo_n_test=4, demo_n_text=60,
                     demo_glosses=False))
    audio_prep.run(_params(audio_prep, scratch_params))
    features.run(_params(features, scratch_params, n_clusters=32, pca_dim=16, probe_epochs=0))
    text.run(_params(text, scratch_params, min_phones=1))
    p = _params(train, scratch_params, method="decipher", supervised_epochs=0, decipher={
        "groups": 6, "tokens": 16, "restarts": 2, "iters": 20, "refine": 1, "refine_iters": 10, "rounds": 3,
        "epochs": 1, "hidden": 16, "seeds": [0], "patience": 0, "word_rounds": 1, "word_rounds_min": 0})
    rounds = train.output_dir(p) / "chain-seed0" / "rounds"
    proc = _start("train", p)
    _kill_when(proc, lambda: (rounds / "round-1" / "round.json").is_file(), timeout=300)
    assert not (rounds / "round-3" / "round.json").is_file()
    first = (rounds / "round-1" / "model.pt").stat().st_mtime_ns
    record = train.run(p)
    assert (rounds / "round-1" / "model.pt").stat().st_mtime_ns == first  # a finished round is never redone
    selection = stage.load_summary(record)
    assert [r["round"] for r in selection["rounds"]] == [1, 2, 3, 4]  # 3 rounds, then one on word-graph labels
    assert selection["rounds"][-1]["labels"] == "words" and selection["word_scale"] in (0.2, 0.3, 0.5)
    assert Path(record["checkpoint"]).is_file() and record["run"] == f"seed0-round-{selection['round']}"


def test_gan_started_from_the_decipher_method(scratch_params):
    """init: decipher trains the decipher method inside the GAN's output, fits the generator to its labels and
    the GAN starts there; the decipher settings then count in the stage's hash, and only then."""
    data.run(_params(data, scratch_params, demo_n_train=24, demo_n_valid=4, demo_n_test=4, demo_n_text=60,
                     demo_glosses=False))
    audio_prep.run(_params(audio_prep, scratch_params))
    features.run(_params(features, scratch_params, n_clusters=32, pca_dim=16, probe_epochs=0))
    text.run(_params(text, scratch_params, min_phones=1))
    tiny = {"groups": 6, "tokens": 16, "restarts": 2, "iters": 20, "refine": 1, "refine_iters": 10, "rounds": 1,
            "screen_rounds": 1, "word_rounds": 0, "epochs": 1, "hidden": 16, "seeds": [0]}
    # the control's recipe (docs/research.md): T outputs, a fresh D stepped twice before each G step, one-hot fakes
    gan = {"updates": 20, "eval_every": 10, "batch_size": 8, "disc_dim": 16, "init_epochs": 2, "d_steps": 2,
           "d_reset_every": 1, "fake": "sampled", "generator_crop": True}

    def params(init, **decipher):
        return _params(train, scratch_params, method="gan", gan={**gan, "init": init},
                       decipher={**tiny, **decipher}, supervised_epochs=0)

    assert train.output_dir(params("random")) == train.output_dir(params("random", hidden=32))
    assert train.output_dir(params("decipher")) != train.output_dir(params("decipher", hidden=32))
    p = params("decipher")
    record = train.run(p)
    selection = stage.load_summary(record)
    out = train.output_dir(p)
    assert (out / "decipher" / "summary.json").is_file() or (out / "decipher" / "chain-seed0").is_dir()
    assert (out / "init_generator.pt").is_file()
    assert selection["init"]["segments"] > 0 and 0.0 <= selection["init"]["label_agreement"] <= 1.0
    assert selection["seconds"] >= selection["init"]["decipher_seconds"]
    run_dir = out / "runs" / gan_training.run_name(gan_training.sweep_settings(p["gan"])[0])
    # the start is evaluated (a candidate of the selection), then every eval_every updates
    assert [e["update"] for e in json.loads((run_dir / "history.json").read_text())] == [0, 10, 20]
    best = gan_training.load_checkpoint(run_dir / "checkpoint_best.pt")
    assert json.loads(best["config"])["generator_crop"] is True
