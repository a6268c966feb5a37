"""The GAN method's acoustic model: the wav2vec-U generator over pooled segments; its segments are the runs of
equal argmax (JOIN segmentation with run means), read greedily."""
from __future__ import annotations

import json

import numpy as np
import torch

from ...core.errors import KitError
from ..base import AcousticModel
from .network import GanConfig, Generator, join_segments

KIND = "gan"


class GanModel(AcousticModel):
    """The selected wav2vec-U generator over stage 03's pooled segments."""

    method = KIND
    input = "segments"

    def decode(self, logits: torch.Tensor, padding: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray, list]]:
        """JOIN segments of every utterance: their log-probabilities, argmax phones and spans of pooled segments."""
        return [(logp, logp.argmax(-1), spans) for logp, spans in segment_posteriors(logits, padding)]

    @classmethod
    def load(cls, path) -> "GanModel":
        """The generator of a run's ``checkpoint_best.pt`` (weights-only)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if "generator" not in state:
            raise KitError(f"{path}: not a generator checkpoint of the GAN method")
        return cls(build_generator(GanConfig(**json.loads(state["config"])), state["generator"]), list(state["symbols"]))


def build_generator(cfg: GanConfig, state: dict | None = None) -> Generator:
    """A generator for ``cfg``, with weights from a checkpoint's ``generator`` state when given."""
    generator = Generator(cfg)
    if state is not None:
        generator.load_state_dict(state)
    return generator.eval()


def segment_posteriors(logits: torch.Tensor, padding: torch.Tensor) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
    """Per utterance: log-probabilities of the JOIN segments and the pooled-segment span of each."""
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
