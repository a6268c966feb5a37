"""Executed notebooks keep no path of the machine: scrub_notebook_paths cleans them, and no committed report holds one."""
import json
import subprocess

import nbformat
import pytest

from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.core.sanitize import scrub_notebook_paths

FORBIDDEN = ("/work/", "/home/", "/root/", "/tmp/", str(REPO_ROOT))
COMMITTED = sorted(REPO_ROOT / name for name in subprocess.run(  # what git tracks (a local reports/ci is ignored)
    ["git", "ls-files", "reports/**/*.ipynb"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split())
PNG = "iVBORw0KGgo/tmp/work/AAA"  # base64 may spell anything; images are not text and are left alone


def _strings(value, where=""):
    """Every string of a notebook's JSON with where it is, outputs' binary data (images) left out."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            binary = where.endswith(".data") and not (k.startswith("text/") or k.endswith(("json", "+xml")))
            if not binary:
                yield from _strings(v, f"{where}.{k}")


def machine_paths(nb: dict) -> list[str]:
    """Where a notebook (its JSON) holds one of :data:`FORBIDDEN`."""
    return [f"{where}: {text[:80]!r}" for where, text in _strings(nb) if any(p in text for p in FORBIDDEN)]


def _executed(repo: str, home: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"input_path": f"{repo}/notebooks/05_train.ipynb",
                                "output_path": f"{repo}/reports/demo/05_train.ipynb",
                                "parameters": {"data_root": "/srv/data", "profile": "demo"}}
    code = nbformat.v4.new_code_cell(f"data_root = '/srv/data'\nlog = '{repo}/data/demo/logs/05.log'")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"wrote {repo}/data/demo/05_train/model.pt\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": f"'{home}/cache/x'", "image/png": PNG}),
        nbformat.v4.new_output("error", ename="KitError", evalue=f"{repo}/params/demo.yaml: bad",
                               traceback=[f"File /tmp/ipykernel_1/2.py in {repo}/lib/x.py"]),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell(f"See `{repo}/docs/methods.md`."), code]
    return nb


def test_scrub_takes_every_machine_path_out_and_leaves_images():
    nb = _executed("/opt/elsewhere/ai-transcribe", "/home/alice")
    assert len(machine_paths(json.loads(nbformat.writes(nb)))) == 2  # home and /tmp: the check sees them
    clean = scrub_notebook_paths(nb)
    found = machine_paths(json.loads(nbformat.writes(clean)))
    assert found == []
    text = nbformat.writes(clean)
    assert "/opt/elsewhere" not in text and "/srv/data" not in text
    assert clean.metadata.papermill.input_path == "./notebooks/05_train.ipynb"
    assert clean.metadata.papermill.parameters.data_root == "$DATA_ROOT"
    assert clean.cells[1].outputs[0].text == "wrote ./data/demo/05_train/model.pt\n"
    assert clean.cells[1].outputs[1].data["image/png"] == PNG
    assert clean.cells[1].outputs[1].data["text/plain"] == "'~/cache/x'"
    assert clean.cells[1].outputs[2].traceback == ["File $TMPDIR/ipykernel_1/2.py in ./lib/x.py"]
    assert nb.metadata.papermill.input_path.startswith("/opt")  # the input is not changed
    assert scrub_notebook_paths(clean) == clean  # a second pass changes nothing


def test_the_check_finds_a_planted_path():
    nb = json.loads(nbformat.writes(nbformat.v4.new_notebook()))
    nb["metadata"]["papermill"] = {"output_path": "/work/main/reports/demo/01_data.ipynb"}
    assert machine_paths(nb) and "papermill.output_path" in machine_paths(nb)[0]


@pytest.mark.parametrize("ipynb", COMMITTED, ids=lambda p: str(p.relative_to(REPO_ROOT / "reports")))
def test_committed_reports_hold_no_machine_path(ipynb):
    found = machine_paths(json.loads(ipynb.read_text()))
    assert not found, (f"{ipynb.relative_to(REPO_ROOT)} holds paths of the machine (clean it with "
                       f"aitranscribe.pipeline.scrub_notebook_file): {found[:3]}")


def test_there_are_committed_reports_to_check():
    assert len(COMMITTED) >= 7
