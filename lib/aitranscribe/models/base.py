"""One acoustic-model interface for every training method: what inference, the benchmark and the report-only
evaluation use, so none of them asks which method trained the model.

An :class:`AcousticModel` reads one of stage 03's outputs (``input``: ``"frames"`` or ``"segments"``), runs a
network (``net``: ``(x (B, T, D) float32, padding (B, T) bool) -> logits (B, T', V)``, what the backends run; a
network has ``input_dim``, ``config()``, ``from_config(config)``, ``flops(batch, length)`` and ``linear_form()``;
T' = T, or T + 1 for the GAN generator as in fairseq) and decodes its logits into segments: per utterance the
log-probabilities of each segment (for the word decoder), the phone id of each segment and the steps (frames or
pooled segments) each segment spans.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..io import feature_files
from ..decoding.phones import collapse
from .batching import pad


def frame_bounds(n: int) -> np.ndarray:
    """(n, 2) first and one-past-last frame when each of ``n`` frames is its own step (frame-level models)."""
    return np.stack([np.arange(n), np.arange(n) + 1], 1)


def read_inputs(kind: str, features_record: dict, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A prepared split's model inputs of ``kind`` (``"frames"``: stage 03's frame features, ``"segments"``: its
    pooled segments), one array per utterance, and each step's frame bounds (steps x 2)."""
    directory = Path(features_record["dir"] if kind == "frames" else features_record["segments"])
    feats = feature_files.read_utterances(directory, split)
    if kind == "frames":
        return feats, [frame_bounds(len(f)) for f in feats]
    bounds = np.load(directory / f"{split}.bounds.npy")
    offsets = np.cumsum([0] + [len(f) for f in feats])
    return feats, [bounds[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


class AcousticModel(ABC):
    """A trained model: ``method`` that made it, ``input`` it reads, ``net`` the backends run, ``symbols`` it emits."""

    method: str = ""
    input: str = "segments"

    def __init__(self, net: torch.nn.Module, symbols: list[str]):
        self.net, self.symbols = net.eval(), symbols

    # -- input -----------------------------------------------------------------------------------------
    def inputs(self, features_record: dict, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """A prepared split's inputs of this model (one array per utterance) and each step's frame bounds."""
        return read_inputs(self.input, features_record, split)

    def transformed(self, segmented: dict) -> tuple[np.ndarray, np.ndarray]:
        """The input and step bounds of new audio from :meth:`TrainedTransform.__call__`'s output."""
        if self.input == "frames":
            frames = np.asarray(segmented["frames"], dtype=np.float32)
            return frames, frame_bounds(len(frames))
        return segmented["pooled"], segmented["pooled_bounds"]

    def inference_net(self, features_record: dict) -> torch.nn.Module:
        """The network the backends run on this model's input from ``features_record``: ``net`` (a method may give
        an equivalent form that is faster at inference)."""
        return self.net

    # -- output ----------------------------------------------------------------------------------------
    @abstractmethod
    def decode(self, logits: torch.Tensor, padding: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray, list]]:
        """Per utterance: segment log-probabilities (S, V), the phone id of each segment (S,), and each segment's
        ``(first, last)`` step (each method's model says how its outputs become segments)."""

    def step_scores(self, logits: torch.Tensor, padding: torch.Tensor) -> list[np.ndarray]:
        """Per utterance: (T, V) log-likelihoods of every step for a decoding graph (by default the log-softmax)."""
        logp = torch.log_softmax(logits.float(), -1)
        return [logp[b, :n].numpy() for b, n in enumerate((~padding).sum(1).tolist())]

    stay: float = 0.5  # the probability that a step stays in the phone of the step before, for decoding graphs

    def utterance_scores(self, feats: list[np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
        """:meth:`step_scores` of utterances of this model's input, run in batches with the eager network."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(feats), batch_size):
                x, padding = pad(feats[start:start + batch_size])
                out.extend(self.step_scores(self.net(x, padding), padding))
        return out

    def phones(self, feats: list[np.ndarray], batch_size: int = 64) -> list[list[str]]:
        """Phones (no times, ``<SIL>`` dropped) of utterances of this model's input."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(feats), batch_size):
                x, padding = pad(feats[start:start + batch_size])
                out.extend(collapse(ids, self.symbols) for _, ids, _ in self.decode(self.net(x, padding), padding))
        return out

    def split_phones(self, features_record: dict, split: str) -> list[list[str]]:
        """Phones of every utterance of a prepared split."""
        return self.phones(self.inputs(features_record, split)[0])


@dataclass(frozen=True)
class ReportInputs:
    """What a method's ``report_checks`` may use; report-only, as ``refs`` and ``align_segments`` read labels.

    ``refs``: reference phones of ``train``, ``valid`` and ``test``; ``align_segments(feats, references, symbols)
    -> [(segments, labels)]``: stage 03's pooled segments of utterances with the reference phone the supervised CTC
    probe's forced alignment places on each; ``epochs``, ``fit_batch_size``, ``fit_lr``: for supervised fits;
    ``out_dir``: where a check may save a model (stage 05's output directory)."""

    features_record: dict
    phone_lm: object
    refs: dict
    epochs: int
    seed: int
    out_dir: Path
    align_segments: Callable
    fit_batch_size: int
    fit_lr: float
