"""run.json keeps, per stage, the command, commit, time, CPU and versions of its latest run; a partial run replaces
only its stages' entries."""
import json
import platform
import re
import subprocess

import pytest
import yaml

from aitranscribe import pipeline
from aitranscribe.core import machine
from aitranscribe.core.paths import REPO_ROOT


def _entry(commit="a" * 40, started="2026-01-01T10:00:00Z", seconds=1.0):
    return {"command": "bash run_all.sh --params params/x.yaml", "commit": commit, "dirty": False, "started": started,
            "finished": started, "seconds": seconds, "cpu": {"model": "cpu", "cores": 2, "flags": []},
            "versions": {"python": "3", "torch": "2", "openvino": None}}


def test_a_partial_run_replaces_only_its_stages(tmp_path):
    path = tmp_path / "run.json"
    names = ["01_data", "02_audio_prep", "05_train", "06_inference", "07_benchmark"]
    for name in names:
        pipeline.record_stage(path, "params/x.yaml", name, _entry(), names[: names.index(name) + 1])
    before = json.loads(path.read_text())
    pipeline.record_stage(path, "params/x.yaml", "05_train", _entry("b" * 40, seconds=5.0), ["05_train"])
    pipeline.record_stage(path, "params/x.yaml", "06_inference", _entry("b" * 40, seconds=6.0),
                          ["05_train", "06_inference"])
    after = json.loads(path.read_text())
    assert {n: e for n, e in after["stages"].items() if n not in ("05_train", "06_inference")} == \
        {n: e for n, e in before["stages"].items() if n not in ("05_train", "06_inference")}
    assert after["stages"]["05_train"]["commit"] == "b" * 40 and after["stages"]["06_inference"]["seconds"] == 6.0
    assert after["last_call"]["stages"] == ["05_train", "06_inference"] and after["params"] == "params/x.yaml"


def test_a_stage_that_no_longer_exists_is_forgotten(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"params": "p", "stages": {"05_train_gan": _entry(), "01_data": _entry()}}))
    run = pipeline.record_stage(path, "params/x.yaml", "02_audio_prep", _entry(), ["02_audio_prep"])
    assert set(run["stages"]) == {"01_data", "02_audio_prep"}


def test_run_json_of_earlier_kits_keeps_its_stage_times(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"git_sha": "c" * 40, "params": "params/demo.yaml", "stages_run": ["07_benchmark"],
                                "stage_seconds": {"01_data": 20.3, "07_benchmark": 6.9}}))
    assert pipeline.read_run(path)["stages"] == {"01_data": {"seconds": 20.3}, "07_benchmark": {"seconds": 6.9}}
    path.write_text("{not json")
    with pytest.raises(Exception, match="run.json: not valid JSON"):
        pipeline.read_run(path)
    assert pipeline.read_run(tmp_path / "missing.json") == {"stages": {}}


def test_the_command_names_the_profile_without_machine_paths(tmp_path):
    assert pipeline.command("params/demo.yaml", "05", "06") == "bash run_all.sh --params params/demo.yaml --from 05 --to 06"
    assert pipeline.command(str(REPO_ROOT / "params" / "ci.yaml")) == "bash run_all.sh --params params/ci.yaml"
    outside = pipeline.profile_file(str(tmp_path / "mine.yaml"))
    assert str(tmp_path) not in outside and outside.endswith("mine.yaml")


def test_run_facts_name_commit_cpu_and_versions():
    facts = machine.run_facts()
    assert re.fullmatch(r"[0-9a-f]{40}", facts["commit"]) and facts["dirty"] in (True, False)
    assert facts["cpu"]["cores"] >= 1 and facts["cpu"]["model"]
    assert set(facts["cpu"]["flags"]) <= set(machine.ARITHMETIC_FLAGS)
    assert facts["versions"]["python"] == platform.python_version()
    assert facts["versions"]["torch"] == machine.package_version("torch") is not None


def test_git_dirty_sees_code_changes_and_not_reports(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "reports").mkdir()
    (tmp_path / "code.py").write_text("a = 1\n")
    (tmp_path / "reports" / "metrics.json").write_text("{}\n")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    assert machine.git_dirty(root=tmp_path) is False
    (tmp_path / "reports" / "metrics.json").write_text('{"x": 1}\n')
    assert machine.git_dirty(root=tmp_path) is False
    (tmp_path / "code.py").write_text("a = 2\n")
    assert machine.git_dirty(root=tmp_path) is True
    assert machine.git_dirty(root=tmp_path.parent / "no-such-dir") is None


@pytest.mark.slow  # runs stages 01-02 of the CI profile through papermill
def test_a_real_partial_run_records_its_stages_and_shares_no_paths(tmp_path):
    profile = yaml.safe_load((REPO_ROOT / "params" / "ci.yaml").read_text())
    profile["common"].update(profile="ci-record", data_root=str(tmp_path / "data"),
                             reports_dir=str(tmp_path / "reports"))
    params = tmp_path / "ci-record.yaml"
    params.write_text(yaml.safe_dump(profile))
    pipeline.run_profile(str(params), "01", "02")
    reports = tmp_path / "reports" / "ci-record"
    first = json.loads((reports / "run.json").read_text())
    assert list(first["stages"]) == ["01_data", "02_audio_prep"]
    for entry in first["stages"].values():
        assert entry["commit"] == machine.git_sha() and entry["dirty"] in (True, False)
        assert entry["command"].endswith("ci-record.yaml --from 01 --to 02") and str(tmp_path) not in entry["command"]
        assert entry["started"] <= entry["finished"] and entry["seconds"] > 0
        assert entry["cpu"]["model"] and entry["versions"]["torch"]
    pipeline.run_profile(str(params), "02", "02")
    second = json.loads((reports / "run.json").read_text())
    assert second["stages"]["01_data"] == first["stages"]["01_data"]
    assert second["stages"]["02_audio_prep"]["started"] >= first["stages"]["02_audio_prep"]["finished"]
    assert second["last_call"]["stages"] == ["02_audio_prep"]
    for ipynb in reports.glob("*.ipynb"):
        text = ipynb.read_text()
        assert str(tmp_path) not in text and str(REPO_ROOT) not in text, ipynb.name
        assert json.loads(text)["metadata"]["papermill"]["input_path"] == f"./notebooks/{ipynb.name}"
