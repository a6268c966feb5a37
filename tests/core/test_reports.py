"""Shared HTML reports read like reports: no log records, progress bars, Python reprs or machine paths; the stage's
key figures first. Checked on a small synthetic notebook and on every committed report."""
import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

from aitranscribe.core import metric_labels, reports
from aitranscribe.core.logs import WARNING_KIND
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.core.sanitize import clean_notebook, machine_roots, readable_repr, scrub_paths

FORBIDDEN = {  # what a shared report must not show, with what each looks like
    "a log record": re.compile(r"\b\d\d:\d\d:\d\d(?:[,.]\d+)?\s+(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+[\w.-]+:"
                               r"|\b(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)[ :]+aitranscribe\b|\b[A-Z]\w*Warning: "),
    "a Python repr": re.compile(r"\{'|\[\{'|\[\('|\b(?:Posix|Windows)Path\(|\bnp\.\w+\("),
    "a machine path": re.compile(r"/work/|/home/|/tmp/|/root/|/Users/"),
    "a progress bar": re.compile(r"\d+%\|"),
    "a script fetched from the internet": re.compile(r"<script[^>]*\bsrc=[\"']?(?:https?:)?//"),
}
EMBEDDED = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")  # images: base64 may spell anything


def _committed() -> list[Path]:
    """The HTML reports git tracks (``reports/ci/`` and other local runs are not shared); every one without git."""
    found = sorted((REPO_ROOT / "reports").glob("*/*.html"))
    try:
        tracked = subprocess.run(["git", "ls-files", "-z", "reports"], cwd=REPO_ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return found
    names = {REPO_ROOT / n for n in tracked.stdout.decode().split("\0") if n}
    return [p for p in found if p in names]


COMMITTED = _committed()


def problems(path: Path) -> list[str]:
    """``file:line: what (excerpt)`` for every forbidden thing in an HTML file."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = EMBEDDED.sub("", line)
        for what, pattern in FORBIDDEN.items():
            if m := pattern.search(line):
                found.append(f"{path.relative_to(path.parents[2]) if len(path.parents) > 2 else path}:{number}: "
                             f"{what}: {line[max(0, m.start() - 60):m.end() + 60].strip()!r}")
    return found


# ---------------------------------------------------------------- a tiny executed notebook, as papermill leaves it

HOME = str(Path.home())


def _executed(tmp_path: Path, repo="/work/elsewhere", share_safe=True) -> Path:
    """``reports/t/02_audio_prep.ipynb`` executed 'in' ``repo``, with every kind of output the kit's notebooks had,
    and a metrics.json beside it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"input_path": f"{repo}/notebooks/02_audio_prep.ipynb",
                                "output_path": f"{repo}/reports/t/02_audio_prep.ipynb",
                                "parameters": {"profile": "t", "data_root": "data", "share_safe": share_safe}}
    stream = nbformat.v4.new_output
    cells = [
        nbformat.v4.new_markdown_cell("# 02 · Audio preparation\n\nWhat the stage does."),
        nbformat.v4.new_code_cell("p = notebook.start(audio_prep, globals())", execution_count=1, outputs=[
            stream("stream", name="stderr", text="12:15:59 INFO aitranscribe.core.notebook: 02: profile 't'\n")]),
        nbformat.v4.new_code_cell("record = audio_prep.run(p)", execution_count=2, outputs=[
            stream("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "a"},
                                         "text/plain": "VAD train:   0%|          | 0/10 [00:00<?, ?chunk/s]"}),
            stream("stream", name="stdout", text=f"kept 86.7% of the speech\n"
                                                 f"12:16:10 INFO aitranscribe.stages.x: wrote {repo}/data/t/x.npy\n"
                                                 f"INFO:numba.core:compiling\n"
                                                 f"12 files [00:01, 8.5 files/s]\r\n"),
            stream("display_data", metadata={"aitranscribe": WARNING_KIND, "shareable": False},
                   data={"text/html": "<p>⚠ Warning: secret_name.wav is clipped</p>",
                         "text/plain": "Warning: secret_name.wav is clipped"}),
            stream("display_data", metadata={"aitranscribe": WARNING_KIND, "shareable": True},
                   data={"text/html": "<p>⚠ Warning: the machine is 50% busy</p>",
                         "text/plain": "Warning: the machine is 50% busy"})]),
        nbformat.v4.new_code_cell("evaluate(record)", execution_count=3, outputs=[
            stream("execute_result", execution_count=3, data={"text/plain": (
                "{'method': 'decipher',\n 'checkpoint': PosixPath('" + repo + "/data/t/model.pt'),\n"
                " 'per_test': np.float64(0.37),\n 'rounds': [{'round': 1, 'ppl': 92.6}],\n"
                f" 'scratch': '/tmp/pytest-of-x/run', 'cache': '{HOME}/.cache/x', 'other': '/home/someone/y'}}")})]),
        nbformat.v4.new_code_cell("roofline_note(summary)", execution_count=4, outputs=[
            stream("execute_result", execution_count=4, data={"text/plain": "'Best throughput: 258 GFLOP/s.'"})]),
        nbformat.v4.new_code_cell("sample_player(record)", execution_count=5, metadata={"tags": ["phi"]}, outputs=[
            stream("execute_result", execution_count=5, data={"text/plain": "'the private transcript'"})]),
        nbformat.v4.new_code_cell("reports.record_metrics(p, audio_prep.KEY, metrics)", execution_count=6, outputs=[
            stream("execute_result", execution_count=6, data={"text/plain": "{'audio_prep.speech_fraction': 0.8673}"})]),
    ]
    nb.cells = cells
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                             "version_minor": 0}}
    out = tmp_path / "reports" / "t" / "02_audio_prep.ipynb"
    out.parent.mkdir(parents=True)
    nbformat.write(nb, str(out))
    (out.parent / "metrics.json").write_text(json.dumps({"audio_prep.speech_fraction": 0.8673, "data.hours": 1.5}))
    return out


def test_paths_of_the_machine_become_relative_or_placeholders():
    roots = [("/work/elsewhere", "."), ("/big/data", "$DATA_ROOT"), (HOME, "~")]
    text = ("/work/elsewhere/data/x.npy /work/elsewhere2/y /big/data/demo /tmp/abc /var/tmp/d /home/bob/k /root/.cache "
            f"{HOME}/z https://example.org/tmp/x")
    assert scrub_paths(text, roots) == ("./data/x.npy /work/elsewhere2/y $DATA_ROOT/demo $TMPDIR/abc $TMPDIR/d ~/k "
                                        "~/.cache ~/z https://example.org/tmp/x")


def test_roots_come_from_the_run_recorded_in_the_notebook(tmp_path):
    nb = nbformat.read(str(_executed(tmp_path)), as_version=4)
    nb.metadata.papermill.parameters["data_root"] = "/mnt/corpora"
    roots = dict(machine_roots(nb))
    assert roots["/work/elsewhere"] == "." and roots[str(REPO_ROOT)] == "." and roots["/mnt/corpora"] == "$DATA_ROOT"


def test_a_repr_becomes_a_table_or_plain_text():
    table = readable_repr("{'per': 0.3736, 'rounds': [{'round': 1, 'ppl': 92.6}, {'round': 2, 'ppl': 70.1}]}")
    assert table["text/html"].startswith("<table") and "<th>ppl</th>" in table["text/html"] and "{'" not in \
        table["text/html"]
    assert readable_repr("'a sentence'") == {"text/html": "<p>a sentence</p>", "text/plain": "a sentence"}
    assert readable_repr("<Figure size 640x480 with 1 Axes>") is None and readable_repr("42") is None


def test_cleaning_a_synthetic_notebook(tmp_path):
    nb = clean_notebook(nbformat.read(str(_executed(tmp_path)), as_version=4), share_safe=True)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = json.dumps(outputs)
    assert "stderr" not in text and "0%|" not in text and "files/s" not in text and "INFO" not in text
    assert "kept 86.7% of the speech" in text  # a plain stdout line stays
    assert "secret_name" not in text and "the machine is 50% busy" in text  # unshareable warning withheld...
    assert "1 warning(s) of this step are left out" in text and "data/t/logs/02_audio_prep.log" in text  # ...counted
    assert "/work/" not in text and "/tmp/" not in text and HOME not in text and "/home/" not in text
    assert "./data/t/model.pt" in text and "$TMPDIR/pytest-of-x/run" in text and "~/.cache/x" in text
    assert "PosixPath" not in text and "Best throughput: 258 GFLOP/s." in text
    not_safe = clean_notebook(nbformat.read(str(_executed(tmp_path / "b")), as_version=4), share_safe=False)
    assert "secret_name.wav is clipped" in json.dumps([c.get("outputs") for c in not_safe.cells])


def test_render_html_begins_with_key_figures_and_shows_nothing_forbidden(tmp_path):
    html = reports.render_html(_executed(tmp_path), share_safe=True)
    assert problems(html) == []
    body = html.read_text()
    title, figures, intro = (body.index("02 · Audio preparation"), body.index("Key figures"),
                             body.index("What the stage does"))
    assert title < figures < intro
    assert "audio kept as speech by the VAD" in body and "86.7%" in body and "hours of audio" not in body
    assert body.count("audio kept as speech by the VAD") == 1  # the record_metrics cell's own table is left out
    assert "the private transcript" not in body
    assert "the private transcript" in reports.render_html(_executed(tmp_path / "b"), share_safe=False).read_text()
    assert "<script" not in body and "widget-state" not in body  # nothing to fetch, no progress bars' saved state


def test_no_key_figures_after_a_failed_run(tmp_path):
    path = _executed(tmp_path)
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].outputs.append(nbformat.v4.new_output("error", ename="KitError", evalue=f"bad file {HOME}/a.wav",
                                                      traceback=["KitError: bad"]))
    nbformat.write(nb, str(path))
    body = reports.render_html(path, share_safe=True).read_text()
    assert "Key figures" not in body and "KitError" in body and HOME not in body


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The committed-reports test below can fail: each forbidden kind is found, with its file and line."""
    bad = tmp_path / "a" / "b" / "r.html"
    bad.parent.mkdir(parents=True)
    bad.write_text("<p>ok</p>\n<pre>12:15:37 INFO aitranscribe.stages.data: building</pre>\n<pre>{'per': 0.3}</pre>\n"
                   "<td>/work/main/data/x</td>\n<pre>VAD:  40%|####   | 4/10</pre>\n"
                   '<img src="data:image/png;base64,AA/work/BB"/>\n'
                   '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>\n')
    found = problems(bad)
    assert [f.split(": ")[0:2] for f in found] == [["a/b/r.html:2", "a log record"], ["a/b/r.html:3", "a Python repr"],
                                                  ["a/b/r.html:4", "a machine path"], ["a/b/r.html:5", "a progress bar"],
                                                  ["a/b/r.html:7", "a script fetched from the internet"]]


def test_committed_reports_read_like_reports():
    """Every committed HTML report: no log record, Python repr, machine path, progress bar or remote script (re-render
    them with ``tools/render_reports.py`` after a run that committed new ones)."""
    assert COMMITTED, "no committed HTML report found"
    found = [p for path in COMMITTED for p in problems(path)]
    assert not found, "\n".join(found[:30]) + (f"\n... and {len(found) - 30} more" if len(found) > 30 else "")


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_reports_begin_with_key_figures(path):
    body = path.read_text(encoding="utf-8")
    assert "Key figures" in body, f"{path}: no key-figures table (re-render with tools/render_reports.py)"


# ---------------------------------------------------------------- labels of the key figures

def test_metric_labels_and_values():
    rows = dict(metric_labels.rows({"train.per_test": 0.3736, "data.n_utterances": 2400, "text.oov_sentence_fraction":
                                    0.0002, "train.method": "decipherment + self-training", "features.probe_per": None,
                                    "benchmark.speedup_openvino_bs8": 0.332, "benchmark.speedup_openvino_bs1": 1.479,
                                    "benchmark.speedup_stock_28_bs1": 0.995, "inference.per_int8": 0.3746,
                                    "train.some_new_ppl": 12.345, "data.hours": 1.9364}))
    assert rows["selected model, test PER (report-only)"] == "37.4%"
    assert rows["utterances (train + valid + test)"] == "2,400"
    assert rows["held-out sentences with a word outside the lexicon"] == "0.02%"
    assert rows["supervised CTC probe on the segments, test PER (report-only)"] == "—"
    assert rows["speedup of openvino over eager"] == "1.48× (batch 1), 0.33× (batch 8)"
    assert rows["speedup of stock-2.8 over eager"] == "0.99× (batch 1)"
    assert rows["PER with backend int8"] == "37.5%" and rows["some new perplexity"] == "12.3"
    assert rows["hours of audio"] == "1.94"
    w2v2 = dict(metric_labels.rows({"benchmark.w2v2_large_x_realtime_openvino_int8": 55.976,
                                    "benchmark.w2v2_large_best_backend": "openvino-int8",
                                    "benchmark.w2v2_large_peak_fraction_best": 0.1375,
                                    "benchmark.w2v2_tiny_gemm_fraction_best": 0.6596,
                                    "benchmark.w2v2_base_gemm_gflops_int8": 2250.5,
                                    "benchmark.cpu_peak_gflops_bf16": 5324.8}))
    assert w2v2 == {"wav2vec 2.0 LARGE, openvino-int8: times real time, batch 1": "56.0",
                    "wav2vec 2.0 LARGE: best backend (the fastest passing the fidelity bar, batch 1)": "openvino-int8",
                    "wav2vec 2.0 LARGE: best backend's share of the CPU's peak for its precision": "13.8%",
                    "wav2vec 2.0 tiny: best backend's share of one PyTorch matrix product's rate": "66.0%",
                    "wav2vec 2.0 BASE: one PyTorch int8 matrix product, GOP/s": "2,250",
                    "nominal peak of the bound cores, bf16, GFLOP/s": "5,325"}


def test_record_metrics_shows_a_labelled_table(tmp_path):
    recorded = reports.record_metrics({"profile": "t", "reports_dir": str(tmp_path)}, "audio_prep",
                                      {"speech_fraction": 0.8673})
    assert recorded == {"audio_prep.speech_fraction": 0.8673}
    assert "<th>audio kept as speech by the VAD</th><td>86.7%</td>" in recorded._repr_html_()


def test_rerender_keeps_the_share_safe_the_notebook_ran_with(tmp_path):
    path = _executed(tmp_path, share_safe=False)
    [html] = reports.rerender(path.parent)
    assert "the private transcript" in html.read_text()
