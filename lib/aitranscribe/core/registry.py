"""The pipeline's stages in order. One name per stage: key ``train`` is notebook ``05_train.ipynb``, module
``aitranscribe.stages.train``, profile section ``train:`` and metrics prefix ``train.``."""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class StageInfo:
    """A numbered stage: ``key`` names its section in a profile, its module, its metrics and its records."""

    number: str
    key: str

    @property
    def notebook(self) -> str:
        """``NN_key``: the notebook's stem and the stage's folder under ``<data_root>/<profile>/``."""
        return f"{self.number}_{self.key}"

    @property
    def module(self) -> str:
        return f"aitranscribe.stages.{self.key}"

    def load(self):
        """The stage's module (it declares ``PARAMS`` and ``run()``; imported by name, so nothing here depends on
        the stages)."""
        return importlib.import_module(self.module)


STAGES = (
    StageInfo("01", "data"),
    StageInfo("02", "audio_prep"),
    StageInfo("03", "features"),
    StageInfo("04", "text"),
    StageInfo("05", "train"),
    StageInfo("06", "inference"),
    StageInfo("07", "benchmark"),
)
BY_KEY = {s.key: s for s in STAGES}


def info(key: str) -> StageInfo:
    """The stage named ``key``."""
    if key not in BY_KEY:
        raise KeyError(f"no stage {key!r}; stages: {list(BY_KEY)}")
    return BY_KEY[key]
