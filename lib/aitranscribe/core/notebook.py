"""What every stage notebook does first: validated parameters and logging."""
from __future__ import annotations

import logging

from . import registry
from .logs import setup_logging
from .params import collect

log = logging.getLogger(__name__)


def start(stage_module, namespace: dict) -> dict:
    """Parameters of ``stage_module`` taken from the notebook's parameters cell, validated; logging set up."""
    notebook = registry.info(stage_module.KEY).notebook
    p = collect(stage_module.PARAMS, namespace, f"notebooks/{notebook}.ipynb")
    setup_logging(p["log_level"])
    log.info("%s: profile '%s', data root '%s'", notebook, p["profile"], p["data_root"])
    return p
