"""docs/results.md is generated from the committed reports and says what they say."""
import difflib
import json
import re
import subprocess

import pytest

from aitranscribe import pipeline, results_doc
from aitranscribe.core import metric_labels
from aitranscribe.core.errors import KitError


def test_committed_results_doc_is_what_the_reports_say():
    expected = results_doc.render()
    written = results_doc.DOC.read_text()
    diff = "\n".join(list(difflib.unified_diff(written.splitlines(), expected.splitlines(), "docs/results.md",
                                               "from reports/", lineterm=""))[:40])
    assert written == expected, f"docs/results.md is stale; regenerate it: {results_doc.COMMAND}\n{diff}"


def test_the_readme_status_is_what_the_reports_say():
    written = results_doc.README.read_text()
    assert written == results_doc.readme_with_status(written, results_doc.status()), \
        f"README.md's status is stale; regenerate it: {results_doc.COMMAND}"


def test_the_status_gives_the_median_and_range_of_the_runs_and_the_held_out_corpora(reports):
    path = reports / "p" / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "data.n_speakers": 9, "data.hours": 1.94,
                                "inference.wer_supervised_reference": 0.19}))
    one = results_doc.status(reports, "p")
    assert "12.3% PER / 30.0% WER on test (trained with labels: 19.0%) on an Some CPU" in one
    assert "14 min of training on 2 cores" in one and "median" not in one and "held out" not in one
    assert "~1,165x real time" in one and "LARGE" not in one
    run = {"corpus_seed": 0, "train_seed": 0, "precision": "bf16", "cpu": "c", "commit": "a", "base": "p.yaml",
           "inference.per": 0.1, "inference.wer": 0.3, "train.seconds": 800.0}
    for train_seed, wer in ((0, 0.30), (1, 0.22), (2, 0.26)):
        results_doc.append_stability_run({**run, "train_seed": train_seed, "inference.wer": wer}, reports)
    results_doc.append_stability_run({**run, "inference.wer": 0.1, "speaker_source": "metadata"}, reports)
    results_doc.append_stability_run({**run, "corpus_seed": 4, "held_out": True, "inference.wer": 0.28}, reports)
    results_doc.append_stability_run({**run, "corpus_seed": 3, "held_out": True, "inference.wer": 0.25}, reports)
    runs = results_doc.status(reports, "p")
    assert "Over 3 training runs of this corpus" in runs and "median 26.0%, range 22.0%–30.0%" in runs
    assert "CPUs" not in runs  # one CPU: not named again
    results_doc.append_stability_run({**run, "cpu": "d", "inference.wer": 0.24}, reports)
    assert "(training seeds 0, 1, 2; bf16; 2 CPUs: c, d) the test WER has median 25.0%" in \
        results_doc.status(reports, "p")
    path = reports / results_doc.STABILITY
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")  # (the rest counts the runs above)
    assert "on 2 corpora held out from all tuning (one run each): 25.0%, 28.0% WER" in runs
    assert "other corpora" not in runs
    for train_seed, wer in ((0, 0.24), (1, 0.98)):  # a run that fails on another corpus is in the status too
        results_doc.append_stability_run({**run, "corpus_seed": 1, "train_seed": train_seed, "inference.wer": wer},
                                         reports)
    runs = results_doc.status(reports, "p")
    assert "over 2 runs on another corpus (corpus seed 1) median 61.0%, range 24.0%–98.0% WER" in runs
    results_doc.append_stability_run({**run, "corpus_seed": 2, "inference.wer": 0.26}, reports)
    assert "over 3 runs on other corpora (corpus seeds 1, 2) median 26.0%" in results_doc.status(reports, "p")
    readme = "# Kit\n\n" + results_doc.STATUS_START + "\nold\n" + results_doc.STATUS_END + "\n\nmore\n"
    assert results_doc.readme_with_status(readme, runs) == \
        f"# Kit\n\n{results_doc.STATUS_START}\n{runs}\n{results_doc.STATUS_END}\n\nmore\n"
    with pytest.raises(KitError, match="no status markers"):
        results_doc.readme_with_status("# Kit\n", runs)


def test_the_header_holds_no_figure():
    assert not re.search(r"\d", results_doc.HEADER), "the header is prose; figures come from the reports"


def _entry(commit, dirty=False, started="2026-01-02T10:00:00Z", finished="2026-01-02T10:30:00Z", seconds=1800.0,
           model="Some CPU", flags=("avx512_bf16", "amx_bf16")):
    return {"command": "bash run_all.sh --params params/p.yaml", "commit": commit, "dirty": dirty,
            "started": started, "finished": finished, "seconds": seconds,
            "cpu": {"model": model, "cores": 2, "flags": list(flags)},
            "versions": {"python": "3.11.7", "torch": "2.13.0+cpu", "openvino": "2026.4.1"}}


@pytest.fixture
def reports(tmp_path):
    """A reports directory with one profile ``p``: metrics.json and a run.json written by the pipeline's own code."""
    (tmp_path / "p").mkdir()
    metrics = {"inference.per": 0.1234, "inference.wer": 0.3, "train.seconds": 810.8, "train.method": "decipher",
               "benchmark.e2e_best_backend": "openvino", "benchmark.e2e_x_realtime_eager": 1164.6}
    (tmp_path / "p" / "metrics.json").write_text(json.dumps(metrics))
    run = tmp_path / "p" / "run.json"
    pipeline.record_stage(run, "params/p.yaml", "05_train", _entry("a" * 40), ["05_train"])
    pipeline.record_stage(run, "params/p.yaml", "06_inference", _entry("a" * 40, started="2026-01-02T10:30:00Z",
                                                                       finished="2026-01-02T10:36:00Z", seconds=360),
                          ["05_train", "06_inference"])
    pipeline.record_stage(run, "params/p.yaml", "07_benchmark", _entry("b" * 40, dirty=True), ["07_benchmark"])
    return tmp_path


def test_figures_come_from_metrics_json_labelled_and_rounded(reports):
    text = results_doc.render(reports, ["p"])
    for key, shown in (("inference.per", "12.3%"), ("inference.wer", "30.0%"), ("train.seconds", "811"),
                       ("benchmark.e2e_x_realtime_eager", "1,165"), ("benchmark.e2e_best_backend", "openvino")):
        assert f"| {metric_labels.label(key)} | {shown} |" in text, key
    path = reports / "p" / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "inference.per": 0.2}))
    changed = results_doc.render(reports, ["p"])
    assert "20.0%" in changed and "12.3%" not in changed


def test_each_run_of_stages_names_its_commit_time_cpu_and_versions(reports):
    text = results_doc.render(reports, ["p"])
    rows = [line for line in text.splitlines() if line.startswith(("| 05-", "| 07 |"))]
    assert rows[0].startswith("| 05-06 | `bash run_all.sh --params params/p.yaml` | `aaaaaaa` | 2026-01-02 10:00–10:36 "
                              "| 36.0 min | Some CPU, 2 cores (avx512_bf16, amx_bf16) | 3.11.7 / 2.13.0+cpu / 2026.4.1 |")
    assert rows[1].startswith("| 07 | ") and "`bbbbbbb` + uncommitted changes" in rows[1]
    assert "## p (`params/p.yaml`)" in text and "bash run_all.sh --params params/p.yaml`." in text


def test_stability_runs_give_median_and_range_per_corpus(reports):
    (reports / "p" / "metrics.json").write_text(json.dumps(
        {"inference.per": 0.07, "inference.wer": 0.22, "train.seconds": 900.0, "train.precision": "bf16"}))
    first = results_doc.stability_record(reports / "p", corpus_seed=0, train_seed=1)
    assert first["commit"] == "a" * 40 and first["cpu"] == "Some CPU" and first["precision"] == "bf16"
    results_doc.append_stability_run(first, reports)
    for train_seed, wer, precision in ((2, 0.20, "bf16"), (3, 0.25, "fp32")):
        results_doc.append_stability_run({**first, "train_seed": train_seed, "inference.wer": wer,
                                          "precision": precision}, reports)
    results_doc.append_stability_run({**first, "corpus_seed": 1, "inference.wer": 0.30, "held_out": True}, reports)
    text = results_doc.render(reports, ["p"])
    section = text[text.index("## Stability"):]
    starts = [line[:6] for line in section.splitlines()]
    assert "4 runs" in section and starts.count("| 0 | ") == 3 and "| 1 (held out) | 1 |" in section
    wer_column = [line.split(" | ")[6] for line in section.splitlines()
                  if line.startswith("|") and ("median" in line or "range" in line)]
    assert wer_column == ["22.0%", "5.0%", "23.5%", "10.0%"]  # seed 0, all runs (seed 1 has one run: no summary)
    busy = {**first, "train_seed": 4, "train.seconds": 5000.0, "machine_busy": True}
    results_doc.append_stability_run(busy, reports)
    section = results_doc.render(reports, ["p"])
    section = section[section.index("## Stability"):]
    assert "| 5,000 (busy) |" in section
    seconds = [line.split(" | ")[7] for line in section.splitlines() if line.startswith("|") and "median" in line]
    assert seconds == ["900 |", "900 |"]  # the busy run's time is left out of the medians


def test_the_range_of_training_times_is_in_whole_seconds_as_the_times_are(reports):
    (reports / "p" / "metrics.json").write_text(json.dumps(
        {"inference.per": 0.07, "inference.wer": 0.22, "train.seconds": 1720.0, "train.precision": "bf16"}))
    first = results_doc.stability_record(reports / "p", corpus_seed=0, train_seed=0)
    results_doc.append_stability_run(first, reports)
    results_doc.append_stability_run({**first, "train_seed": 1, "train.seconds": 1728.6}, reports)
    section = results_doc.render(reports, ["p"])
    section = section[section.index("## Stability"):]
    ranges = [line.split(" | ")[7] for line in section.splitlines() if line.startswith("|") and "range" in line]
    assert ranges == ["9 |"]


def test_runs_on_speaker_names_are_reported_apart_from_the_median(reports):
    run = {"corpus_seed": 0, "train_seed": 0, "precision": "bf16", "cpu": "c", "commit": "a" * 40,
           "inference.per": 0.08, "inference.wer": 0.24, "train.seconds": 900.0, "speaker_source": "clusters"}
    results_doc.append_stability_run(run, reports)
    results_doc.append_stability_run({**run, "inference.wer": 0.20, "speaker_source": "metadata"}, reports)
    text = results_doc.render(reports, ["p"])
    stability = text[text.index("## Stability"):text.index("### Report-only")]
    named = text[text.index("### Report-only"):]
    assert "1 run:" in stability and "24.0%" in stability and "20.0%" not in stability
    assert "| 0 | 0 | bf16 | 8.0% | 20.0% | 8.0% | 24.0% | +4.0 points |" in named


def test_a_stability_line_without_a_field_is_named(reports):
    path = reports / results_doc.STABILITY
    path.parent.mkdir()
    path.write_text(json.dumps({"corpus_seed": 0, "train_seed": 0}) + "\n")
    with pytest.raises(KitError, match=r"runs.jsonl, line 1: no precision"):
        results_doc.render(reports, ["p"])


def test_the_record_holds_one_set_of_profile_settings(reports, tmp_path):
    """Runs of a base profile whose settings changed are not mixed into one median: the record names the lines,
    and the runs moved to superseded.jsonl are counted under the table, not in it."""
    def profile(name, text):
        (tmp_path / name).write_text(text)
        return results_doc.profile_settings(tmp_path / name)

    settings = profile("a.yaml", "train:\n  decipher:\n    word_rounds: 24\n")
    assert settings == profile("b.yaml", "# a comment\ntrain:\n  decipher: {word_rounds: 24}\nbenchmark: {repeats: 3}\n")
    assert settings == profile("c.yaml", "train:\n  decipher: {word_rounds: 24, patience: 2}\n")  # the default
    changed = profile("d.yaml", "train:\n  decipher:\n    word_rounds: 36\n")
    assert changed != settings
    # a setting under trial changes the settings only when it is on (off, the method runs as before it existed)
    assert settings == profile("e.yaml", "train:\n  decipher: {word_rounds: 24, both_starts: false}\n")
    assert settings != profile("f.yaml", "train:\n  decipher: {word_rounds: 24, both_starts: true}\n")
    run = {"corpus_seed": 0, "train_seed": 0, "precision": "bf16", "cpu": "c", "commit": "a" * 40,
           "inference.per": 0.08, "inference.wer": 0.24, "train.seconds": 900.0, "settings": settings}
    results_doc.append_stability_run(run, reports)
    results_doc.append_stability_run({**run, "train_seed": 1, "inference.wer": 0.20, "settings": changed}, reports)
    with pytest.raises(KitError, match=r"runs.jsonl mixes profile settings .* line\(s\) 1; .* line\(s\) 2\): .*superseded"):
        results_doc.render(reports, ["p"])
    path = reports / results_doc.STABILITY
    first, second = path.read_text().splitlines()
    path.write_text(second + "\n")
    (reports / results_doc.SUPERSEDED).write_text(first + "\n")
    text = results_doc.render(reports, ["p"])
    assert "1 run:" in text and "20.0%" in text and "24.0%" not in text
    assert "1 earlier run, at profile settings changed since, is kept in `reports/stability/superseded.jsonl`" in text


def test_a_parameter_added_later_leaves_the_settings_at_its_as_before_value(tmp_path, monkeypatch):
    """Stage 04's word_lm_prune came after the record's runs: a profile stating its as-before value ([]: every
    n-gram) has the settings it had before the parameter existed; any other value is other settings."""
    from aitranscribe.stages import text

    def profile(name, body):
        (tmp_path / name).write_text(body)
        return results_doc.profile_settings(tmp_path / name)

    full = profile("full.yaml", "text: {word_lm_prune: []}\n")
    assert full != profile("pruned.yaml", "text: {word_lm_prune: [0, 1]}\n")
    monkeypatch.setattr(text, "PARAMS", {k: v for k, v in text.PARAMS.items() if k != "word_lm_prune"})
    assert full == profile("before.yaml", "{}\n")


def test_only_profiles_git_tracks_are_documented(tmp_path):
    for name in ("kept", "local"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text("{}")
    assert results_doc.committed_profiles(tmp_path) == ["kept", "local"]  # not a git checkout: all
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "kept/metrics.json"], cwd=tmp_path, check=True)
    assert results_doc.committed_profiles(tmp_path) == ["kept"]
