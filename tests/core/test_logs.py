"""In a notebook the kit's log records go to a log file; warnings appear in the cell as one clean line each."""
import logging
import subprocess
import sys

import pytest

from aitranscribe.core import logs, notebook
from aitranscribe.core.paths import REPO_ROOT


@pytest.fixture
def kit_logger(monkeypatch):
    """The ``aitranscribe`` logger restored after the test (other tests rely on its records reaching the root)."""
    logger = logging.getLogger("aitranscribe")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    monkeypatch.delenv(logs.LOG_FILE_ENV, raising=False)
    yield logger
    for h in list(logger.handlers):
        if h not in saved[0]:
            logger.removeHandler(h)
            h.close()
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


def test_notebook_logging_writes_the_file_and_shows_only_warnings(kit_logger, tmp_path, capsys, monkeypatch):
    path = notebook.log_file({"data_root": str(tmp_path), "profile": "t"}, "02_audio_prep")
    assert path == tmp_path / "t" / "logs" / "02_audio_prep.log"
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda data, **kw: shown.append((data, kw)))
    logs.setup_notebook_logging("INFO", path)
    log = logging.getLogger("aitranscribe.stages.x")
    log.info("wrote %s", "/some/file.npy")
    log.warning("%s is clipped", "a.wav")
    log.warning("the machine is busy", extra=logs.SHAREABLE)
    log.debug("not at INFO")
    text = path.read_text()
    assert "INFO aitranscribe.stages.x: wrote /some/file.npy" in text and "WARNING aitranscribe.stages.x: a.wav" in text
    assert "not at INFO" not in text
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""  # nothing printed as a log record
    assert [d["text/plain"] for d, _ in shown] == ["Warning: a.wav is clipped", "Warning: the machine is busy"]
    assert [kw["metadata"] for _, kw in shown] == [{"aitranscribe": logs.WARNING_KIND, "shareable": False},
                                                   {"aitranscribe": logs.WARNING_KIND, "shareable": True}]
    assert "⚠ Warning: a.wav is clipped" in shown[0][0]["text/html"]


def test_a_second_start_replaces_the_handlers(kit_logger, tmp_path):
    logs.setup_notebook_logging("INFO", tmp_path / "a.log")
    logs.setup_notebook_logging("WARNING", tmp_path / "b.log")
    logging.getLogger("aitranscribe.x").warning("only in b")
    assert sum(isinstance(h, logging.FileHandler) for h in kit_logger.handlers) == 1
    assert "only in b" in (tmp_path / "b.log").read_text() and "only in b" not in (tmp_path / "a.log").read_text()


def test_processes_started_from_a_notebook_log_to_its_file(kit_logger, tmp_path):
    path = logs.setup_notebook_logging("INFO", tmp_path / "nb.log")
    code = ("import logging; from aitranscribe.core.logs import setup_logging; setup_logging('INFO'); "
            "logging.getLogger('aitranscribe.worker').info('from the worker')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO_ROOT / "lib"), "PATH": "/usr/bin:/bin", logs.LOG_FILE_ENV: str(path)})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "INFO aitranscribe.worker: from the worker" in path.read_text()


def test_scripts_still_log_to_stderr(kit_logger):
    done = subprocess.run([sys.executable, "-c", "import logging; from aitranscribe.core.logs import setup_logging; "
                           "setup_logging('INFO'); logging.getLogger('aitranscribe.x').info('to stderr')"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(REPO_ROOT / "lib"), "PATH": "/usr/bin:/bin"})
    assert "INFO aitranscribe.x: to stderr" in done.stderr
