"""Shards: units of work that each write their own output and done-marker, so a sharded step resumes shard by shard.

A :class:`Shard` holds its ``items`` (small picklable descriptors: ``(split, utterance index)``, a recording's path),
the ``output`` file its result goes to (``.npz`` for a mapping of arrays, ``.json`` otherwise) and a ``key`` (what the
output depends on beyond the stage's parameters: its items, a recording's size and modification time). Once the output
is in place (written atomically), the marker ``<output>.done`` records the key, the number of items, the bad items
(``{"item", "reason"}``), the seconds spent and the worker. A shard whose marker is missing, unreadable or holds another
key is not done; with ``retry_bad`` neither is one that had bad items.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.files import atomic_path, atomic_write_json, read_marker

MARKER_SUFFIX = ".done"


@dataclass(frozen=True)
class Shard:
    """One unit of work: ``name`` (for messages), ``items``, ``output`` file and ``key`` (see the module docstring)."""

    name: str
    items: tuple
    output: Path
    key: object = None

    @property
    def marker(self) -> Path:
        return self.output.with_name(self.output.name + MARKER_SUFFIX)


def plan(items: list, size: int, directory, suffix: str = ".npz", label: str = "") -> list[Shard]:
    """Consecutive shards of at most ``size`` items named ``<label>NNNNN``, outputs ``directory/NNNNN<suffix>``;
    each key names its first item and count, so a shard planned differently (another ``size``) is never taken for
    done."""
    if size < 1:
        raise ValueError(f"a shard holds at least one item, got size {size}")
    directory = Path(directory)
    out = []
    for number, start in enumerate(range(0, len(items), size)):
        chunk = tuple(items[start:start + size])
        out.append(Shard(f"{label}{number:05d}", chunk, directory / f"{number:05d}{suffix}",
                         {"first": chunk[0], "count": len(chunk)}))
    return out


def _same(a, b) -> bool:
    """Equal as JSON (tuples and lists alike)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def marker(shard: Shard) -> dict | None:
    """The shard's done-record when it holds the shard's key (and its output exists, if it had one), else None."""
    record = read_marker(shard.marker)
    if record is None or not _same(record.get("key"), shard.key):
        return None
    if record.get("has_output") and not shard.output.is_file():
        return None
    return record


def is_done(shard: Shard, retry_bad: bool) -> bool:
    """Whether the shard needs no work (``retry_bad``: a shard with bad items is redone)."""
    record = marker(shard)
    return record is not None and not (retry_bad and record.get("bad"))


def write(shard: Shard, payload, bad: list[dict], seconds: float, worker: str) -> dict:
    """Write the shard's output atomically (``payload``: a mapping of arrays for ``.npz``, a JSON value for
    ``.json``, or None for no output), then its marker; return the marker's record."""
    if payload is not None:
        if shard.output.suffix == ".npz":
            with atomic_path(shard.output) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, **payload)
        else:
            atomic_write_json(shard.output, payload)
    else:
        shard.output.unlink(missing_ok=True)
    record = {"key": shard.key, "items": len(shard.items), "bad": list(bad), "seconds": round(seconds, 3),
              "worker": worker, "has_output": payload is not None, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_json(shard.marker, record)
    return record


def each(items, work, name_of=str) -> tuple[list, list[dict]]:
    """``work(item)`` for every item; an item whose work raises is reported as ``{"item": name_of(item), "reason"}``
    and left out, so one bad file does not fail its shard. Returns ``([(item, value), ...], bad)``."""
    done, bad = [], []
    for item in items:
        try:
            done.append((item, work(item)))
        except Exception as exc:  # noqa: BLE001 - a bad input is reported by name, the others go on
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            bad.append({"item": name_of(item), "reason": reason})
    return done, bad


def bad_items(records: list[dict]) -> list[dict]:
    """The bad items of every marker, in shard order."""
    return [b for record in records if record for b in record.get("bad", [])]


def remove(shard: Shard) -> None:
    """Forget a shard: its output and marker."""
    shard.output.unlink(missing_ok=True)
    shard.marker.unlink(missing_ok=True)
