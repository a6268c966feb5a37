"""Logging of the kit's messages: to stderr with times (scripts, the pipeline), or in a notebook to a log file,
with only the warnings shown in the cell as one clean line each (:func:`setup_notebook_logging`).

A notebook's log file is passed on to the processes it starts (``AITRANSCRIBE_LOG_FILE``), so their records go to
the same file instead of the cell's stderr.
"""
from __future__ import annotations

import html
import logging
import os
from pathlib import Path

LOG_FILE_ENV = "AITRANSCRIBE_LOG_FILE"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
WARNING_KIND = "aitranscribe-warning"  # output metadata of a warning shown in a notebook cell
# ``log.warning(..., extra=SHAREABLE)``: the message names no file and no transcript, a shared report may show it
SHAREABLE = {"shareable": True}


def _kit_logger(level: str) -> logging.Logger:
    """The ``aitranscribe`` logger at ``level`` with the handlers set up here removed."""
    logger = logging.getLogger("aitranscribe")
    logger.setLevel(level)
    for handler in [h for h in logger.handlers if getattr(h, "_aitranscribe", False)]:
        logger.removeHandler(handler)
        handler.close()
    return logger


def _add(logger: logging.Logger, handler: logging.Handler, fmt: str | None, datefmt: str | None = None) -> None:
    if fmt:
        handler.setFormatter(logging.Formatter(fmt, datefmt))
    handler._aitranscribe = True
    logger.addHandler(handler)


def setup_logging(level: str = "INFO") -> None:
    """Log the kit's messages to stderr with times, once per process; to the file named by ``AITRANSCRIBE_LOG_FILE``
    instead when a notebook started this process."""
    logger = logging.getLogger("aitranscribe")
    if any(getattr(h, "_aitranscribe", False) for h in logger.handlers):
        logger.setLevel(level)
        return
    logger = _kit_logger(level)
    inherited = os.environ.get(LOG_FILE_ENV)
    if inherited:
        _add(logger, logging.FileHandler(inherited, encoding="utf-8"), FORMAT, "%Y-%m-%d %H:%M:%S")
        logger.propagate = False
    else:
        _add(logger, logging.StreamHandler(), FORMAT, "%H:%M:%S")


class ShowWarnings(logging.Handler):
    """Shows each WARNING (and above) of this process in the notebook cell as one line of text, without time, level
    or logger name; the output carries ``{"aitranscribe": WARNING_KIND}`` metadata, ``shareable`` when the record
    says so (``extra=SHAREABLE``)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self._pid = os.getpid()  # a forked child has no cell to show anything in

    def emit(self, record: logging.LogRecord) -> None:
        if os.getpid() != self._pid:
            return
        try:
            from IPython.display import display

            message = record.getMessage()
            word = "Warning" if record.levelno < logging.ERROR else "Error"
            display({"text/html": f'<p class="aitranscribe-warning">⚠ {word}: {html.escape(message)}</p>',
                     "text/plain": f"{word}: {message}"}, raw=True,
                    metadata={"aitranscribe": WARNING_KIND, "shareable": bool(getattr(record, "shareable", False))})
        except Exception:  # noqa: BLE001 - a message that cannot be shown must not stop the stage
            self.handleError(record)


def setup_notebook_logging(level: str, log_file) -> Path:
    """In a notebook: the kit's records at ``level`` and above are appended to ``log_file`` (with date and time), not
    printed in the cell; warnings are also shown in the cell as clean lines. Processes started from here log to the
    same file. Returns the log file's path."""
    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = _kit_logger(level)
    logger.propagate = False  # a root handler (basicConfig in some library) would print the records again
    _add(logger, logging.FileHandler(path, encoding="utf-8"), FORMAT, "%Y-%m-%d %H:%M:%S")
    _add(logger, ShowWarnings(), None)
    os.environ[LOG_FILE_ENV] = str(path)
    return path
