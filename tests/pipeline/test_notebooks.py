"""The notebooks stay thin and in step with the library: parameters cell, defaults, no definitions."""
import ast
import json
from pathlib import Path

import pytest
from papermill.translators import PythonTranslator

from aitranscribe.core import registry
from aitranscribe.core.params import stage_spec
from aitranscribe.core.paths import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PROFILES = sorted((REPO_ROOT / "params").glob("*.yaml"))


def _stage(nb_path):
    return next(s for s in registry.STAGES if s.notebook == nb_path.stem)


def test_every_notebook_belongs_to_a_stage():
    assert NOTEBOOKS, "no notebooks found"
    assert {p.stem for p in NOTEBOOKS} == {s.notebook for s in registry.STAGES}


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_matches_library_defaults(nb_path):
    nb = json.loads(nb_path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    source = "".join(cells[0]["source"])
    values = {}
    exec(compile(source, str(nb_path), "exec"), {}, values)  # the cell only assigns literals
    spec = stage_spec(_stage(nb_path).load().PARAMS)
    assert values == {name: p.default for name, p in spec.items()}
    # papermill must see every parameter (it cannot parse some comments)
    import nbformat
    cell = nbformat.from_dict({**cells[0], "source": source})
    assert {p.name for p in PythonTranslator.inspect(cell)} == set(spec)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_definitions_in_notebooks(nb_path):
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            tree = ast.parse("".join(cell["source"]))
            assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda)) for n in ast.walk(tree))


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_last_cell_records_metrics(nb_path):
    nb = json.loads(nb_path.read_text())
    last = [c for c in nb["cells"] if c["cell_type"] == "code"][-1]
    # one way for every stage: reports.record_metrics (a folder's figures stay beside its transcripts)
    assert "record_metrics(" in "".join(last["source"])


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profiles_are_valid(profile):
    from aitranscribe.core.params import load_profile

    import yaml

    loaded = load_profile(profile, {s.key: s.load().PARAMS for s in registry.STAGES})
    base = (yaml.safe_load(profile.read_text()) or {}).get("extends")  # a variant of another profile shares its data
    name = Path(base).stem if base else profile.stem
    assert all(p["profile"] == name for p in loaded.values())


def test_the_notebooks_defaults_are_the_ci_profile(tmp_path):
    """Every stage's defaults (the notebooks' parameters cells) resolve as params/ci.yaml does, apart from how work
    is executed: so the notebooks under nbval find the CI run's stages done instead of computing them again."""
    from aitranscribe.core.params import EXECUTION_ONLY, load_profile

    specs = {s.key: s.load().PARAMS for s in registry.STAGES}
    bare = tmp_path / "ci.yaml"
    bare.write_text("common: {profile: ci}\n")
    ci, defaults = load_profile(REPO_ROOT / "params" / "ci.yaml", specs), load_profile(bare, specs)
    for key in specs:
        differ = {name for name in ci[key].keys() | defaults[key].keys() if ci[key].get(name) != defaults[key].get(name)}
        assert differ <= set(EXECUTION_ONLY), (key, differ)
