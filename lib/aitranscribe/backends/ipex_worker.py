"""Run the acoustic model with Intel Extension for PyTorch (inside .venv-intel, torch 2.8).

    python -m aitranscribe.backends.ipex_worker MODEL.pt INPUT.npy OUTPUT.npy

MODEL.pt holds ``class`` (``Generator``, ``FrameClassifier`` or ``StackFolded``), ``config`` (JSON) and ``state`` (weights);
INPUT.npy is (B, T, D) float32, already masked.
"""
import json
import sys

import numpy as np
import torch

from ..models.decipher.frame_classifier import FrameClassifier, StackFolded
from ..models.gan.network import GanConfig, Generator
from . import _Unpadded


def build(saved: dict) -> torch.nn.Module:
    """The network of a saved ``{class, config, state}``, in eval mode."""
    config = json.loads(saved["config"])
    builders = {"Generator": lambda: Generator(GanConfig(**config)), "FrameClassifier": lambda: FrameClassifier(**config),
                "StackFolded": lambda: StackFolded(**config)}
    if saved["class"] not in builders:
        raise ValueError(f"unknown network class {saved['class']!r}")
    net = builders[saved["class"]]()
    net.load_state_dict(saved["state"])
    return net.eval()


def main(checkpoint: str, source: str, target: str) -> None:
    import intel_extension_for_pytorch as ipex

    net = build(torch.load(checkpoint, map_location="cpu", weights_only=True))
    optimized = ipex.optimize(_Unpadded(net).eval())
    with torch.inference_mode():
        out = optimized(torch.from_numpy(np.load(source)))
    np.save(target, out.numpy())


if __name__ == "__main__":
    main(*sys.argv[1:4])
