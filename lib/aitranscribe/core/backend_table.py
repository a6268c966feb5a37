"""Every backend of the kit in one table: a way to run a network (an engine, a precision, an environment).

Stage 03 extracts wav2vec 2.0 features with one (``feature_backend``), stage 06 runs the acoustic model with one
(``backend``), stage 07 measures several side by side (``backends`` for the acoustic model and end to end,
``w2v2_backends`` for wav2vec 2.0), and the pipeline builds ``.venv-intel`` when a chosen one lives there. How each
runs: :mod:`aitranscribe.backends` (acoustic model) and :mod:`aitranscribe.features.wav2vec2.backends`.
"""
from __future__ import annotations

from dataclasses import dataclass

STOCK, INTEL = "stock", "intel"  # .venv (torch 2.13) and .venv-intel (torch 2.8 + IPEX 2.8)


@dataclass(frozen=True)
class Backend:
    """``name``; ``precision`` of its matrix products (fp32, bf16, int8); ``environment`` (:data:`STOCK` or
    :data:`INTEL`); what it runs: ``acoustic`` (the trained acoustic model, measured by stage 07), ``transcribes``
    (a choice of stage 06), ``wav2vec2`` (wav2vec 2.0 features, measured by stage 07), ``extracts`` (a choice of
    stage 03: any utterance length, stock environment)."""

    name: str
    precision: str
    environment: str
    acoustic: bool = False
    transcribes: bool = False
    wav2vec2: bool = False
    extracts: bool = False


TABLE = {b.name: b for b in (
    # the acoustic model (stage 05's network)
    Backend("eager", "fp32", STOCK, acoustic=True, transcribes=True),
    Backend("int8", "int8", STOCK, acoustic=True, transcribes=True),
    # wav2vec 2.0 feature extraction
    Backend("fp32", "fp32", STOCK, wav2vec2=True, extracts=True),
    Backend("bf16", "bf16", STOCK, wav2vec2=True, extracts=True),
    Backend("compile-bf16", "bf16", STOCK, wav2vec2=True, extracts=True),
    Backend("int8-dynamic", "int8", STOCK, wav2vec2=True, extracts=True),
    Backend("int8-static", "int8", STOCK, wav2vec2=True),
    Backend("openvino-bf16", "bf16", STOCK, wav2vec2=True, extracts=True),
    Backend("openvino-int8", "int8", STOCK, wav2vec2=True, extracts=True),
    Backend("ipex-bf16", "bf16", INTEL, wav2vec2=True),
    # both
    Backend("compile", "fp32", STOCK, acoustic=True, transcribes=True, wav2vec2=True, extracts=True),
    Backend("openvino", "fp32", STOCK, acoustic=True, transcribes=True, wav2vec2=True, extracts=True),
    Backend("stock-2.8", "fp32", INTEL, acoustic=True, wav2vec2=True),
    Backend("ipex", "fp32", INTEL, acoustic=True, transcribes=True, wav2vec2=True),
)}


def names(what: str) -> tuple[str, ...]:
    """Names of the backends with column ``what`` set (``acoustic``, ``transcribes``, ``wav2vec2``, ``extracts``),
    in the table's order."""
    return tuple(name for name, b in TABLE.items() if getattr(b, what))


def environment(name: str) -> str:
    """The environment backend ``name`` runs in (:data:`STOCK` or :data:`INTEL`)."""
    return TABLE[name].environment


def from_metric_key(spelled: str) -> str:
    """A backend's name from its spelling inside metric keys (``stock_28`` -> ``stock-2.8``), or ``spelled``."""
    return next((name for name in TABLE if metric_key(name) == spelled), spelled)


def metric_key(name: str) -> str:
    """How backend ``name`` is spelled inside metric keys: ``-`` as ``_`` and no ``.``."""
    return name.replace("-", "_").replace(".", "")
