"""The decipher method's acoustic model: a frame classifier decoded by the hybrid phone HMM.

Its segments are the runs of the HMM's best frame path; each run's emission for the word decoder is the
log-softmax of its mean logits. Saved as tensors and plain values, loadable with ``weights_only``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ...core.errors import KitError
from ...core.files import atomic_torch_save
from ...core.stage import done_params
from ..base import AcousticModel
from .decipherment import run_bounds
from .frame_classifier import FrameClassifier, StackFolded
from .hmm import PhoneHMM

KIND = "decipher"


class FrameModel(AcousticModel):
    """A frame classifier and its hybrid HMM over stage 03's frames."""

    method = KIND
    input = "frames"

    def __init__(self, net: FrameClassifier, log_prior: np.ndarray, hmm: PhoneHMM, symbols: list[str]):
        super().__init__(net, symbols)
        self.log_prior, self.hmm = torch.as_tensor(log_prior, dtype=torch.float64), hmm

    def inference_net(self, features_record: dict) -> torch.nn.Module:
        """On MFCC frames stacked +-c (stage 03's ``mfcc_context``), the classifier with its first layer folded over
        the distinct frames (:class:`.StackFolded`: the same logits, 2.5x fewer multiply-adds at the demo's sizes);
        otherwise ``net``."""
        p = done_params(features_record["dir"])
        context = p.get("mfcc_context", 0) if p.get("kind") == "mfcc" else 0
        if context < 1 or self.net.layers[0][0] == 1:
            return self.net
        return StackFolded.from_classifier(self.net, context)

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Log posteriors over the label prior (scaled likelihoods), (B, T, V)."""
        return torch.log_softmax(logits.double(), -1) - self.log_prior

    @property
    def stay(self) -> float:
        """The HMM's self-loop probability (read off the labels it was trained on)."""
        return self.hmm.stay

    def step_scores(self, logits: torch.Tensor, padding: torch.Tensor) -> list[np.ndarray]:
        """Per utterance: (T, V) scaled likelihoods (log posterior over the label prior) of every frame."""
        scores = self.scores(logits).float()
        return [scores[b, :n].numpy() for b, n in enumerate((~padding).sum(1).tolist())]

    def step_posteriors(self, logits: torch.Tensor, padding: torch.Tensor) -> list[np.ndarray]:
        """Per utterance: (T, V) posteriors of every frame (the classifier's softmax, without the prior division)."""
        probs = torch.softmax(logits.double(), -1).float()
        return [probs[b, :n].numpy() for b, n in enumerate((~padding).sum(1).tolist())]

    def frame_logits(self, feats: list[np.ndarray], batch_size: int = 64) -> list[torch.Tensor]:
        """(T_i, V) logits of every utterance from the eager network, batches laid end to end (no padding)."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(feats), batch_size):
                chunk = feats[start:start + batch_size]
                lengths = [len(u) for u in chunk]
                x = torch.from_numpy(np.concatenate([np.asarray(u, dtype=np.float32) for u in chunk]))
                out.extend(torch.split(self.net.forward_packed(x, lengths), lengths))
        return out

    def frame_scores(self, feats: list[np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
        """Per utterance: (T, V) float64 scaled likelihoods of every frame, computed unpadded."""
        return [self.scores(logits).numpy() for logits in self.frame_logits(feats, batch_size)]

    def utterance_scores(self, feats: list[np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
        """Per utterance: (T, V) scaled likelihoods of every frame (as :meth:`step_scores`), computed unpadded."""
        return [s.astype(np.float32) for s in self.frame_scores(feats, batch_size)]

    def frame_paths(self, feats: list[np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
        """Best phone of every frame of every utterance (the hybrid HMM's Viterbi paths), computed unpadded."""
        return self.hmm.best_paths(self.frame_scores(feats, batch_size))

    def paths(self, logits: torch.Tensor, padding: torch.Tensor) -> list[np.ndarray]:
        """Best phone of every frame of every utterance of a batch of logits."""
        return self.hmm.paths(self.scores(logits), (~padding).sum(1))

    def decode(self, logits: torch.Tensor, padding: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray, list]]:
        """The runs of each utterance's best frame path: their mean-logit log-probabilities, phones and frames."""
        return [run_posteriors(logits[b], path) for b, path in enumerate(self.paths(logits, padding))]

    def save(self, path: Path, extra: dict | None = None) -> None:
        """Weights, prior, HMM and symbols as tensors and plain values (loadable with ``weights_only``)."""
        atomic_torch_save(path, {"kind": KIND, "net": self.net.state_dict(), "config": json.dumps(self.net.config()),
                                 "log_prior": self.log_prior, "start": self.hmm.start, "end": self.hmm.end,
                                 "between": self.hmm.between, "stay": self.hmm.stay, "symbols": self.symbols,
                                 **(extra or {})})

    @classmethod
    def load(cls, path) -> "FrameModel":
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("kind") != KIND:
            raise KitError(f"{path}: not a frame-classifier checkpoint of the decipher method")
        net = FrameClassifier(**json.loads(state["config"]))
        net.load_state_dict(state["net"])
        return cls(net, state["log_prior"].numpy(), PhoneHMM(state["start"], state["end"], state["between"],
                                                             state["stay"]), list(state["symbols"]))


def run_posteriors(logits: torch.Tensor, path: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """One utterance's frame logits (T, V) and best frame path -> per run of the path: log-probabilities of the
    run's mean logits, the run's phone id and its span of frames."""
    bounds = run_bounds(path)
    starts, ends = bounds[:-1], bounds[1:]
    run_of_frame = torch.from_numpy(np.repeat(np.arange(len(starts)), ends - starts))
    sums = torch.zeros(len(starts), logits.shape[-1]).index_add_(0, run_of_frame, logits[:len(path)].float())
    logp = torch.log_softmax(sums / torch.from_numpy(ends - starts)[:, None], -1)
    return logp.numpy(), path[starts], [(int(a), int(b) - 1) for a, b in zip(starts, ends)]
