"""What every stage notebook does first: validated parameters and logging."""
from __future__ import annotations

import logging

from .params import collect
from .stage import setup_logging

log = logging.getLogger(__name__)


def start(stage_module, namespace: dict) -> dict:
    """Parameters of ``stage_module`` taken from the notebook's parameters cell, validated; logging set up."""
    p = collect(stage_module.PARAMS, namespace, f"notebooks/{stage_module.NOTEBOOK}.ipynb")
    setup_logging(p["log_level"])
    log.info("%s: profile '%s', data root '%s'", stage_module.NOTEBOOK, p["profile"], p["data_root"])
    return p
