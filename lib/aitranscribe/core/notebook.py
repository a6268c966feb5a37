"""What every stage notebook does first: validated parameters, and the kit's log records sent to a log file."""
from __future__ import annotations

import logging
from pathlib import Path

from . import registry
from .logs import setup_notebook_logging
from .params import collect
from .paths import profile_data_dir

log = logging.getLogger(__name__)


def log_file(p: dict, notebook: str) -> Path:
    """``<data_root>/<profile>/logs/<notebook>.log``: where a stage notebook's log records go (appended per run)."""
    return profile_data_dir(p) / "logs" / f"{notebook}.log"


def start(stage_module, namespace: dict) -> dict:
    """Parameters of ``stage_module`` taken from the notebook's parameters cell, validated; the kit's log records go
    to :func:`log_file` (warnings are also shown in the cell as clean lines)."""
    notebook = registry.info(stage_module.KEY).notebook
    p = collect(stage_module.PARAMS, namespace, f"notebooks/{notebook}.ipynb")
    setup_notebook_logging(p["log_level"], log_file(p, notebook))
    log.info("=== %s: profile '%s', data root '%s'", notebook, p["profile"], p["data_root"])
    return p
