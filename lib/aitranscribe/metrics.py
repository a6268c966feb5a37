"""Stage metrics: flat ``<stage>.<name>`` keys merged into ``reports/<profile>/metrics.json``."""
from __future__ import annotations

import fcntl
import json
import logging
from pathlib import Path

from .paths import profile_reports_dir
from .stage import atomic_write_json

log = logging.getLogger(__name__)


def _plain(value):
    """Numpy scalars and paths as plain JSON values."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def record(params: dict, stage: str, values: dict) -> dict:
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

