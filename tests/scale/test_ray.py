"""Stages 03 and 06 sharded on a real 2-node Ray cluster on this machine: the same files as the local run, whatever
the number of workers; a killed worker costs only its shard; after a killed driver a rerun does only the shards
without a marker."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from support.ray_nodes import NODE

from aitranscribe.core.params import COMMON
from aitranscribe.core.stage import done_params
from aitranscribe.scale import executor
from aitranscribe.stages import features, inference

pytestmark = pytest.mark.slow  # starts a Ray cluster and runs stages on the CI data

OUTPUT_ONLY = {".done.json", "summary.json", "probe.json"}


def _on_ray(cluster, p: dict, **overrides) -> dict:
    """``p`` (a finished run's parameters) with the executor settings of the session's cluster."""
    common = {name: spec.default for name, spec in COMMON.items() if name not in p}
    return {**common, **p, "executor": "ray", "ray_address": cluster.address, "ray_workers": 2, **overrides}


def _files(directory: Path) -> dict[str, bytes]:
    return {str(f.relative_to(directory)): f.read_bytes() for f in sorted(directory.rglob("*"))
            if f.is_file() and f.name not in OUTPUT_ONLY}


def test_features_on_ray_equal_the_local_run(ray_cluster, ci_records, tmp_path):
    """Every file of 03 (frame features, units, PCA, merged and pooled segments, bounds) byte for byte, from shards of
    20 utterances on 2 Ray workers and from the local executor in this process."""
    p = {**done_params(ci_records["features"]["dir"]), "chunk_size": 20}  # several shards per split
    mdir, splits = Path(ci_records["audio_prep"]["manifests"]), ["train", "valid", "test"]
    summary = features._compute(_on_ray(ray_cluster, p), tmp_path / "ray", mdir, splits)
    assert summary["counts"]["train"]["utterances"] > 2 * p["chunk_size"]
    assert not (tmp_path / "ray" / "parts").exists()
    features._compute({**_on_ray(ray_cluster, p), "executor": "local"}, tmp_path / "local", mdir, splits)
    expected, got = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert sorted(got) == sorted(expected) and "precompute_pca195_cls128_mean_pooled/train.npy" in got
    assert [name for name in expected if got[name] != expected[name]] == []


def _records(ci_records: dict) -> dict:
    return {k: ci_records[k] for k in ("train", "features", "audio_prep", "text")}


def test_transcription_on_ray_equals_the_local_run(ray_cluster, ci_records, tmp_path):
    local = Path(ci_records["inference"]["dir"])
    p = _on_ray(ray_cluster, done_params(local), shard_size=8, references=False)
    summary = inference._compute(p, _records(ci_records), tmp_path)
    assert summary["workers"] == 2 and summary["n_utterances"] == 20
    assert json.loads((tmp_path / "transcripts.json").read_text()) == json.loads((local / "transcripts.json").read_text())
    assert (tmp_path / "words.txt").read_bytes() == (local / "words.txt").read_bytes()


@pytest.fixture(scope="module")
def recordings(ci_records, tmp_path_factory):
    """A folder of 8 of the CI test split's recordings."""
    from aitranscribe.io import manifest

    original = manifest.read(Path(ci_records["audio_prep"]["data_dir"]) / "manifests", "test")
    folder = tmp_path_factory.mktemp("visits")
    for i in range(8):
        shutil.copy(original.audio_path(i), folder / f"visit{i}.flac")
    return folder


@pytest.fixture(scope="module")
def local_folder_run(ci_records, recordings, tmp_path_factory):
    """The folder transcribed in this process: the reference of the sharded runs."""
    out = tmp_path_factory.mktemp("local")
    p = {**done_params(ci_records["inference"]["dir"]), **{n: s.default for n, s in COMMON.items()
                                                           if n.startswith(("executor", "ray_"))}}
    p = {**p, "folder": str(recordings), "executor": "local"}
    inference._compute_folder(p, _records(ci_records), out, p["acoustic_scale"])
    return json.loads((out / "transcripts.json").read_text())


def _folder_params(cluster, ci_records, recordings) -> dict:
    return _on_ray(cluster, done_params(ci_records["inference"]["dir"]), folder=str(recordings))


def _markers(out: Path) -> dict[str, int]:
    return {m.name: m.stat().st_mtime_ns for m in (out / "results").glob("*.done")} if (out / "results").is_dir() else {}


def _wait_for_marker(out: Path, timeout: float = 300) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        for m in (out / "results").glob("*.done") if (out / "results").is_dir() else ():
            try:
                return json.loads(m.read_text())
            except (OSError, json.JSONDecodeError):
                pass
        time.sleep(0.02)
    raise AssertionError(f"no shard of {out} finished within {timeout} s")


def test_a_killed_worker_costs_only_its_shard(ray_cluster, ci_records, recordings, local_folder_run, tmp_path,
                                              caplog):
    """A worker process killed mid-run (SIGKILL): the shard it held goes to the other worker, the run completes with
    the local run's transcripts."""
    p = _folder_params(ray_cluster, ci_records, recordings)

    def kill_first_worker():
        pid = int(_wait_for_marker(tmp_path)["worker"].rsplit(":", 1)[1])
        os.kill(pid, signal.SIGKILL)  # a worker process of this test's cluster, busy with its next recording

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    with caplog.at_level("WARNING", logger="aitranscribe.scale.executor"):
        summary = inference._compute_folder(p, _records(ci_records), tmp_path, p["acoustic_scale"])
    killer.join(timeout=5)
    assert "died" in caplog.text  # the kill landed while the worker held a shard
    assert summary["n_recordings"] == 8 and summary["bad_files"] == []
    assert json.loads((tmp_path / "transcripts.json").read_text()) == local_folder_run


DRIVER = """
import json, sys
from pathlib import Path
from aitranscribe.stages import inference
args = json.loads(sys.argv[1])
inference._compute_folder(args["p"], args["records"], Path(args["out"]), args["p"]["acoustic_scale"])
"""


def test_after_a_killed_driver_a_rerun_does_only_the_missing_shards(ray_cluster, ci_records, recordings,
                                                                    local_folder_run, tmp_path):
    """A driver joining the cluster by its address is killed mid-run; the rerun keeps every shard with a marker
    (untouched) and processes only the others; the result equals the local run's."""
    executor.release_workers()  # the session cluster's 2 CPUs go to the other driver's workers
    p = _folder_params(ray_cluster, ci_records, recordings)
    args = json.dumps({"p": p, "records": _records(ci_records), "out": str(tmp_path)})
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, args], env=os.environ.copy(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_marker(tmp_path)
    finally:
        driver.kill()
        driver.wait()
    time.sleep(3)  # the cluster ends the dead driver's workers
    before = _markers(tmp_path)
    assert 0 < len(before) < 8, f"the kill did not land mid-run: {len(before)} of 8 shards done"
    assert not (tmp_path / "transcripts.json").exists()

    summary = inference._compute_folder(p, _records(ci_records), tmp_path, p["acoustic_scale"])
    done_before = {name.removesuffix(".json.done") for name in before}
    assert set(summary["processed"]) == {f"visit{i}.flac" for i in range(8)} - done_before
    assert {name: t for name, t in _markers(tmp_path).items() if name in before} == before  # reused, not rewritten
    assert json.loads((tmp_path / "transcripts.json").read_text()) == local_folder_run


def test_a_removed_node_costs_only_its_shard(ray_cluster, ci_records, recordings, local_folder_run, tmp_path, caplog):
    """The worker node removed mid-run (its raylet and workers killed): its shard is redone on the head node's worker
    and the run completes with the local run's transcripts. The node is added back afterwards."""
    p = _folder_params(ray_cluster, ci_records, recordings)
    node = next(iter(ray_cluster.worker_nodes))

    def remove_node():
        _wait_for_marker(tmp_path)
        ray_cluster.remove_node(node)

    remover = threading.Thread(target=remove_node, daemon=True)
    remover.start()
    try:
        with caplog.at_level("WARNING", logger="aitranscribe.scale.executor"):
            summary = inference._compute_folder(p, _records(ci_records), tmp_path, p["acoustic_scale"])
        remover.join(timeout=60)
        assert "died" in caplog.text
        assert summary["n_recordings"] == 8 and summary["bad_files"] == []
        assert json.loads((tmp_path / "transcripts.json").read_text()) == local_folder_run
    finally:
        remover.join(timeout=60)
        if node in ray_cluster.worker_nodes:
            ray_cluster.remove_node(node)
        ray_cluster.add_node(**NODE)  # the session cluster gets its second node back


def _round_figures(selection: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in selection["rounds"]]


def test_decipher_chains_on_ray_equal_chains_run_here_with_as_many_threads(ray_cluster, ci_records, tmp_path,
                                                                          monkeypatch):
    """Two screening chains (seeds 0 and 1, small settings) as independent Ray shards, then the same in this
    process with one thread, then in two local processes of one thread: the same rounds, figures and selected
    model, weight for weight."""
    import torch
    from threadpoolctl import threadpool_limits

    from aitranscribe.models import decipher

    s = {**{name: spec.default for name, spec in decipher.PARAMS.items()},
         "seeds": [0, 1], "restarts": 2, "iters": 30, "refine": 1, "refine_iters": 10, "epochs": 1, "screen_rounds": 1,
         "rounds": 1, "word_rounds": 0}
    inputs = (ci_records["features"], ci_records["text"], ci_records["train"]["symbols"])
    on_ray = decipher.train(s, tmp_path / "ray", *inputs, _on_ray(ray_cluster, {}, worker_threads=1))
    assert sorted(p.name for p in (tmp_path / "ray").glob("chain-seed*/screen.json.done")) == ["screen.json.done"] * 2

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            here = decipher.train({**s, "parallel_chains": False}, tmp_path / "local", *inputs, {"executor": "local"})
    finally:
        torch.set_num_threads(threads)
    # and the chains at once in local processes of one thread each (the default with as many cores as chains)
    monkeypatch.setattr("aitranscribe.core.machine.cores", lambda: 2)
    processes = decipher.train(s, tmp_path / "processes", *inputs, {"executor": "local", "log_level": "WARNING"})
    for other in (here, processes):
        assert (on_ray["run"], on_ray["metric"]) == (other["run"], other["metric"])
        assert _round_figures(on_ray) == _round_figures(other) and len(on_ray["rounds"]) == 2
        a, b = (torch.load(r["checkpoint"], weights_only=True)["net"] for r in (on_ray, other))
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_gan_sweep_on_ray_equals_the_sweep_run_here(ray_cluster, ci_records, tmp_path):
    """Two GAN runs of a sweep (seeds 0 and 1, 20 updates) as Ray shards and as the local process pool, with as many
    threads each: the same selected run and the same weights."""
    import torch

    from aitranscribe.core.machine import cores
    from aitranscribe.models import gan

    s = {**{name: spec.default for name, spec in gan.PARAMS.items()},
         "sweep_seeds": [0, 1], "updates": 20, "eval_every": 10, "batch_size": 8, "parallel_runs": 2}
    inputs = (ci_records["features"], ci_records["text"], ci_records["train"]["symbols"])
    threads = max(1, cores() // 2)  # what each of the local pool's 2 processes gets
    on_ray = gan.train(s, tmp_path / "ray", *inputs, _on_ray(ray_cluster, {"log_level": "WARNING"}, worker_threads=threads))
    here = gan.train(s, tmp_path / "local", *inputs, {"executor": "local", "log_level": "WARNING"})
    assert on_ray["run"] == here["run"] and len(on_ray["runs"]) == 2
    for run in (r["run"] for r in here["runs"]):
        a, b = (torch.load(d / "runs" / run / "checkpoint_best.pt", weights_only=True)["generator"]
                for d in (tmp_path / "ray", tmp_path / "local"))
        assert all(torch.equal(a[k], b[k]) for k in a), run
