"""Logging of the kit's messages: to stderr with times, once per process."""
from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    """Log the kit's messages to stderr with times, once per process."""
    logger = logging.getLogger("aitranscribe")
    logger.setLevel(level)
    if not any(getattr(h, "_aitranscribe", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handler._aitranscribe = True
        logger.addHandler(handler)
