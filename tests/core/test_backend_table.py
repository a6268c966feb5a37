"""One table of backends: every stage's choices, the benchmark's runs and the environment a backend needs come from
it, and each backend the table names for a network has a way to run there."""
from aitranscribe import backends, pipeline
from aitranscribe.core import backend_table, metric_labels
from aitranscribe.features.wav2vec2 import backends as wav2vec2_backends


def test_every_backend_in_the_table_can_be_made_and_nothing_else():
    assert set(backends.FACTORIES) == set(backend_table.names("transcribes"))
    assert set(wav2vec2_backends.FACTORIES) == set(backend_table.names("wav2vec2"))
    assert set(wav2vec2_backends.FEATURE_BACKENDS) <= set(backend_table.names("wav2vec2"))
    assert all(backend_table.environment(n) == backend_table.STOCK for n in backend_table.names("extracts"))
    assert set(backend_table.names("transcribes")) <= set(backend_table.names("acoustic"))


def test_metric_spellings_come_back_to_names():
    for name in backend_table.TABLE:
        assert backend_table.from_metric_key(backend_table.metric_key(name)) == name
    assert backend_table.from_metric_key("stock_28") == "stock-2.8"


def test_the_intel_environment_is_needed_exactly_for_its_backends(tmp_path):
    def profile(extra: str) -> str:
        path = tmp_path / "p.yaml"
        path.write_text("common: {profile: t}\n" + extra)
        return str(path)

    assert pipeline.needs_intel(profile("benchmark: {backends: [eager, openvino], w2v2_backends: [fp32]}\n")) == "no"
    assert pipeline.needs_intel(profile("benchmark: {backends: [eager], w2v2_backends: [ipex-bf16]}\n")) == "optional"
    assert pipeline.needs_intel(profile("inference: {backend: ipex}\n"), "06", "06") == "required"
    assert pipeline.needs_intel(profile("inference: {backend: ipex}\n"), "01", "05") == "no"


def test_a_report_shows_its_stages_key_figures_first():
    metrics = {"benchmark.speedup_int8_bs1": 0.7, "benchmark.e2e_x_realtime_eager": 1168.3,
               "benchmark.w2v2_large_best_backend": "openvino-int8", "benchmark.w2v2_large_x_realtime_fp32": 8.7,
               "benchmark.scale_speedup": 1.88}
    assert list(metric_labels.key_figures("benchmark", metrics)) == [
        "benchmark.w2v2_large_best_backend", "benchmark.e2e_x_realtime_eager", "benchmark.scale_speedup"]
    every = {"data.hours": 1.9, "data.n_utterances": 2400}  # a stage without KEY_FIGURES shows all, in its order
    assert list(metric_labels.key_figures("data", every)) == ["data.n_utterances", "data.hours"]


def test_a_cached_step_is_reused_for_its_key_and_redone_for_another(tmp_path):
    from aitranscribe.core import stage

    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    path = tmp_path / "step.json"
    assert stage.cached_step(path, {"epochs": 2, "scales": (0.2, 0.3)}, compute) == {"value": 1}
    assert stage.cached_step(path, {"epochs": 2, "scales": (0.2, 0.3)}, compute) == {"value": 1}  # tuple as list
    assert stage.cached_step(path, {"epochs": 3, "scales": (0.2, 0.3)}, compute) == {"value": 2}
    assert stage.stored_step(path) == {"value": 2} and stage.stored_step(tmp_path / "none.json") is None
    path.write_text("{\"scale\": 0.3}")  # a file of an older kit, without a key: computed again
    assert stage.cached_step(path, {"epochs": 3, "scales": (0.2, 0.3)}, compute) == {"value": 3}
