"""The GAN method's acoustic model: the wav2vec-U generator over pooled segments; its segments are the runs of
equal argmax (JOIN segmentation with run means), read greedily.

A generator that keeps fairseq's T + 1 outputs has one step more than its input: output t is timed like input
step min(t, n - 1), so the last input step's frame bounds serve twice (:func:`step_bounds`)."""
from __future__ import annotations

import json

import numpy as np
import torch

from ...core.errors import KitError
from ..base import AcousticModel
from .network import GanConfig, Generator, join_segments, output_padding

KIND = "gan"


class GanModel(AcousticModel):
    """The selected wav2vec-U generator over stage 03's pooled segments."""

    method = KIND
    input = "segments"

    def inputs(self, features_record: dict, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """A prepared split's pooled segments and the frame bounds of each generator output."""
        feats, bounds = super().inputs(features_record, split)
        return feats, [step_bounds(b, self.net.extra_steps()) for b in bounds]

    def transformed(self, segmented: dict) -> tuple[np.ndarray, np.ndarray]:
        """New audio's pooled segments and the frame bounds of each generator output."""
        feats, bounds = super().transformed(segmented)
        return feats, step_bounds(bounds, self.net.extra_steps())

    def decode(self, logits: torch.Tensor, padding: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray, list]]:
        """JOIN segments of every utterance: their log-probabilities, argmax phones and spans of outputs.

        ``logits`` (B, T or T + 1, V) of inputs with ``padding`` (B, T)."""
        return [(logp, logp.argmax(-1), spans)
                for logp, spans in segment_posteriors(logits, output_padding(padding, logits.shape[1]))]

    def step_scores(self, logits: torch.Tensor, padding: torch.Tensor) -> list[np.ndarray]:
        """Per utterance: the log-softmax of every real output, (n or n + 1, V) for n input steps."""
        return super().step_scores(logits, output_padding(padding, logits.shape[1]))

    @classmethod
    def load(cls, path) -> "GanModel":
        """The generator of a run's ``checkpoint_best.pt`` (weights-only)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if "generator" not in state:
            raise KitError(f"{path}: not a generator checkpoint of the GAN method")
        config = json.loads(state["config"])
        config.setdefault("generator_crop", True)  # checkpoints from before the field were trained cropped to T
        return cls(build_generator(GanConfig(**config), state["generator"]), list(state["symbols"]))


def step_bounds(bounds: np.ndarray, extra: int) -> np.ndarray:
    """Frame bounds (n, 2) of n input steps -> of the generator's n + ``extra`` outputs (the last row repeated)."""
    return np.concatenate([bounds, bounds[-1:].repeat(extra, 0)]) if extra and len(bounds) else bounds


def build_generator(cfg: GanConfig, state: dict | None = None) -> Generator:
    """A generator for ``cfg``, with weights from a checkpoint's ``generator`` state when given."""
    generator = Generator(cfg)
    if state is not None:
        generator.load_state_dict(state)
    return generator.eval()


def segment_posteriors(logits: torch.Tensor, padding: torch.Tensor) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
    """Per utterance: log-probabilities of the JOIN segments and the span (first, last output) of each.

    ``logits`` (B, T', V) with their own ``padding`` (B, T') (see :func:`.network.output_padding`)."""
    seg, seg_pad = join_segments(logits, padding, random_frame=False)
    logp = torch.log_softmax(seg, -1)
    preds = logits.argmax(-1)
    out = []
    for b in range(logits.shape[0]):
        n = int((~padding[b]).sum())
        p = preds[b, :n].tolist()
        spans, start = [], 0
        for t in range(1, n + 1):
            if t == n or p[t] != p[t - 1]:
                spans.append((start, t - 1))
                start = t
        m = int((~seg_pad[b]).sum())
        out.append((logp[b, :m].numpy().astype(np.float32), spans[:m]))
    return out
