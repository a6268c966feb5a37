"""Stage bookkeeping: atomic writes, done-markers keyed by a parameter hash, and records of stage outputs.

Every stage writes into its own output directory whose name encodes its parameters. A file
``.done.json`` is written last, only after success, holding the parameter hash and the outputs;
a re-run with the same parameters finds it and skips the work. Files are written to a temporary
name in the same directory and renamed into place, so an interruption never leaves a half file.
``<data_root>/<profile>/stages/<key>.json`` records where a stage's outputs are for later stages.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import MissingStageError
from .paths import profile_data_dir

log = logging.getLogger(__name__)

DONE = ".done.json"


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it is renamed to ``path`` (file or directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp{path.suffix}"
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def atomic_save_npy(path, array) -> Path:
    """Save a numpy array to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
    return Path(path)


def is_done(out_dir, phash: str) -> dict | None:
    """The done-record of ``out_dir`` if it was completed with parameter hash ``phash``, else None."""
    marker = Path(out_dir) / DONE
    if not marker.is_file():
        return None
    try:
        record = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if record.get("params_hash") == phash else None


def mark_done(out_dir, phash: str, outputs: dict, params: dict | None = None, seconds: float | None = None) -> dict:
    """Write the done-marker of ``out_dir`` (call last, after every output is in place)."""
    record = {"params_hash": phash, "outputs": outputs, "params": params or {}, "seconds": seconds,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_json(Path(out_dir) / DONE, record)
    return record


def record_stage(params: dict, key: str, info: dict) -> Path:
    """Record where stage ``key`` put its outputs, for the stages after it."""
    return atomic_write_json(profile_data_dir(params) / "stages" / f"{key}.json", info)


def load_stage(params: dict, key: str, notebook: str) -> dict:
    """The record of an earlier stage; a clear error naming the notebook to run when it is missing."""
    path = profile_data_dir(params) / "stages" / f"{key}.json"
    if not path.is_file():
        raise MissingStageError(
            f"stage '{key}' has no outputs for profile '{params['profile']}' ({path} is missing): "
            f"run notebooks/{notebook}.ipynb (or bash run_all.sh --params <profile>) first"
        )
    return json.loads(path.read_text())


def setup_logging(level: str = "INFO") -> None:
    """Log the kit's messages to stderr with times, once per process."""
    logger = logging.getLogger("aitranscribe")
    logger.setLevel(level)
    if not any(getattr(h, "_aitranscribe", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handler._aitranscribe = True
        logger.addHandler(handler)


def process_in_chunks(items: list, chunk_size: int, parts_dir, work, desc: str) -> list[Path]:
    """Run ``work(chunk) -> dict of numpy arrays`` over ``items`` in chunks, each saved as ``parts_dir/NNNNN.npz``.

    A chunk whose file exists is not recomputed, so an interrupted run resumes where it stopped. Returns
    the chunk files in order. ``parts_dir`` should encode the parameters (it lives in the stage's output dir).
    """
    from tqdm.auto import tqdm

    parts_dir = Path(parts_dir)
    parts_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    starts = range(0, len(items), chunk_size)
    resumed = 0
    for number, start in enumerate(tqdm(starts, desc=desc, unit="chunk")):
        path = parts_dir / f"{number:05d}.npz"
        paths.append(path)
        if path.is_file():
            resumed += 1
            continue
        arrays = work(items[start:start + chunk_size])
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
    if resumed:
        log.info("%s: %d of %d chunks were already done and are reused", desc, resumed, len(paths))
    return paths
