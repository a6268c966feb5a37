"""What must not be in a shared report, taken out of an executed notebook before it becomes HTML.

:func:`clean_notebook` works on notebooks executed by any version of the kit (so committed reports can be
re-rendered without re-running them): it drops stderr (log records, library warnings), log-record and progress-bar
lines of stdout, progress-bar widgets; shows a Python ``dict``/``list``/``str`` repr as a table or as text; turns
the machine's absolute paths (repository root, data root, home, temporary directory) into relative or placeholder
text (:func:`scrub_paths`); and, when ``share_safe``, leaves out the kit's warnings not marked shareable (they may
name files), saying how many.
"""
from __future__ import annotations

import ast
import copy
import html
import json
import re
import tempfile
from pathlib import Path

from .logs import WARNING_KIND
from .paths import REPO_ROOT

LEVELS = r"(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)"
# "12:15:37 INFO aitranscribe.x: ..." (the kit's format, with or without a date), "INFO:name:..." (logging's default)
LOG_RECORD = re.compile(
    rf"^\s*(?:\d{{4}}-\d\d-\d\d[ T])?\d\d:\d\d:\d\d(?:[,.]\d+)?\s+{LEVELS}\s+[\w.-]+:|^{LEVELS}:[\w.-]*:")
# tqdm: "desc:  40%|####      | 4/10 [00:01<00:02, 3.1it/s]" or, without a total, "desc: 12 files [00:01, 8.5 files/s]"
PROGRESS = re.compile(r"\d+%\|.*\|\s*[\d.]+[kMG]?/[\d.?]+[kMG]?|\[\d+:\d\d(?::\d\d)?(?:<[^,\]]*)?, [^\]]*/s\]")
WIDGET = "application/vnd.jupyter.widget-view+json"
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")
# what ast.literal_eval cannot read in a repr, made literal: PosixPath('x') -> 'x', np.float64(0.5) -> 0.5
_REPR_WRAPPERS = re.compile(r"\b(?:Posix|Windows)?Path\(('[^']*')\)|\bnp\.\w+\(([^()]*)\)")
_PATH_CHAR = r"[\w.@+-]"
_OTHER_HOMES = re.compile(rf"(?<![\w.:/~$-])(?:/home/{_PATH_CHAR}+|/Users/{_PATH_CHAR}+|/root)(?!{_PATH_CHAR})")
_TMP = re.compile(rf"(?<![\w.:/~$-])(?:/private)?(?:/var)?/tmp(?!{_PATH_CHAR})")
MAX_ITEMS = 50  # a list longer than this is shown cut, with the number left out


def machine_roots(nb) -> list[tuple[str, str]]:
    """``(absolute path, replacement)`` of the machine's own places, longest first: the data and reports roots when
    the run's parameters gave them absolute (``$DATA_ROOT``, ``$REPORTS_DIR``), the repository the notebook ran in
    (from papermill's metadata) and this one (``.``), home (``~``) and the temporary directory (``$TMPDIR``)."""
    papermill = nb.get("metadata", {}).get("papermill", {}) or {}
    params = papermill.get("parameters", {}) or {}
    roots = {str(REPO_ROOT): "."}
    if str(papermill.get("input_path") or "").startswith("/"):
        roots[str(Path(papermill["input_path"]).parent.parent)] = "."  # <repo>/notebooks/NN_stage.ipynb
    for name, placeholder in (("data_root", "$DATA_ROOT"), ("reports_dir", "$REPORTS_DIR")):
        value = params.get(name)
        if isinstance(value, str) and value.startswith("/"):
            roots[value.rstrip("/")] = placeholder
    roots.setdefault(str(Path.home()), "~")
    roots.setdefault(str(Path(tempfile.gettempdir())), "$TMPDIR")
    return sorted(((k, v) for k, v in roots.items() if k not in ("", "/")), key=lambda kv: -len(kv[0]))


def scrub_paths(text: str, roots: list[tuple[str, str]]) -> str:
    """``text`` with every absolute path below one of ``roots`` made relative to it or given its placeholder, then
    any other home directory (``/home/<user>``, ``/Users/<user>``, ``/root``) as ``~`` and ``/tmp`` as ``$TMPDIR``."""
    for root, replacement in roots:
        text = re.sub(re.escape(root) + rf"(?!{_PATH_CHAR})", lambda _: replacement, text)
    text = _OTHER_HOMES.sub("~", text)
    return _TMP.sub("$TMPDIR", text)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _scrub_value(value, roots):
    if isinstance(value, str):
        return scrub_paths(value, roots)
    if isinstance(value, list):
        return [_scrub_value(v, roots) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_value(v, roots) for k, v in value.items()}
    return value


def _scrub_data(data: dict, roots) -> dict:
    """An output's mime bundle with paths scrubbed from its text and JSON forms (images and other binary data are
    left as they are: base64 text can hold any letters)."""
    return {k: (_scrub_value(v, roots) if k in TEXT_MIMES or k.endswith("json") else v) for k, v in data.items()}


def scrub_notebook_paths(nb):
    """A copy of an executed notebook with the machine's paths (:func:`machine_roots`, :func:`scrub_paths`) taken out
    of everything it keeps as text: papermill's metadata (input and output path, parameters), cell sources, streams,
    errors and the text forms of outputs. Nothing else changes (the committed ``.ipynb``; :func:`clean_notebook`
    does more, for the HTML)."""
    import nbformat

    nb = copy.deepcopy(nb)
    roots = machine_roots(nb)
    nb.metadata = nbformat.from_dict(_scrub_value(dict(nb.metadata), roots))
    for cell in nb.cells:
        cell.source = scrub_paths(_text(cell.source), roots)
        outputs = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind in ("stream", "error"):
                output = _scrub_value(dict(output), roots)
            elif "data" in output:
                output = {**output, "data": _scrub_data(output["data"], roots),
                          "metadata": _scrub_value(dict(output.get("metadata", {})), roots)}
            outputs.append(nbformat.from_dict(output))
        if cell.cell_type == "code":
            cell.outputs = outputs
    return nb


def _scalar_html(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def value_html(value, depth: int = 0) -> str:
    """A literal Python value as HTML: a dict as a two-column table, a list of dicts as a table with a column per
    key, a list of plain values as a comma-separated line (cut after ``MAX_ITEMS``)."""
    if isinstance(value, dict):
        if not value:
            return "—"
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{value_html(v, depth + 1)}</td></tr>"
                       for k, v in value.items())
        return f'<table class="dataframe">{rows}</table>'
    if isinstance(value, (list, tuple, set)):
        items = list(value)
        if not items:
            return "—"
        shown, rest = items[:MAX_ITEMS], len(items) - MAX_ITEMS
        more = f" … ({rest} more)" if rest > 0 else ""
        if all(isinstance(v, dict) for v in shown) and depth == 0:
            columns = list(dict.fromkeys(k for v in shown for k in v))
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
            body = "".join("<tr>" + "".join(f"<td>{value_html(v.get(c), depth + 1)}</td>" for c in columns) + "</tr>"
                           for v in shown)
            return f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}'
        if any(isinstance(v, (dict, list, tuple, set)) for v in shown):
            return "<ul>" + "".join(f"<li>{value_html(v, depth + 1)}</li>" for v in shown) + f"</ul>{more}"
        return ", ".join(_scalar_html(v) for v in shown) + more
    return _scalar_html(value)


def readable_repr(text: str) -> dict | None:
    """The mime data replacing a Python repr (``text/plain`` only): a dict, list or tuple as an HTML table or list
    (and JSON as its plain text), a string without its quotes; None when ``text`` is not the repr of a literal."""
    try:
        value = ast.literal_eval(_REPR_WRAPPERS.sub(lambda m: m.group(1) or m.group(2), text.strip()))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, str):
        return {"text/html": f"<p>{html.escape(value)}</p>", "text/plain": value}
    if isinstance(value, (dict, list, tuple)):
        return {"text/html": value_html(value), "text/plain": json.dumps(value, indent=1, ensure_ascii=False, default=str)}
    return None


def _is_progress(output) -> bool:
    data = output.get("data", {})
    plain = _text(data.get("text/plain", ""))
    return (WIDGET in data or set(data) == {"text/plain"}) and (not plain.strip() or bool(PROGRESS.search(plain)))


def _clean_stream(text: str) -> str:
    lines = re.split(r"\r\n|\r|\n", text)
    kept = [line for line in lines if not LOG_RECORD.search(line) and not PROGRESS.search(line)]
    return "\n".join(kept).strip("\n") + ("\n" if text.endswith("\n") else "")


def _warning_note(count: int, log_hint: str) -> dict:
    text = (f"{count} warning(s) of this step are left out of the shared report (they may name files); "
            f"they are in the stage's log file{log_hint}.")
    return {"output_type": "display_data", "metadata": {"aitranscribe": WARNING_KIND, "shareable": True},
            "data": {"text/html": f'<p class="aitranscribe-warning">⚠ {html.escape(text)}</p>', "text/plain": text}}


def clean_outputs(outputs: list, roots, share_safe: bool, log_hint: str = "") -> list:
    """One code cell's outputs fit to share (see the module's docstring)."""
    kept, withheld = [], 0
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            if output.get("name") == "stderr":
                continue
            text = _clean_stream(_text(output.get("text", "")))
            if not text.strip():
                continue
            output = {**output, "text": text}
        elif kind in ("display_data", "execute_result"):
            if _is_progress(output):
                continue
            meta = output.get("metadata", {}) or {}
            if meta.get("aitranscribe") == WARNING_KIND and share_safe and not meta.get("shareable"):
                withheld += 1
                continue
            data = output.get("data", {})
            if set(data) == {"text/plain"}:
                readable = readable_repr(_text(data["text/plain"]))
                if readable is not None:
                    output = {**output, "data": readable}
            output = {**output, "data": _scrub_data(output.get("data", {}), roots)}
        kept.append(_scrub_value(output, roots) if kind in ("stream", "error") else output)
    if withheld:
        kept.append(_warning_note(withheld, log_hint))
    return kept


def clean_notebook(nb, share_safe: bool):
    """A copy of an executed notebook fit to share: every code cell's outputs cleaned (:func:`clean_outputs`),
    paths scrubbed in markdown cells too, the widgets' saved state dropped when no widget is left."""
    import nbformat

    nb = copy.deepcopy(nb)
    roots = machine_roots(nb)
    params = (nb.get("metadata", {}).get("papermill", {}) or {}).get("parameters", {}) or {}
    stem = Path((nb.get("metadata", {}).get("papermill", {}) or {}).get("output_path") or "").stem
    log_hint = ""
    if params.get("profile") and stem:
        log_hint = " " + scrub_paths(f"{params.get('data_root', 'data')}/{params['profile']}/logs/{stem}.log", roots)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in clean_outputs(cell.get("outputs", []), roots, share_safe,
                                                                         log_hint)]
        elif cell.cell_type == "markdown":
            cell.source = scrub_paths(_text(cell.source), roots)
    if not any(WIDGET in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs):
        nb.metadata.pop("widgets", None)  # the progress bars' saved state, and the widget scripts it would load
    return nb
