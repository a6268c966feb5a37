"""Run the generator with Intel Extension for PyTorch (inside .venv-intel, torch 2.8).

    python -m aitranscribe.ipex_worker GENERATOR.pt INPUT.npy OUTPUT.npy

GENERATOR.pt holds ``weight`` (V, D, k) and ``kernel``; INPUT.npy is (B, T, D) float32, already masked.
"""
import sys

import numpy as np
import torch


def main(checkpoint: str, source: str, target: str) -> None:
    import intel_extension_for_pytorch as ipex

    from .backends import _Unpadded
    from .gan import GanConfig, Generator

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weight = state["weight"]
    generator = Generator(GanConfig(input_dim=weight.shape[1], vocab=weight.shape[0],
                                    generator_kernel=int(state["kernel"]), generator_dropout=0.0)).eval()
    with torch.no_grad():
        generator.proj.weight.copy_(weight)
    optimized = ipex.optimize(_Unpadded(generator).eval())
    with torch.inference_mode():
        out = optimized(torch.from_numpy(np.load(source)))
    np.save(target, out.numpy())


if __name__ == "__main__":
    main(*sys.argv[1:4])
