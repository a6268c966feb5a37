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


def test_chains_reused_without_their_word_rounds_keep_the_phone_rounds(tmp_path):
    source = tmp_path / "decipher-old"
    for chain, rounds in (("chain-seed0", {1: "phones", 2: "phones"}), ("ensemble-k2-seed0", {3: "phones", 4: "words"})):
        for k, labels in rounds.items():
            folder = source / chain / "rounds" / f"round-{k}"
            folder.mkdir(parents=True)
            (folder / "round.json").write_text(f'{{"round": {k}' + (', "labels": "words"}' if labels == "words" else "}"))
    (source / "chain-seed0" / "decipherment.npz").write_bytes(b"x")
    target = tmp_path / "decipher-new"
    stability_run.reuse_chains(source, tmp_path / "p.yaml", word_rounds=False, target=target)
    assert sorted(p.name for p in (target / "chain-seed0" / "rounds").iterdir()) == ["round-1", "round-2"]
    assert (target / "chain-seed0" / "decipherment.npz").is_file()
    assert sorted(p.name for p in (target / "ensemble-k2-seed0" / "rounds").iterdir()) == ["round-3"]
