"""Benchmark bookkeeping: statistics, binding, equal-output check, speedups (no timing is asserted)."""
import numpy as np
import pytest

from aitranscribe.benchmarking import results
from aitranscribe.core.machine import binding
from aitranscribe.stages import benchmark
from aitranscribe.core.errors import KitError


def test_summary_statistics():
    s = results.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median"] == 3.0 and s["q1"] == 2.0 and s["q3"] == 4.0 and s["n"] == 5 and s["p90"] > 4


def test_binding_names_the_tool():
    prefix, text = binding([0])
    assert (prefix[:1] == ["numactl"] and "--membind 0" in text) or (prefix[:1] == ["taskset"] and "-c 0" in text)


def _summary(per_int8=0.30):
    def arm(median, per):
        g = {"median": median, "q1": median * 0.9, "q3": median * 1.1, "p90": median * 1.2, "flops": 1e9,
             "audio_seconds": 10.0}
        return {"per": per, "torch": "x", "model": {"1": g, "8": dict(g, median=4 * median)}}
    return {"backends": {"eager": arm(2.0, 0.30), "int8": arm(1.0, per_int8)}, "threads": 2, "machine": {}}


def test_equal_per_is_required_before_speedups():
    assert results.check_equal_per(_summary(), 0.01, 0.02) == {"eager": 0.3, "int8": 0.3}
    assert results.check_equal_per(_summary(per_int8=0.315), 0.01, 0.02)["int8"] == 0.315
    with pytest.raises(KitError, match="differs from eager"):
        results.check_equal_per(_summary(per_int8=0.5), 0.01, 0.02)


def test_speedups_are_median_ratios_with_quartile_spread():
    sp = results.speedups(_summary())
    assert sp[("int8", 1)]["speedup"] == pytest.approx(2.0)
    assert sp[("int8", 1)]["low"] < 2.0 < sp[("int8", 1)]["high"]
    assert sp[("eager", 8)]["speedup"] == pytest.approx(1.0)


def test_fewer_than_20_repeats_is_refused(scratch_params):
    from aitranscribe.core.params import stage_spec, validate

    p = validate({**scratch_params, "repeats": 5}, stage_spec(benchmark.PARAMS), "test")
    with pytest.raises(KitError, match="at least 20"):
        benchmark.run(p)


def test_end_to_end_rounds_merge_into_one_median_and_keep_each_rounds_speed():
    def round_result(totals, features):
        stages = {"features": {"samples": features, **results.summarize(features)},
                  "model": {"samples": [t - f for t, f in zip(totals, features)],
                            **results.summarize([t - f for t, f in zip(totals, features)])}}
        return {"audio_seconds": 10.0, "utterances": 2, "threads": 1, "stages": stages,
                "total": {"samples": totals, **results.summarize(totals)},
                "x_realtime": 10.0 / float(np.median(totals))}

    fast, slow = round_result([0.01, 0.01, 0.012], [0.004] * 3), round_result([0.02, 0.03, 0.02], [0.008] * 3)
    merged = benchmark.merged_e2e([fast, slow])
    assert merged["total"]["n"] == 6 and merged["stages"]["features"]["n"] == 6
    assert merged["total"]["median"] == pytest.approx(0.016)  # the median of all six, not of the round medians
    assert merged["x_realtime"] == pytest.approx(10.0 / 0.016)
    assert merged["x_realtime_rounds"] == pytest.approx([1000.0, 500.0])
    assert merged["stages"]["features"]["median"] == pytest.approx(0.006)
    metrics = benchmark.metrics({"backends": {"eager": {"model": {}, "e2e": merged}}})
    assert metrics["e2e_x_realtime_eager"] == pytest.approx(625.0)
    assert (metrics["e2e_x_realtime_eager_slowest_round"], metrics["e2e_x_realtime_eager_fastest_round"]) == (500.0, 1000.0)


def test_only_runs_with_intel_arms_depend_on_venv_intel(monkeypatch, tmp_path):
    assert benchmark._intel_env(["eager", "compile", "int8", "openvino"]) is None
    assert benchmark._intel_env(["fp32", "bf16", "openvino-int8"]) is None
    monkeypatch.setattr(benchmark, "INTEL_PYTHON", tmp_path / "python")
    assert benchmark._intel_env(["eager", "ipex"]) == benchmark._intel_env(["fp32", "ipex-bf16"]) == {"venv_intel": False}
    (tmp_path / "python").touch()
    assert benchmark._intel_env(["eager", "stock-2.8"]) == {"venv_intel": True}
