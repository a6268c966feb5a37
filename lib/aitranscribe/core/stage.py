"""Stage bookkeeping: one skeleton for every stage (:class:`StageDef`), done-markers keyed by a parameter hash,
records of outputs.

Every stage writes into its own output directory ``<data_root>/<profile>/<NN_key>/<name>-<hash>``, whose hash
covers its parameters and the hashes of the stages it reads. A file ``.done.json`` is written last, only after
success, holding the parameter hash; a re-run with the same parameters and inputs finds it and skips the work.
``<data_root>/<profile>/stages/<key>.json`` records where a stage's outputs are, for the stages after it.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import registry
from .errors import MissingStageError
from .files import atomic_path, atomic_write_json, read_marker
from .params import params_hash
from .paths import profile_data_dir

log = logging.getLogger(__name__)

DONE = ".done.json"
SUMMARY = "summary.json"


class left_out_as_before:  # noqa: N801 (used as a function: report_only=left_out_as_before({...}))
    """A ``report_only`` for parameters added after outputs were built: each of ``values`` (name -> the value that
    builds the outputs as before the parameter existed) stays out of the hash while ``p`` holds that value, so the
    outputs built before it keep their directories. ``values`` stays readable (the stability record's settings
    leave the same parameters out)."""

    def __init__(self, values: dict):
        self.values = dict(values)

    def __call__(self, p: dict) -> tuple:
        return tuple(k for k, v in self.values.items() if p.get(k) == v)


def is_done(out_dir, phash: str) -> dict | None:
    """The done-record of ``out_dir`` if it was completed with parameter hash ``phash``, else None."""
    record = read_marker(Path(out_dir) / DONE)
    return record if record is not None and record.get("params_hash") == phash else None


def mark_done(out_dir, phash: str, params: dict | None = None, seconds: float | None = None,
              content_hash: str | None = None) -> dict:
    """Write the done-marker of ``out_dir`` (call last, after every output is in place); ``content_hash``: the hash
    of the input folder's content index when the stage reads one."""
    record = {"params_hash": phash, "params": params or {}, "seconds": seconds,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "content_hash": content_hash}
    atomic_write_json(Path(out_dir) / DONE, record)
    return record


def done_params(out_dir) -> dict:
    """The parameters a finished output directory was made with (from its done-marker)."""
    return json.loads((Path(out_dir) / DONE).read_text())["params"]


def record_stage(params: dict, key: str, info: dict) -> Path:
    """Record where stage ``key`` put its outputs, for the stages after it."""
    return atomic_write_json(profile_data_dir(params) / "stages" / f"{key}.json", info)


def load_stage(params: dict, key: str) -> dict:
    """The record of an earlier stage; a clear error naming the notebook to run when it is missing."""
    path = profile_data_dir(params) / "stages" / f"{key}.json"
    if not path.is_file():
        notebook = registry.info(key).notebook
        raise MissingStageError(
            f"stage '{key}' has no outputs for profile '{params['profile']}' ({path} is missing): "
            f"run notebooks/{notebook}.ipynb (or bash run_all.sh --params <profile>) first"
        )
    return json.loads(path.read_text())


def load_summary(record: dict) -> dict:
    """The ``summary.json`` of a stage's output directory (its figures, read by its notebook)."""
    return json.loads((Path(record["dir"]) / SUMMARY).read_text())


@dataclass(frozen=True)
class StageDef:
    """How a stage finds its inputs and names its outputs; :meth:`run` is the skeleton of every stage's ``run``.

    ``needs``: keys of the earlier stages whose records it reads. ``name(p)``: the readable part of the output
    directory's name. ``report_only(p)``: parameters that do not change the outputs (left out of the hash).
    ``hashed(p)``: extra values that do (e.g. what a parameter resolves to). ``content(p)``: what an input folder
    holds (e.g. :func:`~aitranscribe.sources.folder.content_index`), or None: when it changes the stage runs again
    in the same directory (its ``compute`` reuses what it already did per file) and the recorded hash changes, so
    the stages after it run again too. ``recorded(p)``: False for runs that are not the profile's own (e.g. a folder
    of a user's recordings transcribed with the profile's model), which later stages must not read.
    """

    key: str
    needs: tuple[str, ...]
    name: Callable[[dict], str]
    report_only: Callable[[dict], tuple] = lambda p: ()
    hashed: Callable[[dict], dict] = lambda p: {}
    content: Callable[[dict], dict | None] = lambda p: None
    recorded: Callable[[dict], bool] = lambda p: True

    def inputs(self, p: dict) -> dict:
        """The records of the stages this one reads; a clear error names the notebook to run first."""
        return {k: load_stage(p, k) for k in self.needs}

    def locate(self, p: dict, records: dict | None = None) -> tuple[Path, str]:
        """``(output directory, parameter hash)``: ``<data_root>/<profile>/<NN_key>/<name>-<hash>``, the hash over the
        parameters and the hashes of the inputs."""
        records = self.inputs(p) if records is None else records
        phash = params_hash({**p, **self.hashed(p), "inputs": {k: records[k]["params_hash"] for k in self.needs}},
                            report_only=self.report_only(p))
        return profile_data_dir(p) / registry.info(self.key).notebook / f"{self.name(p)}-{phash}", phash

    def run(self, p: dict, compute: Callable[[dict, dict, Path], dict],
            describe: Callable[[dict, dict, Path, dict], dict]) -> dict:
        """Load inputs, skip when done, compute, write ``summary.json``, mark done, record; return the record.

        ``compute(p, records, out_dir) -> summary`` writes the outputs (atomically, resuming its own unfinished
        work); ``describe(p, records, out_dir, summary) -> dict`` says what later stages need, recorded with
        ``dir`` and ``params_hash``.
        """
        records = self.inputs(p)
        out_dir, phash = self.locate(p, records)
        notebook = registry.info(self.key).notebook
        content = self.content(p)
        chash = None if content is None else params_hash({"content": content})
        done = is_done(out_dir, phash)
        if done and done.get("content_hash") == chash:
            log.info("%s: already done for these parameters%s in %s", notebook,
                     "" if chash is None else " and this folder content", out_dir)
            summary = json.loads((out_dir / SUMMARY).read_text())
        else:
            start = time.time()
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / DONE).unlink(missing_ok=True)  # a rerun for new folder content: not done until it finishes
            summary = compute(p, records, out_dir)
            summary.setdefault("seconds", round(time.time() - start, 1))
            atomic_write_json(out_dir / SUMMARY, summary)
            mark_done(out_dir, phash, params=p, seconds=summary["seconds"], content_hash=chash)
        record_hash = phash if chash is None else params_hash({"params": phash, "content": chash})
        record = {"dir": str(out_dir), "params_hash": record_hash, "recorded": self.recorded(p),
                  **describe(p, records, out_dir, summary)}
        if self.recorded(p):
            record_stage(p, self.key, record)
        return record


def cached_step(path, key: dict, compute: Callable[[], dict]) -> dict:
    """A step inside a stage's output directory whose result is one JSON file: the result stored at ``path`` when it
    was made for ``key`` (plain values: the settings and inputs it depends on), else ``compute()``'s, stored with
    its key atomically (``{"key": key, "result": ...}``). Report-only steps and the choices a stage makes on the way
    (e.g. a tuned scale) resume this way without a done-marker of their own."""
    path = Path(path)
    key = json.loads(json.dumps(key))  # as stored: tuples become lists, so a reread key compares equal
    if path.is_file():
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and stored.get("key") == key and "result" in stored:
            log.info("%s: already done for these settings, reused", path.name)
            return stored["result"]
    result = compute()
    atomic_write_json(path, {"key": key, "result": result})
    return result


def stored_step(path) -> dict | None:
    """The result :func:`cached_step` stored at ``path`` (whatever its key), or None when there is none."""
    path = Path(path)
    stored = json.loads(path.read_text()) if path.is_file() else None
    return stored.get("result") if isinstance(stored, dict) else None


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
