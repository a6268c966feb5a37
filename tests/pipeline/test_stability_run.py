"""The stability record's runner (tools/research/stability_run.py): a run sharing a profile's data leaves the
profile's own stage records where they were."""
import sys

import pytest

from aitranscribe.core.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools" / "research"))
import stability_run  # noqa: E402


def test_a_run_puts_the_profiles_stage_records_back_even_when_it_fails(tmp_path):
    stages = tmp_path / "stages"
    stages.mkdir()
    (stages / "train.json").write_text('{"dir": "the demo run"}')
    with stability_run.stage_records_kept(tmp_path):
        (stages / "train.json").write_text('{"dir": "a stability run"}')
        (stages / "inference.json").write_text('{"dir": "a stability run"}')
    assert (stages / "train.json").read_text() == '{"dir": "the demo run"}'
    assert (stages / "inference.json").read_text() == '{"dir": "a stability run"}'  # none was there: it stays
    with pytest.raises(RuntimeError):
        with stability_run.stage_records_kept(tmp_path):
            (stages / "train.json").unlink()
            raise RuntimeError("stage 05 failed")
    assert (stages / "train.json").read_text() == '{"dir": "the demo run"}'
