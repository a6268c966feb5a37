"""Acoustic models and the methods that train them without labels.

``METHODS`` maps a method name (stage 05's ``method``) to its package: ``decipher`` (decipherment +
self-training, the demo's) and ``gan`` (wav2vec-U). :func:`load` reads any method's checkpoint into an
:class:`~aitranscribe.models.base.AcousticModel`.
"""
from __future__ import annotations

import torch

from ..core.errors import KitError
from . import decipher, gan
from .base import AcousticModel

METHODS = {decipher.NAME: decipher, gan.NAME: gan}


def load(checkpoint) -> AcousticModel:
    """The model of a checkpoint written by any method (loaded weights-only)."""
    kind = torch.load(checkpoint, map_location="cpu", weights_only=True).get("kind")
    if kind not in METHODS:
        raise KitError(f"{checkpoint}: not a model checkpoint of this kit (kind {kind!r}; methods: {list(METHODS)})")
    return METHODS[kind].load(checkpoint)
