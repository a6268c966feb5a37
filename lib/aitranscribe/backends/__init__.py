"""Interchangeable CPU backends for the acoustic model: eager, torch.compile, INT8, OpenVINO, IPEX.

Every backend turns a trained network (an acoustic model's ``net``, whatever method trained it; each has
``input_dim``, ``config()``, ``from_config(config)``, ``flops()`` and ``linear_form()``) into a callable
``(x (B, T, D) float32, padding (B, T) bool) -> logits (B, T', V)`` with the network's own T' (T, or T + 1 for
the GAN generator's even kernel, as fairseq). A backend that cannot run here raises
:class:`BackendUnavailable` saying why; nothing silently falls back to another backend.

* ``eager``: stock PyTorch fp32.
* ``compile``: ``torch.compile`` (Inductor) with dynamic shapes.
* ``int8``: static INT8 with Intel Neural Compressor 3.x (PT2E path), calibrated on given batches, then
  compiled by Inductor. Conv1d does not quantise, so the network runs in its Linear form (the generator as
  a Linear over unfolded windows, equal in fp32).
* ``openvino``: ``openvino.convert_model`` + ``compile_model`` on the CPU device, dynamic batch and length, fp32
  inference precision (the CPU plugin's default is bf16 on CPUs with bf16 instructions).
* ``ipex``: Intel Extension for PyTorch 2.8, which needs torch 2.8: it runs in ``.venv-intel`` (built by
  ``bash run_all.sh --setup-intel``) through ``python -m aitranscribe.backends.ipex_worker``.
"""
from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..core import backend_table
from ..core.errors import KitError
from ..core.paths import REPO_ROOT
from ..models.batching import with_keep_column

log = logging.getLogger(__name__)

BACKENDS = backend_table.names("transcribes")  # stage 06's choices
INTEL_PYTHON = REPO_ROOT / ".venv-intel" / "bin" / "python"


class BackendUnavailable(KitError):
    """The backend cannot run on this machine or in this environment; the message says why."""


def _masked(x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    return x.masked_fill(padding.unsqueeze(-1), 0.0)


def eager(generator: torch.nn.Module, calibration=None):
    """Stock fp32 PyTorch."""
    generator = generator.eval()

    def run(x, padding):
        with torch.inference_mode():
            return generator(x, padding)
    return run


def compiled(generator: torch.nn.Module, calibration=None):
    """torch.compile (Inductor) with dynamic shapes; the first call compiles (seconds)."""
    try:
        fn = torch.compile(generator.eval(), dynamic=True)
    except Exception as exc:  # noqa: BLE001 - torch.compile raises many kinds; report them as unavailable
        raise BackendUnavailable(f"torch.compile is not usable here: {exc}") from None

    def run(x, padding):
        with torch.inference_mode():
            return fn(_masked(x, padding))
    return run


class _Unpadded(torch.nn.Module):
    """A generator taking only ``x`` (padding applied by the caller), for export and conversion."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x)


def int8(generator: torch.nn.Module, calibration: list[tuple[torch.Tensor, torch.Tensor]]):
    """Static INT8 via Intel Neural Compressor 3.x (PT2E) on the Linear form of the generator."""
    try:
        from neural_compressor.torch.export import export
        from neural_compressor.torch.quantization import StaticQuantConfig, convert, prepare
    except ImportError as exc:
        raise BackendUnavailable(f"Intel Neural Compressor is not installed ({exc}); it is pinned in "
                                 f"environment-stock.yml: run bash run_all.sh --setup-only") from None
    if getattr(generator, "bn", None) is not None:
        raise BackendUnavailable("the int8 backend does not support the w2vu2 BatchNorm input (generator_batch_norm)")
    model = _Unpadded(generator.linear_form()).eval()
    example = _masked(*calibration[0])
    dynamic = {"x": {0: torch.export.Dim("batch", min=1, max=1024), 1: torch.export.Dim("time", min=4, max=100000)}}
    try:
        exported = export(model, example_inputs=(example,), dynamic_shapes=dynamic)
        prepared = prepare(exported, StaticQuantConfig())
        with torch.inference_mode():
            for x, padding in calibration:
                prepared(_masked(x, padding))
        # the converted graph holds quantize/dequantize pairs; Inductor (with weight freezing) fuses them into
        # oneDNN INT8 kernels (INC says to compile it). Static shapes: 7x faster than dynamic ones here, so
        # lengths are padded to multiples of 64 segments to keep the number of compiled shapes small.
        torch._inductor.config.freezing = True
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        quantized = torch.compile(convert(prepared), dynamic=False)
    except Exception as exc:  # noqa: BLE001 - export/quantisation failures are reported, not hidden
        raise BackendUnavailable(f"INT8 quantisation failed: {type(exc).__name__}: {exc}") from None

    def run(x, padding):
        T = x.shape[1]
        bucket = 64 * -(-T // 64)
        x = torch.nn.functional.pad(_masked(x, padding), (0, 0, 0, bucket - T))
        with torch.inference_mode():
            out = quantized(x)
            return out[:, : T + out.shape[1] - bucket]  # the network's T' for T steps (T + 1 for the GAN's)
    return run


def openvino(generator: torch.nn.Module, calibration=None):
    """OpenVINO on the CPU device, converted from the PyTorch module with dynamic batch and length."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise BackendUnavailable(f"OpenVINO is not installed ({exc})") from None
    model = _Unpadded(generator.eval())
    dim = generator.input_dim
    example = torch.zeros(1, 8, dim)
    ov_model = ov.convert_model(model, example_input=example, input=[ov.PartialShape([-1, -1, dim])])
    # fp32 as the other arms: OpenVINO's CPU plugin otherwise runs bf16 where the CPU has bf16 instructions
    compiled_model = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def run(x, padding):
        out = compiled_model(_masked(x, padding).numpy())[0]
        return torch.from_numpy(np.asarray(out))
    return run


def ipex(generator: torch.nn.Module, calibration=None):
    """Intel Extension for PyTorch: in-process inside .venv-intel, else through a worker process there."""
    try:
        import intel_extension_for_pytorch as ipex_module
    except ImportError:
        return _ipex_worker(generator)
    optimized = ipex_module.optimize(_Unpadded(generator).eval())  # IPEX traces forward(x) only

    def run(x, padding):
        with torch.inference_mode():
            return optimized(_masked(x, padding))
    return run


def saved_network(net: torch.nn.Module) -> dict:
    """What rebuilds ``net`` in another process: its module and class, ``config()`` as JSON and its weights."""
    return {"module": type(net).__module__, "class": type(net).__qualname__, "config": json.dumps(net.config()),
            "state": net.state_dict()}


def load_network(saved: dict) -> torch.nn.Module:
    """The network of :func:`saved_network`'s dict, in eval mode: its class (a network of the kit's models, whatever
    the method) rebuilt with ``from_config`` and its weights loaded."""
    module = str(saved.get("module", ""))
    if not module.startswith("aitranscribe.models."):
        raise KitError(f"not a network of the kit's models: module {module!r}")
    cls = getattr(importlib.import_module(module), str(saved.get("class", "")), None)
    if cls is None or not hasattr(cls, "from_config"):
        raise KitError(f"{module} has no network class {saved.get('class')!r} with from_config")
    net = cls.from_config(json.loads(saved["config"]))
    net.load_state_dict(saved["state"])
    return net.eval()


def _ipex_worker(generator: torch.nn.Module):
    """The generator run by ``python -m aitranscribe.backends.ipex_worker`` in .venv-intel, one process per call."""
    if not INTEL_PYTHON.is_file():
        raise BackendUnavailable("IPEX 2.8 needs torch 2.8 (a CUDA build: ~4.1 GB to download, 7.4 GB on disk), so it lives in .venv-intel, which is "
                                 "not set up on this machine: run `bash run_all.sh --setup-intel` once, then rerun")
    checkpoint = tempfile.NamedTemporaryFile(suffix=".pt", delete=False)
    torch.save(saved_network(generator), checkpoint.name)

    def run(x, padding):
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "x.npy", _masked(x, padding).numpy())
            done = subprocess.run([str(INTEL_PYTHON), "-m", "aitranscribe.backends.ipex_worker", checkpoint.name,
                                   str(Path(tmp) / "x.npy"), str(Path(tmp) / "y.npy")],
                                  capture_output=True, text=True, cwd=REPO_ROOT)
            if done.returncode != 0:
                raise BackendUnavailable(f"the IPEX worker failed: {done.stderr.strip()[-500:]}")
            return torch.from_numpy(np.load(Path(tmp) / "y.npy"))
    return run


FACTORIES = {"eager": eager, "compile": compiled, "int8": int8, "openvino": openvino, "ipex": ipex}


def make(name: str, generator: torch.nn.Module, calibration: list | None = None):
    """The callable of backend ``name`` for ``generator``; ``calibration`` batches are needed by ``int8``. A network
    that ``reads_keep_column`` (the folded frame classifier) gets each batch with a last column of 1 on real frames
    and 0 on padding, so backends converting a module of one input keep every utterance's length."""
    if name not in FACTORIES:
        raise KitError(f"unknown backend {name!r}; choose one of {list(BACKENDS)}")
    log.info("backend %s: preparing (torch %s, python %s)", name, torch.__version__, sys.version.split()[0])
    if not getattr(generator, "reads_keep_column", False):
        return FACTORIES[name](generator, calibration)
    def with_keep(x, padding):
        x = torch.as_tensor(x)
        padding = torch.zeros(x.shape[:2], dtype=torch.bool) if padding is None else torch.as_tensor(padding)
        return with_keep_column(x, padding), padding

    run = FACTORIES[name](generator, [with_keep(x, padding) for x, padding in calibration or []] or None)
    return lambda x, padding: run(*with_keep(x, padding))
