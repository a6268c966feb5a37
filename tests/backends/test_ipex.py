"""The acoustic model's ipex backend in .venv-intel (torch 2.8 + IPEX 2.8): every network the kit trains, through the
worker process the stock environment starts, against eager on the same input. Skipped, saying why, when
.venv-intel is not set up (`bash run_all.sh --setup-intel`)."""
import numpy as np
import pytest
import torch

from aitranscribe import backends
from aitranscribe.features.mfcc import stack
from aitranscribe.models.decipher.frame_classifier import FrameClassifier, StackFolded
from aitranscribe.models.gan.network import GanConfig, Generator, output_padding

pytestmark = pytest.mark.skipif(not backends.INTEL_PYTHON.is_file(),
                                reason=".venv-intel (torch 2.8 + IPEX) is not set up: bash run_all.sh --setup-intel")


def _padded(frames: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(f) for f in frames)
    x = np.zeros((len(frames), width, frames[0].shape[1]), np.float32)
    padding = np.ones((len(frames), width), bool)
    for i, f in enumerate(frames):
        x[i, :len(f)], padding[i, :len(f)] = f, False
    return torch.from_numpy(x), torch.from_numpy(padding)


def _networks():
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    stacked = [stack(rng.normal(size=(n, 3)).astype(np.float32), 2) for n in (40, 9, 23)]
    plain = [rng.normal(size=(n, 12)).astype(np.float32) for n in (40, 9, 23)]
    # the plain classifier in its default one-layer form: a backend of one input sees only the masked frames, and
    # with more layers the hidden frames beside the padding would differ from eager's (zeroed there)
    tdnn = FrameClassifier(input_dim=15, vocab=6, hidden=16, layers=[[5, 1], [3, 2]]).eval()
    return {"generator": (Generator(GanConfig(input_dim=12, vocab=6)).eval(), _padded(plain)),
            "frame classifier": (FrameClassifier(input_dim=12, vocab=6, hidden=16).eval(), _padded(plain)),
            "folded classifier": (StackFolded.from_classifier(tdnn, 2), _padded(stacked))}


@pytest.mark.parametrize("name", ["generator", "frame classifier", "folded classifier"])
def test_ipex_worker_matches_eager(name):
    net, (x, padding) = _networks()[name]
    want = torch.as_tensor(backends.make("eager", net)(x, padding))
    got = torch.as_tensor(backends.make("ipex", net)(x, padding))  # not importable here: the .venv-intel worker
    assert got.shape == want.shape
    real = ~output_padding(padding, got.shape[1])  # the generator's T + 1 outputs, the classifiers' T
    assert torch.allclose(got[real], want[real], atol=1e-4), float((got[real] - want[real]).abs().max())

