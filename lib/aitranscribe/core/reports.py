"""Report files of a profile: metrics (flat ``<stage>.<name>`` keys in ``reports/<profile>/metrics.json``) and the
HTML rendering of executed notebooks: code hidden, cells tagged ``phi`` left out when shared safely, logs, progress
bars and machine paths taken out (:mod:`.sanitize`), and the stage's key figures first."""
from __future__ import annotations

import fcntl
import html
import json
import logging
import re
from pathlib import Path

from . import metric_labels, registry
from .files import atomic_write_json, atomic_write_text
from .paths import profile_reports_dir
from .sanitize import clean_notebook

log = logging.getLogger(__name__)

PHI_TAG = "phi"
SUMMARY_TAG = "key-figures"
# nbconvert's lab page without the scripts it loads from CDNs (require.js, MathJax, mermaid): a report opened
# anywhere asks nothing of the internet (the kit's outputs use none of them; widgets are dropped by sanitize)
TEMPLATE = "aitranscribe_report.html.j2"
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
RECORDING_CELL = re.compile(r"\brecord_metrics\(|\bmetrics\.record\(")  # the cell recording them (older kits too)


def _plain(value):
    """Numpy scalars and paths as plain JSON values."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def metrics_html(metrics: dict) -> str:
    """An HTML table of labelled metrics (:func:`metric_labels.rows`)."""
    body = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
                   for name, value in metric_labels.rows(metrics))
    return f'<table class="dataframe"><tbody>{body}</tbody></table>'


class Metrics(dict):
    """Recorded metrics, ``{"<stage>.<name>": value}``: a plain dict, shown in a notebook as a labelled table."""

    def _repr_html_(self) -> str:
        return metrics_html(self)


def record_metrics(params: dict, stage: str, values: dict, record: dict | None = None) -> Metrics:
    """Record a stage's figures ``values`` as ``<stage>.<name>`` keys and return them. Into the profile's
    ``metrics.json``, replacing every key the stage recorded before (no stale figure of an earlier run survives);
    or, for a run that is not the profile's own (``record["recorded"]`` False, e.g. a folder of a user's
    recordings), into ``metrics.json`` in that run's output directory, so it never changes the profile's figures."""
    recorded = {f"{stage}.{name}": _plain(v) for name, v in values.items()}
    if record is not None and not record.get("recorded", True):
        atomic_write_json(Path(record["dir"]) / "metrics.json", recorded)
        log.info("figures of %s written beside its outputs; the profile's metrics are unchanged", Path(record["dir"]).name)
        return Metrics(recorded)
    path = profile_reports_dir(params) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".metrics.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = json.loads(path.read_text()) if path.is_file() else {}
        current = {k: v for k, v in current.items() if not k.startswith(f"{stage}.")}
        current.update(recorded)
        atomic_write_json(path, current)
    log.debug("recorded %d metrics in %s", len(recorded), path)
    return Metrics(recorded)


def stage_of(ipynb: Path) -> registry.StageInfo | None:
    """The stage an executed notebook ``NN_name.ipynb`` belongs to, by its number (older names included)."""
    number = Path(ipynb).stem[:2]
    return next((s for s in registry.STAGES if s.number == number), None)


def key_figures(ipynb: Path) -> dict:
    """The figures a report begins with: of the metrics the notebook's stage recorded in the ``metrics.json`` beside
    it, those its stage names as key figures (:func:`metric_labels.key_figures`; empty when there are none)."""
    stage, path = stage_of(ipynb), Path(ipynb).parent / "metrics.json"
    if stage is None or not path.is_file():
        return {}
    figures = {k: v for k, v in json.loads(path.read_text()).items() if k.startswith(f"{stage.key}.")}
    return metric_labels.key_figures(stage.key, figures)


def _finished(nb) -> bool:
    """Whether every code cell ran without an error (so metrics.json holds this run's figures)."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    return all(o.get("output_type") != "error" for c in cells for o in c.get("outputs", [])) and all(
        c.get("execution_count") is not None for c in cells if c.get("source", "").strip())


def add_key_figures(nb, figures: dict):
    """``nb`` with a table of ``figures`` under its title (the first line of its first markdown cell) and the
    outputs of the cell that recorded them (:data:`RECORDING_CELL`) removed, as they are the same figures."""
    import nbformat

    if not figures:
        return nb
    table = metrics_html(figures)
    cell = nbformat.v4.new_markdown_cell(f"**Key figures** of this stage (recorded in `metrics.json`):\n\n{table}",
                                         metadata={"tags": [SUMMARY_TAG]})
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "markdown" and first.source.lstrip().startswith("#"):
        title, _, rest = first.source.lstrip().partition("\n")
        first.source = title
        rest_cell = [nbformat.v4.new_markdown_cell(rest.strip("\n"))] if rest.strip() else []
        nb.cells = [first, cell, *rest_cell, *nb.cells[1:]]
    else:
        nb.cells = [cell, *nb.cells]
    for c in nb.cells:
        if c.cell_type == "code" and RECORDING_CELL.search(c.source):
            c.outputs = []
    return nb


def render_html(ipynb: Path, share_safe: bool) -> Path:
    """``ipynb`` rendered to HTML beside it: its stage's key figures first (from metrics.json, when every cell ran),
    code hidden, logs, progress bars and machine paths taken out, reprs shown as tables, ``phi`` cells removed
    when ``share_safe``, no script fetched from a CDN. Works on notebooks executed by earlier kits too."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(ipynb), as_version=4)
    finished = _finished(nb)
    nb = clean_notebook(nb, share_safe)
    if finished:
        nb = add_key_figures(nb, key_figures(ipynb))
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            extra_loaders=[jinja2.DictLoader({TEMPLATE: OFFLINE_TEMPLATE})], template_file=TEMPLATE)
    if share_safe:
        remover = TagRemovePreprocessor(remove_cell_tags={PHI_TAG}, enabled=True)
        exporter.register_preprocessor(remover, enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    return atomic_write_text(Path(ipynb).with_suffix(".html"), body)


def executed_share_safe(ipynb: Path) -> bool:
    """The ``share_safe`` an executed notebook ran with (papermill's record of its parameters); True when unknown."""
    import nbformat

    nb = nbformat.read(str(ipynb), as_version=4)
    value = ((nb.metadata.get("papermill") or {}).get("parameters") or {}).get("share_safe", True)
    return value if isinstance(value, bool) else True


def rerender(profile_dir: Path) -> list[Path]:
    """Every executed stage notebook ``NN_*.ipynb`` of a profile's reports directory rendered again to HTML with
    the ``share_safe`` it ran with, without running anything; returns the HTML files."""
    notebooks = sorted(Path(profile_dir).glob("[0-9][0-9]_*.ipynb"))
    return [render_html(ipynb, executed_share_safe(ipynb)) for ipynb in notebooks]
