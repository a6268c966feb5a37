"""Acoustic models and the methods that train them without labels.

``METHODS`` maps a method name (stage 05's ``method``) to its package: ``decipher`` (decipherment +
self-training, the demo's) and ``gan`` (wav2vec-U). :func:`load` reads any method's checkpoint into an
:class:`~aitranscribe.models.base.AcousticModel`.

A method package has: ``NAME``, ``LABEL`` and ``STEP`` (words for its runs' steps); ``PARAMS`` (its profile section
``train.<NAME>``); ``train(settings, out_dir, features_record, text_record, symbols, p) -> summary`` (resumable; the
model selected without labels: ``run``, ``checkpoint``, ``rule``, ``metric``, ``seconds``...); ``load(checkpoint)``;
``history(summary)``, ``table(summary)``, ``selected_step(summary)``, ``CURVES`` and ``metrics(summary)`` for the
report; ``report_checks(model, summary, context) -> dict`` (report-only references particular to the method, see
:func:`aitranscribe.evaluation.diagnostics.method_checks`); ``throughput(model, records, items, updates,
batch_size) -> dict`` (the benchmark's training-speed probe). Optional: ``uses(settings)`` (other methods whose
settings change its result), ``precision(settings)``, ``reference_throughput(records, symbols, updates)`` (the
method's training speed at its published sizes, reported whichever method trained the model). Inference, the
benchmark and the reports use only these and the :class:`~aitranscribe.models.base.AcousticModel` interface.
``LABELS`` labels the figures its ``metrics`` adds; ``NEUTRAL`` (optional) maps settings under trial to the value at
which the method runs as before they existed (:func:`without_neutral`). A method package outside the kit is listed
by its module name in the environment variable ``AITRANSCRIBE_METHODS`` (every process of a run inherits it).
"""
from __future__ import annotations

import importlib
import os

import torch

from ..core.errors import KitError
from . import decipher, gan
from .base import AcousticModel

METHODS = {decipher.NAME: decipher, gan.NAME: gan}
EXTRA_METHODS = "AITRANSCRIBE_METHODS"  # importable method packages outside the kit, comma-separated


def without_neutral(p: dict) -> dict:
    """Each method's settings in ``p`` (stage 05's parameters) without the settings under trial that hold their
    neutral value (a method's ``NEUTRAL``: the method then runs as before they existed, so outputs made before them
    stay found)."""
    out = {}
    for name, method in METHODS.items():
        neutral = getattr(method, "NEUTRAL", {})
        if neutral and name in p:
            out[name] = {k: v for k, v in p[name].items() if not (k in neutral and v == neutral[k])}
    return out


def _listed(names: str) -> dict:
    """The method packages named in ``names`` (comma-separated module names), by their ``NAME``."""
    out = {}
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise KitError(f"{EXTRA_METHODS} names {name!r}, which cannot be imported: {exc}") from None
        out[module.NAME] = module
    return out


METHODS.update(_listed(os.environ.get(EXTRA_METHODS, "")))


def load(checkpoint) -> AcousticModel:
    """The model of a checkpoint written by any method (loaded weights-only)."""
    kind = torch.load(checkpoint, map_location="cpu", weights_only=True).get("kind")
    if kind not in METHODS:
        raise KitError(f"{checkpoint}: not a model checkpoint of this kit (kind {kind!r}; methods: {list(METHODS)})")
    return METHODS[kind].load(checkpoint)
