"""Ways to run wav2vec 2.0 feature extraction on a CPU: the arms of stage 07's feature benchmark, and the
``feature_backend`` choices of stage 03.

:func:`make` turns a loaded :class:`~aitranscribe.features.wav2vec2.Wav2Vec2Encoder` and a layer into a callable
``(waveforms (B, samples) float32 tensor) -> (B, frames, dim) float32 tensor`` = the output of that layer, each
waveform normalised first when the checkpoint asks for it (exactly what :func:`~.wav2vec2.extract` returns). An arm
that cannot run here raises :class:`ArmUnavailable` saying why; nothing falls back silently to another arm.

=================  ========  =====  =====================================================================
arm                 precision  env    how
=================  ========  =====  =====================================================================
``fp32``            fp32      stock  eager PyTorch
``bf16``            bf16      stock  eager on a bf16 copy of the weights, bf16 input (oneDNN bf16 kernels, AMX
                                     where present; norms and softmax accumulate in fp32)
``compile``         fp32      stock  ``torch.compile`` (Inductor, weights frozen into oneDNN packed layouts)
``compile-bf16``    bf16      stock  the same traced under autocast bf16
``int8-dynamic``    int8      stock  ``quantize_dynamic`` of every Linear (int8 weights, activations quantised
                                     per call); the conv front end stays fp32 (Conv1d does not quantise)
``int8-static``     int8      stock  PT2E: ``torch.export`` + torchao's X86InductorQuantizer, calibrated, then
                                     Inductor; Conv1d stays fp32 here too
``openvino``        fp32      stock  ``openvino.convert_model`` + CPU plugin, inference precision f32; also
                                     compiled for the static shapes ``make`` is given
``openvino-bf16``   bf16      stock  the same with inference precision bf16
``openvino-int8``   int8      stock  NNCF post-training quantisation (transformer preset) of the OpenVINO model;
                                     the first convolution (on the raw waveform) and the positional one are not
                                     quantised; what is not int8 runs in bf16 where the CPU has it and that keeps
                                     the output (checked on the calibration audio), else fp32; stage 03 calibrates
                                     it on its train audio and saves it (:func:`save_calibrated`)
``stock-2.8``       fp32      intel  eager PyTorch 2.8 in ``.venv-intel`` (the reference IPEX is compared to)
``ipex``            fp32      intel  ``ipex.optimize`` + TorchScript trace and freeze (IPEX's inference recipe)
``ipex-bf16``       bf16      intel  the same with ``dtype=torch.bfloat16`` under autocast
=================  ========  =====  =====================================================================

LARGE-style front ends normalise every conv block's output over channels; all arms but ``compile``,
``int8-static`` and ``ipex`` run those blocks in (B, T, C) layout (each convolution as a matrix product over its
strided windows), those three as fairseq's (B, C, T) with transposes around the norm (:data:`FRONT_END_FORM`,
measured).
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...core import backend_table
from ...core.errors import KitError
from .. import wav2vec2

log = logging.getLogger(__name__)

ARMS = backend_table.names("wav2vec2")  # precision and environment: core/backend_table.py


class ArmUnavailable(KitError):
    """The arm cannot run on this machine or in this environment; the message says why."""


class LayerOutput(torch.nn.Module):
    """``waveforms (B, samples) -> layer output (B, frames, dim)``: normalisation and the model in one module (what
    export, quantisation and conversion see)."""

    def __init__(self, model, layer: int):
        super().__init__()
        model.check_layer(layer)
        self.model, self.layer, self.normalize = model.eval(), int(layer), bool(model.normalize)

    def forward(self, wav):
        if self.normalize:
            wav = F.layer_norm(wav, wav.shape[-1:])
        return self.model(wav, self.layer)


def _tensor(wav) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)) if isinstance(wav, np.ndarray) else wav


def _array(wav) -> np.ndarray:
    return wav.numpy() if isinstance(wav, torch.Tensor) else np.ascontiguousarray(wav, dtype=np.float32)


def _eager(net, calibration, threads, shapes=()):
    def run(wav):
        with torch.inference_mode():
            return net(_tensor(wav))
    return run


def _bf16(net, calibration, threads, shapes=()):
    # a bf16 copy of the weights made once: under autocast every call cast ~190 M fp32 weights to bf16 again (LARGE
    # to layer 14: 83 of 382 ms a call in casts; 10 s at batch 1, Xeon with AMX, 2026-12-02)
    net16 = copy.deepcopy(net).to(torch.bfloat16)

    def run(wav):
        with torch.inference_mode():
            return net16(_tensor(wav).to(torch.bfloat16)).float()
    return run


def _inductor_freezing():
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True  # weights become constants: folded and pre-packed for oneDNN


def _compile(net, calibration, threads, shapes=(), bf16=False):
    _inductor_freezing()
    try:
        fn = torch.compile(net)
    except Exception as exc:  # noqa: BLE001 - torch.compile raises many kinds; report them as unavailable
        raise ArmUnavailable(f"torch.compile is not usable here: {type(exc).__name__}: {exc}") from None

    def run(wav):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return fn(_tensor(wav)).float()
    return run


def _int8_dynamic(net, calibration, threads, shapes=()):
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's eager quantisation is deprecated in favour of torchao
        quantized = quantize_dynamic(copy.deepcopy(net), {torch.nn.Linear}, dtype=torch.qint8)
    return _eager(quantized, calibration, threads)


def _int8_static(net, calibration, threads, shapes=()):
    try:
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError as exc:
        raise ArmUnavailable(f"PT2E quantisation needs torchao ({exc}); it comes with neural-compressor[pt], "
                             f"pinned in environment-stock.yml") from None
    example = _tensor(calibration[0])
    if example.shape[0] == 1:  # export specialises a dimension of size 1 to a constant
        example = example.repeat(2, 1)
    batch = torch.export.Dim("batch", min=1, max=256)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exported = torch.export.export(net, (example,), dynamic_shapes={"wav": {0: batch}}).module()
            quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
            prepared = prepare_pt2e(exported, quantizer)
            with torch.inference_mode():
                for wav in calibration:
                    prepared(_tensor(wav))
            converted = convert_pt2e(prepared)
        _inductor_freezing()
        fn = torch.compile(converted)
    except Exception as exc:  # noqa: BLE001 - export and quantisation failures are reported, not hidden
        raise ArmUnavailable(f"PT2E INT8 quantisation failed: {type(exc).__name__}: {str(exc)[:300]}") from None
    length = example.shape[-1]

    def run(wav):
        wav = _tensor(wav)
        if wav.shape[-1] != length:
            raise KitError(f"the int8-static arm was exported for {length}-sample waveforms, not {wav.shape[-1]}")
        with torch.inference_mode():
            return fn(wav)
    return run


def _openvino_model(net, calibration):
    try:
        import openvino as ov
    except ImportError as exc:
        raise ArmUnavailable(f"OpenVINO is not installed ({exc}); it is pinned in environment-stock.yml") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ov.convert_model(net, example_input=_tensor(calibration[0]), input=[ov.PartialShape([-1, -1])])
    return ov, model


def _openvino_runner(ov, model, precision: str, threads: int, shapes=()):
    """The model compiled for any waveform shape, plus a copy compiled for each of ``shapes`` ((B, samples) pairs):
    OpenVINO's CPU plugin picks faster kernels for a static shape (LARGE to layer 14, bf16, 10 s at batch 1: 40.5 ->
    43.4x real time, Xeon with AMX, 2026-12-02). Other shapes run the dynamic model."""
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": int(threads)}
    requests = {None: core.compile_model(model, "CPU", config).create_infer_request()}
    for shape in dict.fromkeys(tuple(int(n) for n in s) for s in shapes):
        static = model.clone()
        static.reshape(list(shape))
        requests[shape] = core.compile_model(static, "CPU", config).create_infer_request()

    def run(wav):
        wav = _array(wav)
        request = requests.get(tuple(wav.shape), requests[None])
        return torch.from_numpy(np.array(request.infer([wav])[0]))
    run.static_shapes = [shape for shape in requests if shape is not None]
    return run


def _openvino(net, calibration, threads, shapes=(), precision="f32"):
    ov, model = _openvino_model(net, calibration)
    if precision == "bf16" and "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise ArmUnavailable("OpenVINO's CPU plugin reports no bf16 support on this CPU")
    return _openvino_runner(ov, model, precision, threads, shapes)


def _quantized_openvino(net, calibration):
    """(openvino, the int8 OpenVINO model of ``net`` calibrated by NNCF on ``calibration``)."""
    try:
        import nncf
    except ImportError as exc:
        raise ArmUnavailable(f"NNCF is not installed ({exc}); it is pinned in environment-stock.yml") from None
    ov, model = _openvino_model(net, calibration)
    data = nncf.Dataset([np.ascontiguousarray(w, dtype=np.float32) if isinstance(w, np.ndarray) else w.numpy()
                         for w in calibration])
    try:
        # the first convolution reads the waveform itself: 256 levels over it cost the most fidelity (a tiny model's
        # mean per-frame cosine on test audio fell to 0.92 with it quantised, 0.9993 without) for ~0.1% of the FLOPs;
        # the grouped positional convolution quantised gave garbage on a Xeon with AMX (the tiny model's cosine 0.54,
        # 0.9992 with it left in fp32; ~3% of LARGE's FLOPs)
        # (block 0's convolution is named after the conv in fairseq's form, after the front end's first matrix
        # product in the (B, T, C) form; each form has one of them)
        kept = nncf.IgnoredScope(patterns=[r".*feature_extractor\.blocks\.0\.conv.*",
                                           r".*feature_extractor/aten::linear/MatMul$", r".*encoder\.pos_conv.*"],
                                 validate=False)
        quantized = nncf.quantize(model, data, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration),
                                  ignored_scope=kept)
    except Exception as exc:  # noqa: BLE001
        raise ArmUnavailable(f"NNCF quantisation failed: {type(exc).__name__}: {str(exc)[:300]}") from None
    return ov, quantized


REST_PRECISION_KEY = "aitranscribe_rest_precision"  # where a saved int8 model keeps the precision of its rest
BF16_REST_MIN_COSINE = 0.999  # the int8 model with its rest in bf16 against the same with it in fp32


def _int8_rest(ov, quantized, calibration) -> str:
    """The inference precision of what the int8 model leaves unquantised (attention's softmax, the norms, GELU, the
    kept convolutions): bf16 where the CPU has it and the output on the calibration waveforms stays within a mean
    per-frame cosine of ``BF16_REST_MIN_COSINE`` of the same model's with fp32 there, else f32. Recorded in the
    model's runtime info. Measured: LARGE to layer 14, 10 s at batch 1, static shape, 36.4 -> 55.1x real time,
    cosine with fp32 eager 0.99974 -> 0.99972 (Xeon with AMX, 2026-12-02); but a tiny BASE-style test model fell to
    0.85 in bf16 (0.9999 in f32)."""
    rest = "f32"
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        outputs = {}
        for precision in ("f32", "bf16"):
            compiled = ov.Core().compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": precision})
            request = compiled.create_infer_request()
            frames = [np.array(request.infer([_array(w)])[0]) for w in calibration[:2]]
            outputs[precision] = np.concatenate([f.reshape(-1, f.shape[-1]) for f in frames])
        cosine = fidelity(outputs["bf16"], outputs["f32"])["cosine_mean"]
        rest = "bf16" if cosine >= BF16_REST_MIN_COSINE else "f32"
        log.info("int8 model's unquantised rest in %s (bf16 against f32 there: mean per-frame cosine %.5f)", rest,
                 cosine)
    quantized.set_rt_info(rest, REST_PRECISION_KEY)
    return rest


def _openvino_int8(net, calibration, threads, shapes=()):
    ov, quantized = _quantized_openvino(net, calibration)
    rest = _int8_rest(ov, quantized, calibration)
    run = _openvino_runner(ov, quantized, rest, threads, shapes)
    run.rest_precision = rest  # (the benchmark records it)
    return run


def _ipex(net, calibration, threads, shapes=(), bf16=False):
    try:
        import intel_extension_for_pytorch as ipex
    except ImportError as exc:
        raise ArmUnavailable(f"Intel Extension for PyTorch is not importable here ({exc}): the ipex arms run in "
                             f".venv-intel (bash run_all.sh --setup-intel)") from None
    dtype = torch.bfloat16 if bf16 else torch.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = ipex.optimize(copy.deepcopy(net), dtype=dtype)
        example = _tensor(calibration[0])
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            traced = torch.jit.freeze(torch.jit.trace(optimized, example, check_trace=False))
            traced(example)  # TorchScript's profiling runs: the first two calls optimise the graph
            traced(example)

    def run(wav):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return traced(_tensor(wav)).float()
    return run


def _stock28(net, calibration, threads, shapes=()):
    if not torch.__version__.startswith("2.8"):
        raise ArmUnavailable(f"stock-2.8 is the eager reference inside .venv-intel (torch 2.8); this is torch "
                             f"{torch.__version__}")
    return _eager(net, calibration, threads)


FACTORIES = {
    "fp32": _eager, "bf16": _bf16, "compile": _compile,
    "compile-bf16": lambda n, c, t, s=(): _compile(n, c, t, s, bf16=True),
    "int8-dynamic": _int8_dynamic, "int8-static": _int8_static,
    "openvino": _openvino, "openvino-bf16": lambda n, c, t, s=(): _openvino(n, c, t, s, "bf16"),
    "openvino-int8": _openvino_int8,
    "stock-2.8": _stock28, "ipex": _ipex, "ipex-bf16": lambda n, c, t, s=(): _ipex(n, c, t, s, bf16=True),
}


# How each arm runs the conv front end of LARGE-style models (wav2vec2.use_front_end_form), measured side by side
# on LARGE to layer 14, 10 s at batch 1, 2 threads (Xeon with AMX, 2026-12-02), x real time fairseq's transposes ->
# the norm as a channel reduction -> the blocks in (B, T, C) layout: eager fp32 8.5 -> 9.1 -> 10.3; eager bf16 16.5
# -> 15.7 -> 29.5 (the convolutions become bf16 matrix products on AMX); OpenVINO fp32 10.1 -> 11.5 -> 12.0;
# OpenVINO bf16 26.0 -> 33.4-36.2 -> 38.9 (its CPU plugin ran the transposes with a reference kernel). Later the
# same day, fairseq's form -> (B, T, C), one process each: compile-bf16 24.1 -> 34.3, ipex-bf16 22.4 -> 30.9,
# stock-2.8 8.1 -> 9.6, int8-dynamic 11.6 -> 13.6 (its front end stays fp32), openvino-int8 27.8 -> 37.8 (cosine
# 0.99968 -> 0.99974). Kept in fairseq's form, no faster the other way: compile 10.2 against 10.0, ipex 9.5 against
# 8.4 (its calls spread 1.0-1.5 s), int8-static 19.7 both.
FRONT_END_FORM = {arm: "time_major" for arm in ("fp32", "bf16", "compile-bf16", "int8-dynamic", "openvino",
                                                  "openvino-bf16", "openvino-int8", "stock-2.8", "ipex-bf16")}


def make(arm: str, model, layer: int, calibration: list, threads: int = 1, shapes=()):
    """The callable of ``arm`` for ``model`` up to ``layer``; ``calibration``: a few waveforms (numpy or tensors,
    (B, samples)) used as example input and, by the int8 arms, to calibrate; ``threads``: OpenVINO's thread count
    (PyTorch arms use the process's ``torch.get_num_threads()``); ``shapes``: (B, samples) input shapes the caller
    will run most (the benchmark's fixed waveforms), for which the OpenVINO arms also compile a static-shape model.
    Sets ``model``'s front-end form to the arm's (:data:`FRONT_END_FORM`; the same features, so later uses of
    ``model`` are unaffected but for speed) rather than copying a model of up to 1.3 GB. Raises
    :class:`ArmUnavailable` saying why."""
    if arm not in FACTORIES:
        raise KitError(f"unknown wav2vec 2.0 arm {arm!r}; choose from {list(FACTORIES)}")
    if not calibration:
        raise KitError("wav2vec 2.0 arms need at least one example waveform")
    log.info("wav2vec 2.0 arm %s: preparing (torch %s)", arm, torch.__version__)
    return FACTORIES[arm](_arm_net(arm, model, layer), calibration, threads, tuple(shapes))


def _arm_net(arm: str, model, layer: int) -> LayerOutput:
    """``model`` up to ``layer`` as the arms see it, its front end set to ``arm``'s form (in place)."""
    wav2vec2.use_front_end_form(model, FRONT_END_FORM.get(arm, "transpose"))
    return LayerOutput(model, layer).eval()


def fidelity(output, reference) -> dict:
    """Per-frame agreement of an arm's layer output with the fp32 reference (both (B, T, D) or (T, D)).

    Returns ``cosine_mean``/``cosine_min`` (cosine similarity of each frame's vector with the reference frame's)
    and ``rel_error`` (||output - reference|| / ||reference||, Frobenius norms over all frames).
    """
    y = np.asarray(output, dtype=np.float64).reshape(-1, np.shape(output)[-1])
    r = np.asarray(reference, dtype=np.float64).reshape(-1, np.shape(reference)[-1])
    if y.shape != r.shape:
        raise KitError(f"output shape {y.shape} differs from the reference's {r.shape}")
    cos = (y * r).sum(1) / np.maximum(np.linalg.norm(y, axis=1) * np.linalg.norm(r, axis=1), 1e-30)
    return {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "rel_error": float(np.linalg.norm(y - r) / max(np.linalg.norm(r), 1e-30))}


# ---------------------------------------------------------------------------------------------- stage 03's choice

# Arms stage 03 can extract with: the stock environment's that take any utterance length (int8-static is exported
# for one length; the IPEX arms live in .venv-intel); the CALIBRATED ones stage 03 calibrates on its train audio
FEATURE_BACKENDS = backend_table.names("extracts")
MIN_COSINE = 0.99  # the fidelity bar: mean per-frame cosine with fp32 an arm needs (stage 07's default, stage 03's)
CALIBRATED = ("openvino-int8",)  # stage 03 calibrates these once on its own train audio and saves the model
SAVED_MODEL = "model.xml"  # (OpenVINO IR: this file and model.bin beside it)


def save_calibrated(arm: str, model, layer: int, calibration: list, folder) -> Path:
    """Calibrate ``arm`` (one of :data:`CALIBRATED`) for ``model`` up to ``layer`` on ``calibration`` (waveforms,
    (1, samples) each, any lengths) and save it in ``folder`` (written to a temporary folder, then renamed, so it
    is whole or absent). Returns the saved model's path; reads nothing pickled back (:func:`load_calibrated`)."""
    if arm not in CALIBRATED:
        raise KitError(f"{arm!r} is not calibrated on data; calibrated arms: {list(CALIBRATED)}")
    ov, quantized = _quantized_openvino(_arm_net(arm, model, layer), calibration)
    _int8_rest(ov, quantized, calibration)
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    ov.save_model(quantized, str(partial / SAVED_MODEL), compress_to_fp16=False)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return folder / SAVED_MODEL


def load_calibrated(arm: str, folder, threads: int = 1):
    """The callable of a calibrated ``arm`` from the model :func:`save_calibrated` wrote in ``folder`` (an OpenVINO
    IR: XML and raw weights, no code); a missing or unreadable model is a :class:`KitError` naming the file."""
    path = Path(folder) / SAVED_MODEL
    if arm not in CALIBRATED:
        raise KitError(f"{arm!r} is not calibrated on data; calibrated arms: {list(CALIBRATED)}")
    if not path.is_file():
        raise KitError(f"{path}: the calibrated {arm} model is missing (stage 03 saves it when it extracts with "
                       f"{arm}); run stage 03 again")
    import openvino as ov

    try:
        model = ov.Core().read_model(str(path))
    except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses with the reason
        raise KitError(f"{path}: not a readable OpenVINO model: {str(exc).splitlines()[0][:200]}") from None
    rest = model.get_rt_info(REST_PRECISION_KEY).astype(str) if model.has_rt_info(REST_PRECISION_KEY) else "f32"
    run = _openvino_runner(ov, model, rest, threads)
    run.rest_precision = rest
    return run


def _same_machine(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("model", "flags", "cores", "max_mhz"))


def latest_results(data_root, info: dict) -> tuple[dict, str] | None:
    """The newest wav2vec 2.0 benchmark summary (stage 07's ``w2v2-*/summary.json`` under any profile of
    ``data_root``) measured on a machine like ``info`` (same CPU model, flags, cores and clock), and its path."""
    import json

    from ...core import registry

    folder = registry.info("benchmark").notebook
    found = []
    for path in Path(data_root).glob(f"*/{folder}/w2v2-*/summary.json"):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _same_machine(summary.get("machine", {}), info):
            found.append((path.stat().st_mtime, str(path), summary))
    if not found:
        return None
    _, path, summary = max(found, key=lambda f: f[0])
    return summary, path


def choose(requested: str, arch: str | None, data_root, info: dict) -> tuple[str, str]:
    """The arm stage 03 extracts with, and why.

    ``requested``: an arm of :data:`FEATURE_BACKENDS` (taken as is) or ``auto``: the arm with the highest x real
    time at batch 1 whose mean per-frame cosine with fp32 reached the summary's bar (``w2v2_min_cosine``, 0.99 by
    default) in this machine's latest stage 07 results for architecture ``arch``; fp32 when there are none.
    """
    if requested != "auto":
        if requested not in FEATURE_BACKENDS:
            raise KitError(f"feature_backend {requested!r} cannot extract features here; choose auto or one of "
                           f"{list(FEATURE_BACKENDS)} (int8-static is fixed-length, the IPEX arms run in "
                           f".venv-intel)")
        return requested, "asked for"
    found = latest_results(data_root, info)
    if found is None:
        return "fp32", "no wav2vec 2.0 benchmark (stage 07) has run on this machine yet"
    summary, path = found
    arms = summary.get("backends", {}).get(arch or "", {})
    if not arms:
        return "fp32", f"{path} has no results for this checkpoint's architecture ({arch or 'not a standard one'})"
    bar = summary.get("min_cosine", MIN_COSINE)
    passing = {arm: r["batches"]["1"]["x_realtime"] for arm, r in arms.items()
               if arm in FEATURE_BACKENDS and "1" in r.get("batches", {})
               and r.get("fidelity", {}).get("cosine_mean", -1.0) >= bar}
    if not passing:
        return "fp32", f"no arm usable by stage 03 passed the cosine bar {bar} in {path}"
    best = max(passing, key=passing.get)
    return best, (f"fastest arm passing the cosine bar {bar} for {arch} at batch 1 ({passing[best]:.1f}x real time) "
                  f"in {path}")
