"""What the notebooks' cells show is a table, a figure or a sentence, never a raw Python repr."""
import ast
import json

import pandas as pd
import pytest

from aitranscribe import plots
from aitranscribe.benchmarking import results
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.models import decipher, gan
from aitranscribe.stages import features, text

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_ends_with_a_literal_or_a_bare_name(nb_path):
    """A cell's shown value comes from a library call (which returns a table, figure or text), not from a dict
    built in the notebook or a variable holding one."""
    for cell in json.loads(nb_path.read_text())["cells"]:
        if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
            continue
        body = ast.parse("".join(cell["source"])).body
        if body and isinstance(body[-1], ast.Expr):
            assert isinstance(body[-1].value, ast.Call), f"{nb_path.name}: {''.join(cell['source'])!r}"


def test_probe_and_text_overviews_are_tables():
    table = features.probe_table({"per": 0.1598, "per_train": 0.0504, "symbols": 59, "epochs": 40, "lr": 0.003,
                                  "batch_size": 16, "eval_split": "test", "seed": 0})
    assert isinstance(table, pd.DataFrame) and table.loc["PER on test (%)"].item() == 16.0
    assert "skipped" in features.probe_table({"per": None, "skipped": True}).data
    overview = text.overview({"n_lines": 10, "n_english": 9, "dropped_not_english": 1, "dropped_digits": 0,
                              "n_sentences": 8, "n_words": 30, "n_phones": 40, "rare_phones": ["nʲ", "ɔ̃"]})
    assert overview.loc["rare phones left out"].item() == "nʲ, ɔ̃" and overview.loc["lines read"].item() == 10


def test_benchmark_cells_are_tables_and_text():
    summary = {"machine": {"cores": 2, "flags": ["avx2", "avx512f"], "git_sha": "24039ff7ebefd05516bad643",
                           "max_mhz": 2596.1, "memory_gb": 23.5, "model": "AMD EPYC"},
               "binding": "numactl --physcpubind 0,1 --membind 0", "threads": 2,
               "skipped": {"ipex": "needs .venv-intel"},
               "backends": {"eager": {"per": 0.3736, "model": {"1": {"median": 1.0, "flops": 2e9}}},
                        "int8": {"per": 0.3746, "model": {"1": {"median": 0.5, "flops": 2e9}}}}}
    machine = results.machine_table(summary)
    assert machine.loc["CPU"].item() == "AMD EPYC" and machine.loc["arms not run"].item() == "ipex: needs .venv-intel"
    pers = results.check_equal_per(summary, 0.01, 0.02)
    assert pers == {"eager": 0.3736, "int8": 0.3746} and "37.46" in pers._repr_html_()
    assert results.roofline_note(summary).data.startswith("Best acoustic-model throughput: 4.0 GFLOP/s (int8, batch 1)")


def test_corpus_table_counts_are_integers():
    table = plots.corpus_table({"splits": {"train": {"utterances": 2000, "hours": 1.6, "speakers": 9},
                                           "test": {"utterances": 200, "hours": 0.16, "speakers": 9}}})
    assert table.loc["train", "utterances"] == 2000 and str(table["utterances"].dtype).startswith("int")


@pytest.mark.parametrize("method, label", [("decipher", decipher.LABEL), ("gan", gan.LABEL), (None, "selected model")])
def test_reference_chart_names_the_method_that_ran(method, label):
    report = {"per_chance": 0.93, "per_test": 0.37, "per_supervised": 0.16, **({"method": method} if method else {})}
    fig = plots.reference_points(report)
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert f"{label} (selected, no labels)" in names
    assert method == "gan" or not any("wav2vec-U" in n for n in names)
