"""Stage parameters: declared with types and defaults, validated strictly, loaded from YAML profiles.

A profile (``params/<name>.yaml``) has a ``common`` section and one section per stage key::

    common: {profile: ci, seed: 0}
    data: {source: demo, n_train: 120}

Unknown keys, wrong types and values outside a declared set of choices are a :class:`ParamsError`
that names the file, the section and the key (with the closest known name when it looks mistyped).
"""
from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ParamsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Param:
    """One parameter: its default, its type (a type or a tuple of types), a help text, allowed values."""

    default: Any
    type: Any
    help: str
    choices: tuple | None = None
    spec: dict | None = None  # a section of sub-parameters (type dict): validated like a stage's own


def section(help_text: str, spec: dict[str, "Param"]) -> Param:
    """A parameter holding a mapping of sub-parameters (e.g. one method's settings); its default is every
    sub-parameter's default, and a partial mapping is completed with them."""
    return Param({name: p.default for name, p in spec.items()}, dict, help_text, spec=spec)


COMMON = {
    "profile": Param("ci", str, "run profile; outputs go to <data_root>/<profile> and <reports_dir>/<profile>"),
    "data_root": Param("data", str, "root of all generated data (relative to the repository)"),
    "reports_dir": Param("reports", str, "where executed notebooks, HTML and metrics.json go"),
    "seed": Param(0, int, "random seed of every stage"),
    "share_safe": Param(True, bool, "keep per-utterance transcripts, audio and file names out of shared reports"),
    "log_level": Param("INFO", str, "logging level", ("DEBUG", "INFO", "WARNING", "ERROR")),
    "executor": Param("local", str, "where sharded steps run (03 features, 06 transcription): this process, or Ray "
                      "workers (see docs/scale.md)", ("local", "ray")),
    "ray_address": Param("", str, "ray: '' starts a local cluster on this machine; an address joins a running one"),
    "ray_workers": Param(2, int, "ray: workers (one model each)"),
    "worker_threads": Param(0, int, "torch/BLAS threads of each worker of a sharded step and CPUs it takes on Ray "
                                    "(0: the process's own locally, 1 on Ray); equal counts compute alike"),
}


def _type_ok(value, expected) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        return False  # a bool is an int in Python, never accept it for a number
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def _type_name(expected) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)


def _parse_collection(text: str, fallback):
    """A YAML list or mapping written as a string, else ``fallback`` (left for the type check to reject)."""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return fallback
    return parsed if isinstance(parsed, (list, dict)) else fallback


def validate(values: dict, spec: dict[str, Param], where: str) -> dict:
    """``values`` checked against ``spec`` and completed with defaults. ``where`` names the source in errors."""
    if not isinstance(values, dict):
        raise ParamsError(f"{where}: expected a mapping of parameter names to values, got {type(values).__name__}")
    unknown = sorted(set(values) - set(spec))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, spec, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise ParamsError(f"{where}: unknown parameter(s) {', '.join(hints)}; known: {', '.join(sorted(spec))}")
    out = {}
    for name, p in spec.items():
        value = values.get(name, p.default)
        if isinstance(value, str) and p.type in (list, dict):
            value = _parse_collection(value, value)  # papermill -p passes "[1, 2]" as a string
        if value is not None and not _type_ok(value, p.type):
            raise ParamsError(
                f"{where}: parameter '{name}' must be {_type_name(p.type)}, got {value!r} ({type(value).__name__})"
            )
        if p.choices is not None and value not in p.choices:
            raise ParamsError(f"{where}: parameter '{name}' must be one of {list(p.choices)}, got {value!r}")
        if p.spec is not None and isinstance(value, dict):
            value = validate(value, p.spec, f"{where} [{name}]")
        if isinstance(value, int) and not isinstance(value, bool) and float in (
            p.type if isinstance(p.type, tuple) else (p.type,)
        ):
            value = float(value)
        out[name] = value
    return out


def stage_spec(stage_params: dict[str, Param]) -> dict[str, Param]:
    """The full spec of a stage: the common parameters plus its own."""
    clash = set(COMMON) & set(stage_params)
    if clash:
        raise ValueError(f"stage parameters shadow common ones: {sorted(clash)}")
    return {**COMMON, **stage_params}


def _read_profile(path: Path, seen: tuple = ()) -> dict:
    """A profile's sections, those of the profile it ``extends`` (a path relative to it) underneath: a section's
    keys replace the same keys of the extended one's, the rest are kept."""
    if not path.is_file():
        raise ParamsError(f"{path}: parameter profile not found")
    if path.resolve() in seen:
        raise ParamsError(f"{path}: profiles extend each other in a loop")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: a profile is a mapping of sections (common, data, ...), got {type(raw).__name__}")
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ParamsError(f"{path}: extends names one profile file, got {base!r}")
    merged = _read_profile(path.parent / base, (*seen, path.resolve()))
    for key, section in raw.items():
        both = isinstance(section, dict) and isinstance(merged.get(key), dict)
        merged[key] = {**merged[key], **section} if both else section
    return merged


def load_profile(path, stage_specs: dict[str, dict[str, Param]]) -> dict[str, dict]:
    """Read a YAML profile (and the one it ``extends``) and return ``{stage_key: full validated parameters}`` for
    every stage key given."""
    path = Path(path)
    raw = _read_profile(path)
    unknown = sorted(set(raw) - set(stage_specs) - {"common"})
    if unknown:
        hints = [
            f"'{k}'" + (f" (did you mean '{c[0]}'?)" if (c := difflib.get_close_matches(k, list(stage_specs), n=1)) else "")
            for k in unknown
        ]
        raise ParamsError(f"{path}: unknown section(s) {', '.join(hints)}; known: common, {', '.join(stage_specs)}")
    common = raw.get("common") or {}
    validate(common, COMMON, f"{path} [common]")
    out = {}
    for key, spec in stage_specs.items():
        section = raw.get(key) or {}
        if not isinstance(section, dict):
            raise ParamsError(f"{path} [{key}]: expected a mapping, got {type(section).__name__}")
        out[key] = validate({**common, **section}, stage_spec(spec), f"{path} [{key}]")
    return out


def collect(stage_params: dict[str, Param], namespace: dict, where: str) -> dict:
    """Validated parameters of a stage taken from a notebook's namespace (the names of its parameters cell)."""
    spec = stage_spec(stage_params)
    missing = [name for name in spec if name not in namespace]
    if missing:
        raise ParamsError(f"{where}: the parameters cell does not define {missing}")
    return validate({name: namespace[name] for name in spec}, spec, where)


PRESENTATION_ONLY = ("log_level", "share_safe", "reports_dir")
# where the work runs, never what it writes: a sharded run and a local one share their output directories
EXECUTION_ONLY = ("executor", "ray_address", "ray_workers", "worker_threads")


def params_hash(values: dict, report_only=()) -> str:
    """A short stable hash of the parameters that change a stage's outputs.

    Presentation and execution parameters and the stage's ``report_only`` ones (diagnostics) are left out.
    """
    import hashlib
    import json

    kept = {k: v for k, v in sorted(values.items()) if k not in PRESENTATION_ONLY + EXECUTION_ONLY and k not in report_only}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]
