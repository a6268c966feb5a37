"""The pipeline's stages in order: notebook name, parameter section and library module."""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class StageInfo:
    """A numbered stage: ``notebook`` is ``NN_name``, ``key`` its section in a profile and its metrics prefix."""

    number: str
    notebook: str
    key: str
    module: str

    def load(self):
        """The library module of the stage (it declares PARAMS, KEY, NOTEBOOK and run())."""
        return importlib.import_module(f"aitranscribe.{self.module}")


STAGES = (
    StageInfo("01", "01_data", "data", "data"),
    StageInfo("02", "02_audio_prep", "audio_prep", "audio_prep"),
    StageInfo("03", "03_features", "features", "features"),
    StageInfo("04", "04_text_prep", "text", "text_prep"),
    StageInfo("05", "05_train_gan", "train", "train"),
    StageInfo("06", "06_inference", "inference", "inference"),
    StageInfo("07", "07_benchmark", "benchmark", "benchmark"),
)


def available() -> list[StageInfo]:
    """Stages whose library module exists (later issues add the rest)."""
    out = []
    for s in STAGES:
        try:
            s.load()
        except ModuleNotFoundError as exc:
            if exc.name != f"aitranscribe.{s.module}":
                raise
            continue
        out.append(s)
    return out
