"""Run an acoustic model's network with Intel Extension for PyTorch (inside .venv-intel, torch 2.8).

    python -m aitranscribe.backends.ipex_worker MODEL.pt INPUT.npy OUTPUT.npy

MODEL.pt is :func:`aitranscribe.backends.saved_network`'s ``{module, class, config, state}`` (weights and plain
values only, loaded without executing pickled code); INPUT.npy is (B, T, D) float32, already masked.
"""
import sys

import numpy as np
import torch

from . import _Unpadded, load_network


def main(checkpoint: str, source: str, target: str) -> None:
    import intel_extension_for_pytorch as ipex

    net = load_network(torch.load(checkpoint, map_location="cpu", weights_only=True))
    optimized = ipex.optimize(_Unpadded(net).eval())
    with torch.inference_mode():
        out = optimized(torch.from_numpy(np.load(source)))
    np.save(target, out.numpy())


if __name__ == "__main__":
    main(*sys.argv[1:4])
