"""wav2vec 2.0 feature benchmark: peak arithmetic from CPU flags, the FLOP count, random checkpoints in fairseq's
format, every arm's fidelity on a tiny random model, and the stage's bookkeeping (no timing is asserted)."""
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from aitranscribe.benchmarking import results
from aitranscribe.core import backend_table, machine
from aitranscribe.core.errors import KitError
from aitranscribe.core.paths import REPO_ROOT
from aitranscribe.core.stage import record_stage
from aitranscribe.features import wav2vec2
from aitranscribe.features.wav2vec2 import backends as wav2vec2_backends
from aitranscribe.io import manifest
from aitranscribe.stages import benchmark
from support.w2v_checkpoints import tiny_state_dict

INTEL_PYTHON = REPO_ROOT / ".venv-intel" / "bin" / "python"


# ---------------------------------------------------------------------------------------------- peak

@pytest.mark.parametrize("flags, fp32, bf16, int8", [
    (["avx", "avx2", "fma"], 32, 32, 64),                                    # AVX2 only: bf16 computed in fp32
    (["avx2", "fma", "avx_vnni"], 32, 32, 128),                              # AVX-VNNI on 256-bit vectors
    (["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"], 64, 128, 256),  # this kind of EPYC (Zen 4/5)
    (["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile"], 64, 1024, 2048),
    (["sse4_2"], 16, 16, 32),
])
def test_flops_per_cycle_from_flags(flags, fp32, bf16, int8):
    assert [machine.flops_per_cycle(flags, p) for p in ("fp32", "bf16", "int8")] == [fp32, bf16, int8]


def test_peak_is_cores_times_clock_times_flops_per_cycle():
    info = {"cores": 8, "max_mhz": 2500.0, "flags": ["avx2", "fma", "avx512f", "avx512_bf16"]}
    assert machine.peak_gflops(info, "fp32", cores=2) == pytest.approx(2 * 2.5 * 64)
    assert machine.peak_gflops(info, "bf16", cores=2) == pytest.approx(2 * 2.5 * 128)
    assert machine.peak_gflops(info, "fp32") == pytest.approx(8 * 2.5 * 64)  # default: the record's cores
    assert machine.peak_gflops({"cores": 2, "flags": ["avx2"]}, "fp32") == 0.0  # unknown clock
    with pytest.raises(ValueError, match="precision"):
        machine.flops_per_cycle([], "fp16")


# ---------------------------------------------------------------------------------------------- FLOPs

def test_flop_count_of_a_tiny_config_by_hand():
    s = wav2vec2.Wav2Vec2Settings(conv_layers=((4, 10, 5), (6, 3, 2)), encoder_layers=3, encoder_embed_dim=8,
                                  encoder_ffn_embed_dim=16, encoder_attention_heads=2, conv_pos=4, conv_pos_groups=2)
    f = wav2vec2.count_flops(s, 100, layer=1, batch=3)
    # conv: 100 samples -> (100-10)//5+1 = 19 frames of 4 channels -> (19-3)//2+1 = 9 frames of 6 channels
    conv = 2 * 1 * 4 * 10 * 19 + 2 * 4 * 6 * 3 * 9
    projection = 2 * 9 * 6 * 8                        # 6 conv channels -> width 8
    pos_conv = 2 * 9 * 8 * (8 // 2) * 4               # groups 2, kernel 4
    block = 8 * 9 * 8 * 8 + 4 * 9 * 9 * 8 + 4 * 9 * 8 * 16
    assert f["frames"] == 9
    assert f["conv"] == pytest.approx(3 * conv / 1e9)
    assert f["projection"] == pytest.approx(3 * projection / 1e9)
    assert f["pos_conv"] == pytest.approx(3 * pos_conv / 1e9)
    assert f["transformer"] == pytest.approx(3 * 2 * block / 1e9)  # layer 1 = two blocks
    assert f["total"] == pytest.approx(3 * (conv + projection + pos_conv + 2 * block) / 1e9)


def test_flop_count_of_base_and_large_per_second():
    """The issue's figures: front end ~4.9 GFLOP per second of audio, BASE ~14, LARGE to layer 14 ~24."""
    base = wav2vec2.count_flops(wav2vec2.ARCHITECTURES["base"], 16000, 11)
    large = wav2vec2.count_flops(wav2vec2.ARCHITECTURES["large"], 16000, 14)
    assert base["conv"] == pytest.approx(4.9, abs=0.05) and base["frames"] == 49
    assert base["total"] == pytest.approx(13.8, abs=0.3)
    assert large["total"] == pytest.approx(24.4, abs=0.3)


# ---------------------------------------------------------------------------------------------- checkpoints

def test_random_checkpoint_is_fairseq_format_and_loads_weights_only(tmp_path):
    settings = wav2vec2.ARCHITECTURES["tiny"]
    path = wav2vec2.save_random_checkpoint(tmp_path / "tiny.pt", settings, seed=3)
    assert list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path))) == []  # nothing but plain data
    state = torch.load(str(path), weights_only=True)  # no allow-list needed at all
    # fairseq's own parameter names: the same keys the independent test fixture builds from fairseq's layout
    expected = tiny_state_dict(layers=settings.encoder_layers, dim=settings.encoder_embed_dim,
                               ffn=settings.encoder_ffn_embed_dim, conv=settings.conv_layers,
                               extractor_mode="layer_norm", conv_bias=True, conv_pos=settings.conv_pos,
                               conv_pos_groups=settings.conv_pos_groups, pretraining_heads=False)
    assert set(state["model"]) == set(expected)
    assert all(state["model"][k].shape == expected[k].shape for k in expected)
    assert state["cfg"]["model"]["_name"] == "wav2vec2" and state["cfg"]["task"]["normalize"] is True
    model = wav2vec2.load_wav2vec2(path, layer=1)
    assert wav2vec2.architecture_of(model.settings) == "tiny" and model.settings.inferred == ()
    again = wav2vec2.load_wav2vec2(wav2vec2.save_random_checkpoint(tmp_path / "b.pt", settings, seed=3), layer=1)
    wav = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    assert torch.equal(wav2vec2.extract(model, wav, 1), wav2vec2.extract(again, wav, 1))  # seeded: reproducible


# ---------------------------------------------------------------------------------------------- arms

# fidelity bars (mean per-frame cosine with fp32, relative error): fp32 arms reorder sums only; bf16 keeps
# 8 mantissa bits (~0.4% per rounding); int8 quantises weights and activations to 256 levels
BARS = {"fp32": (0.9999, 1e-3), "bf16": (0.995, 0.05), "int8": (0.99, 0.1)}
STOCK_ARMS = [a for a in wav2vec2_backends.ARMS if backend_table.environment(a) == backend_table.STOCK]
INTEL_ARMS = [a for a in wav2vec2_backends.ARMS if backend_table.environment(a) == backend_table.INTEL]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = wav2vec2.save_random_checkpoint(tmp_path_factory.mktemp("w2v2") / "tiny.pt", wav2vec2.ARCHITECTURES["tiny"])
    wavs = (np.random.default_rng(1).standard_normal((2, 16000)) * 0.1).astype(np.float32)
    model = wav2vec2.load_wav2vec2(path, layer=1)
    reference = wav2vec2.extract(model, torch.from_numpy(wavs), 1).numpy()
    return path, model, wavs, reference


@pytest.mark.parametrize("arm", STOCK_ARMS)
def test_stock_arm_fidelity_on_a_tiny_model(tiny, arm):
    _, model, wavs, reference = tiny
    run = wav2vec2_backends.make(arm, model, 1, [wavs[:1], wavs[1:]])
    out = run(torch.from_numpy(wavs))
    assert out.shape == reference.shape and out.dtype == torch.float32
    fid = wav2vec2_backends.fidelity(out, reference)
    cosine, rel = BARS[backend_table.TABLE[arm].precision]
    assert fid["cosine_mean"] >= cosine and fid["rel_error"] <= rel, fid


@pytest.mark.skipif(not INTEL_PYTHON.is_file(), reason=".venv-intel (torch 2.8 + IPEX) is not set up")
@pytest.mark.parametrize("arm", INTEL_ARMS)
def test_intel_arm_fidelity_through_the_worker(tiny, tmp_path, arm):
    """The IPEX arms run in .venv-intel through the benchmark's own worker, against the stock fp32 reference."""
    import json

    path, model, wavs, reference = tiny
    np.save(tmp_path / "audio.npy", wavs)
    np.save(tmp_path / "ref.npy", reference)
    spec = {"kind": "w2v2", "arm": arm, "threads": 1, "checkpoint": str(path), "layer": 1,
            "audio": str(tmp_path / "audio.npy"), "batch_sizes": [2], "repeats": 1, "warmup": 0, "calibration": 2,
            "reference": str(tmp_path / "ref.npy"), "write_reference": False}
    done = subprocess.run([str(INTEL_PYTHON), "-m", "aitranscribe.benchmarking.arm", json.dumps(spec)],
                          capture_output=True, text=True, cwd=REPO_ROOT, env={"PYTHONPATH": str(REPO_ROOT / "lib"),
                                                                             "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch"].startswith("2.8") and result["batches"]["2"]["x_realtime"] > 0
    cosine, rel = BARS[result["precision"]]
    assert result["fidelity"]["cosine_mean"] >= cosine and result["fidelity"]["rel_error"] <= rel


@pytest.mark.parametrize("arm", ["openvino", "openvino-bf16"])
def test_openvino_arm_compiles_the_static_shapes_it_is_given_and_runs_any_other(tiny, arm):
    _, model, wavs, reference = tiny
    try:
        run = wav2vec2_backends.make(arm, model, 1, [wavs[:1]], shapes=[(2, 16000), (2, 16000)])
    except wav2vec2_backends.ArmUnavailable as exc:
        pytest.skip(str(exc))
    assert run.static_shapes == [(2, 16000)]
    cosine, rel = BARS[backend_table.TABLE[arm].precision]
    fid = wav2vec2_backends.fidelity(run(torch.from_numpy(wavs)), reference)  # the static model
    assert fid["cosine_mean"] >= cosine and fid["rel_error"] <= rel, fid
    short = wavs[:1, :12000]  # any other shape: the dynamic model
    fid = wav2vec2_backends.fidelity(run(torch.from_numpy(short)), wav2vec2.extract(model, torch.from_numpy(short), 1))
    assert fid["cosine_mean"] >= cosine and fid["rel_error"] <= rel, fid


def test_a_calibrated_arm_is_saved_whole_and_read_back_without_code(tiny, tmp_path):
    _, model, wavs, reference = tiny
    folder = tmp_path / "calibrated"
    path = wav2vec2_backends.save_calibrated("openvino-int8", model, 1, [wavs[:1], wavs[1:]], folder)
    assert path == folder / "model.xml" and (folder / "model.bin").is_file()
    assert not list(tmp_path.glob("*.partial"))
    run = wav2vec2_backends.load_calibrated("openvino-int8", folder, threads=1)
    assert run.rest_precision in ("bf16", "f32")  # chosen on the calibration audio and kept in the saved model
    fid = wav2vec2_backends.fidelity(run(torch.from_numpy(wavs)), reference)
    assert fid["cosine_mean"] >= BARS["int8"][0], fid
    with pytest.raises(KitError, match="empty/model.xml: the calibrated openvino-int8 model is missing"):
        wav2vec2_backends.load_calibrated("openvino-int8", tmp_path / "empty")
    with pytest.raises(KitError, match="'bf16' is not calibrated on data"):
        wav2vec2_backends.load_calibrated("bf16", folder)


def test_bf16_arm_leaves_the_callers_model_in_fp32(tiny):
    _, model, wavs, _ = tiny
    run = wav2vec2_backends.make("bf16", model, 1, [wavs[:1]])
    assert run(torch.from_numpy(wavs)).dtype == torch.float32
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_unknown_arm_and_missing_example_are_named(tiny):
    _, model, wavs, _ = tiny
    with pytest.raises(KitError, match="unknown wav2vec 2.0 arm 'fp8'"):
        wav2vec2_backends.make("fp8", model, 1, [wavs])
    with pytest.raises(KitError, match="example waveform"):
        wav2vec2_backends.make("fp32", model, 1, [])


def test_ipex_arm_outside_its_environment_says_why(tiny):
    _, model, wavs, _ = tiny
    try:
        import intel_extension_for_pytorch  # noqa: F401
        pytest.skip("IPEX is importable in this environment")
    except ImportError:
        pass
    with pytest.raises(wav2vec2_backends.ArmUnavailable, match="venv-intel"):
        wav2vec2_backends.make("ipex", model, 1, [wavs[:1]])


def test_fidelity_measures_cosine_and_relative_error():
    ref = np.ones((2, 3, 4))
    assert wav2vec2_backends.fidelity(ref, ref) == {"cosine_mean": 1.0, "cosine_min": 1.0, "rel_error": 0.0}
    flipped = ref.copy()
    flipped[0, 0] *= -1
    fid = wav2vec2_backends.fidelity(flipped, ref)
    assert fid["cosine_min"] == pytest.approx(-1.0) and fid["cosine_mean"] == pytest.approx(4 / 6)
    assert fid["rel_error"] == pytest.approx(np.sqrt(16 / 24))


# ---------------------------------------------------------------------------------------------- the stage

def _test_audio(params, seconds=(1.5, 2.0, 1.0)):
    """A prepared test split of a few noise utterances, recorded as stage 02's output."""
    from aitranscribe.core.paths import profile_data_dir

    root = profile_data_dir(params) / "audio"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = []
    for i, s in enumerate(seconds):
        sf.write(root / f"u{i}.wav", (0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32), 16000)
        names.append(f"u{i}.wav")
    mdir = profile_data_dir(params) / "manifests"
    manifest.write(mdir, "test", manifest.Manifest(root, names, [int(16000 * s) for s in seconds]))
    record_stage(params, "audio_prep", {"dir": str(mdir), "params_hash": "fake", "manifests": str(mdir)})
    return mdir


def test_benchmark_audio_cuts_equal_waveforms_from_the_test_split(scratch_params):
    mdir = _test_audio(scratch_params)
    wavs, distinct = benchmark.benchmark_audio(mdir, 2.5, 3)
    assert wavs.shape == (3, 40000) and wavs.dtype == np.float32 and distinct == 3  # 1.5+2.0, 1.0+1.5, 2.0+1.0


def test_w2v2_stage_records_every_arm_or_why_not(scratch_params, monkeypatch):
    """The stage end to end on the tiny model: fp32 is the reference, a failing arm is a row saying why, the table
    and the metrics have every figure; a second run is skipped."""
    from aitranscribe.core.params import stage_spec, validate

    _test_audio(scratch_params)
    p = validate({**scratch_params, "threads": 1, "w2v2_archs": ["tiny"], "w2v2_backends": ["fp32", "bf16", "int8-dynamic"],
                  "w2v2_batch_sizes": [1, 2], "w2v2_seconds": 1.0, "w2v2_repeats": 3, "w2v2_warmup": 0,
                  "w2v2_calibration": 1}, stage_spec(benchmark.PARAMS), "test")
    real_python = benchmark._python_for
    monkeypatch.setattr(benchmark, "_python_for", lambda arm: None if arm == "int8-dynamic" else real_python(arm))
    record = benchmark.run_w2v2(p)
    summary = benchmark.stage.load_summary(record)
    assert set(summary["backends"]["tiny"]) == {"fp32", "bf16"}
    assert "venv-intel" in summary["skipped"]["tiny"]["int8-dynamic"]
    assert summary["models"]["tiny"]["weights"].endswith("speed only") and summary["models"]["tiny"]["layer"] == 1
    assert not list((benchmark.Path(record["dir"]) / "checkpoints").glob("*.pt"))  # random weights not kept
    shown = results.w2v2_table(summary)  # formatted for people, the raw values under it
    table = shown.data
    assert table.loc[("tiny", "fp32", 1), "speedup"] == 1.0 and table.loc[("tiny", "fp32", 2), "passes"]
    html = shown.to_html()
    assert "x real time" in html and "—" in html and "1.00×" in html  # units in headers, gaps marked, ratios rounded
    glance = results.w2v2_summary(summary)
    assert glance.loc["fp32", "tiny"].endswith("(1.00× fp32)") and glance.loc["int8-dynamic", "tiny"] == "not run"
    assert table.loc[("tiny", "bf16", 1), "cosine_mean"] >= BARS["bf16"][0]
    assert table.loc[("tiny", "int8-dynamic")]["status"].iloc[0].startswith("not run")
    m = results.w2v2_metrics(summary)
    assert {"cpu_peak_gflops_fp32", "cpu_peak_gflops_bf16", "w2v2_tiny_x_realtime_fp32", "w2v2_tiny_x_realtime_bf16",
            "w2v2_tiny_speedup_best", "w2v2_tiny_peak_fraction_best", "w2v2_tiny_best_backend"} <= set(m)
    assert "tiny up to layer 1" in results.w2v2_note(summary).data
    # the matrix-product ceiling: tiny's feed-forward shape at batch 1 (49 frames of 1 s, 64 -> 128), both precisions
    gemm = summary["gemm"]["tiny"]
    assert gemm["shape"] == [49, 64, 128] and all(gemm[prec]["gflops"] > 0 for prec in ("fp32", "bf16", "int8"))
    row = table.loc[("tiny", "fp32", 1)]
    assert row["gemm_fraction"] == pytest.approx(row["gflops"] / gemm["fp32"]["gflops"], rel=1e-3)
    assert m["w2v2_tiny_gemm_gflops_bf16"] == round(gemm["bf16"]["gflops"], 1) and "w2v2_tiny_gemm_fraction_best" in m
    assert "49 x 64 x 128" in results.w2v2_note(summary).data
    monkeypatch.setattr(benchmark, "_worker", lambda *a: pytest.fail("a finished run must be skipped"))
    assert benchmark.run_w2v2(p)["dir"] == record["dir"]


def test_w2v2_stage_adds_the_intel_arms_once_venv_intel_exists(scratch_params, monkeypatch, tmp_path, caplog):
    """Without .venv-intel its arms are rows saying how to add them; once it exists, the stage runs again in the
    same directory and measures only those arms."""
    import sys

    from aitranscribe.core.params import stage_spec, validate

    _test_audio(scratch_params)
    p = validate({**scratch_params, "threads": 1, "w2v2_archs": ["tiny"], "w2v2_backends": ["fp32", "stock-2.8"],
                  "w2v2_batch_sizes": [1], "w2v2_seconds": 1.0, "w2v2_repeats": 3, "w2v2_warmup": 0,
                  "w2v2_calibration": 1}, stage_spec(benchmark.PARAMS), "test")
    monkeypatch.setattr(benchmark, "INTEL_PYTHON", tmp_path / "no-venv-intel" / "python")
    first = benchmark.run_w2v2(p)
    summary = benchmark.stage.load_summary(first)
    assert set(summary["backends"]["tiny"]) == {"fp32"}
    assert "bash run_all.sh --setup-intel" in summary["skipped"]["tiny"]["stock-2.8"]
    assert "backends stock-2.8 not run: needs .venv-intel" in caplog.text  # the report shows the whole message
    # .venv-intel appears (here the stock interpreter, in which stock-2.8 refuses to run and says why)
    monkeypatch.setattr(benchmark, "INTEL_PYTHON", benchmark.Path(sys.executable))
    measured, real_worker = [], benchmark._worker

    def worker(python, prefix, bound, spec, path):
        if not path.is_file():
            measured.append(spec["arm"])
        return real_worker(python, prefix, bound, spec, path)
    monkeypatch.setattr(benchmark, "_worker", worker)
    second = benchmark.run_w2v2(p)
    assert second["dir"] == first["dir"] and measured == ["stock-2.8"]
    assert "is the eager reference inside .venv-intel" in benchmark.stage.load_summary(second)["skipped"]["tiny"]["stock-2.8"]


def test_w2v2_uses_the_profile_checkpoint_when_stage_03_had_one(scratch_params, tmp_path):
    from support.w2v_checkpoints import save_tiny_checkpoint

    from aitranscribe.core.params import stage_spec, validate
    from aitranscribe.core.stage import mark_done

    _test_audio(scratch_params)
    ckpt = tmp_path / "mine.pt"
    save_tiny_checkpoint(ckpt, "cfg", finetuned=True, layers=3, dim=32)  # not a standard architecture
    feats = tmp_path / "features-run"
    feats.mkdir()
    mark_done(feats, "h", params={"kind": "wav2vec2", "checkpoint": str(ckpt), "layer": 2})
    record_stage(scratch_params, "features", {"dir": str(feats), "params_hash": "h"})
    p = validate({**scratch_params, "threads": 1, "w2v2_archs": ["tiny"], "w2v2_backends": ["fp32"],
                  "w2v2_batch_sizes": [1], "w2v2_seconds": 0.5, "w2v2_repeats": 3, "w2v2_warmup": 0},
                 stage_spec(benchmark.PARAMS), "test")
    summary = benchmark.stage.load_summary(benchmark.run_w2v2(p))
    mine = summary["models"]["checkpoint"]
    assert mine["weights"] == "the profile's checkpoint mine.pt" and mine["layer"] == 2
    assert summary["models"]["tiny"]["weights"].endswith("speed only")
    assert ckpt.is_file()  # the profile's own checkpoint is never removed
    assert set(summary["backends"]) == {"checkpoint", "tiny"}


def test_w2v2_parameters_are_checked(scratch_params):
    from aitranscribe.core.params import stage_spec, validate

    spec = stage_spec(benchmark.PARAMS)
    for bad, message in (({"w2v2_repeats": 1}, "at least 3"), ({"w2v2_archs": ["huge"]}, "unknown wav2vec 2.0 arch"),
                         ({"w2v2_backends": ["fp8"]}, "unknown wav2vec 2.0 backend")):
        with pytest.raises(KitError, match=message):
            benchmark.run_w2v2(validate({**scratch_params, **bad}, spec, "test"))


def test_metrics_take_the_peer_from_stage_06():
    summary = {"backends": {"eager": {"per": 0.3, "torch": "x", "model": {"1": {"median": 1.0, "q1": 1, "q3": 1}},
                                  "e2e": {"x_realtime": 100.0, "threads": 1}}}}
    out = benchmark.metrics(summary, peer={"x_realtime_words": 4.123})
    assert out["pocketsphinx_x_realtime"] == 4.12



# ---------------------------------------------------------------------------------------------- stage 03's choice

def _bench_summary(root, profile, info, arms, min_cosine=0.99):
    """A stage 07 wav2vec 2.0 summary for ``arms`` ({arm: (x real time at batch 1, cosine)}) under ``root``."""
    import json

    path = root / profile / "07_benchmark" / "w2v2-abc" / "summary.json"
    path.parent.mkdir(parents=True)
    runs = {arm: {"batches": {"1": {"x_realtime": x}}, "fidelity": {"cosine_mean": c}} for arm, (x, c) in arms.items()}
    path.write_text(json.dumps({"machine": info, "min_cosine": min_cosine, "backends": {"large": runs}}))
    return path


def test_auto_feature_backend_is_the_fastest_arm_passing_the_bar(tmp_path):
    info = {"model": "CPU A", "flags": ["avx512f"], "cores": 2, "max_mhz": 2600.0}
    choose = wav2vec2_backends.choose
    assert choose("auto", "large", tmp_path, info)[0] == "fp32"  # nothing measured yet
    assert "no wav2vec 2.0 benchmark" in choose("auto", "large", tmp_path, info)[1]
    _bench_summary(tmp_path, "demo", info, {"fp32": (3.0, 1.0), "bf16": (6.0, 0.995), "openvino-int8": (9.0, 0.999),
                                            "int8-dynamic": (8.0, 0.97), "ipex-bf16": (10.0, 0.999)})
    # ipex-bf16 is faster but stage 03 cannot use it (it runs in .venv-intel); int8-dynamic misses the bar
    arm, why = choose("auto", "large", tmp_path, info)
    assert arm == "openvino-int8" and "w2v2-abc" in why
    assert choose("auto", "base", tmp_path, info)[0] == "fp32"  # no results for this architecture
    other = {**info, "model": "CPU B"}
    assert choose("auto", "large", tmp_path, other)[0] == "fp32"  # another machine's figures do not count
    assert choose("compile", "large", tmp_path, info) == ("compile", "asked for")
    with pytest.raises(KitError, match="int8-static cannot extract|choose auto"):
        choose("int8-static", "large", tmp_path, info)


def test_frame_extractor_runs_the_chosen_arm(tiny):
    from aitranscribe.features.extract import FrameExtractor

    path, _, wavs, _ = tiny
    p = {"kind": "wav2vec2", "checkpoint": str(path), "layer": 1}
    fp32, bf16 = FrameExtractor(p), FrameExtractor(p, backend="bf16")
    a, b = fp32(wavs[0]), bf16(wavs[0])
    assert fp32.runner is None and bf16.runner is not None and a.shape == b.shape and b.dtype == np.float32
    assert wav2vec2_backends.fidelity(b, a)["cosine_mean"] >= BARS["bf16"][0]
