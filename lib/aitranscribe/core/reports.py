"""Report files of a profile: metrics (flat ``<stage>.<name>`` keys in ``reports/<profile>/metrics.json``) and the
HTML rendering of executed notebooks (code hidden; cells tagged ``phi`` left out when shared safely)."""
from __future__ import annotations

import fcntl
import json
import logging
from pathlib import Path

from .files import atomic_write_json, atomic_write_text
from .paths import profile_reports_dir

log = logging.getLogger(__name__)

PHI_TAG = "phi"


def _plain(value):
    """Numpy scalars and paths as plain JSON values."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def record_metrics(params: dict, stage: str, values: dict) -> dict:
    """Write ``values`` as ``<stage>.<name>`` keys into the profile's metrics.json, replacing every key the
    stage recorded before (no stale figure of an earlier run survives); return what was recorded."""
    recorded = {f"{stage}.{name}": _plain(v) for name, v in values.items()}
    path = profile_reports_dir(params) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".metrics.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = json.loads(path.read_text()) if path.is_file() else {}
        current = {k: v for k, v in current.items() if not k.startswith(f"{stage}.")}
        current.update(recorded)
        atomic_write_json(path, current)
    log.debug("recorded %d metrics in %s", len(recorded), path)
    return recorded


def render_html(ipynb: Path, share_safe: bool) -> Path:
    """``ipynb`` rendered to HTML beside it, code hidden, ``phi`` cells removed when ``share_safe``."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(ipynb), as_version=4)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    if share_safe:
        remover = TagRemovePreprocessor(remove_cell_tags={PHI_TAG}, enabled=True)
        exporter.register_preprocessor(remover, enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    return atomic_write_text(Path(ipynb).with_suffix(".html"), body)
