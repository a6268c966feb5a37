"""Parameter validation and profile loading: mistakes are clear errors, never silently ignored."""
import json

import pytest

from aitranscribe.stages import data
from aitranscribe.core.errors import ParamsError
from aitranscribe.core.params import COMMON, Param, collect, load_profile, params_hash, stage_spec, validate

SPEC = {"n": Param(3, int, "a count"), "rate": Param(0.5, float, "a rate"),
        "kind": Param("a", str, "a kind", ("a", "b")), "names": Param([], list, "names")}


def test_defaults_fill_missing_values():
    assert validate({"n": 5}, SPEC, "here") == {"n": 5, "rate": 0.5, "kind": "a", "names": []}


def test_int_is_accepted_for_float_and_converted():
    assert validate({"rate": 1}, SPEC, "here")["rate"] == 1.0


@pytest.mark.parametrize("values, message", [
    ({"nn": 1}, "unknown parameter(s) 'nn' (did you mean 'n'?)"),
    ({"n": "3"}, "parameter 'n' must be int, got '3'"),
    ({"n": True}, "parameter 'n' must be int"),
    ({"rate": "fast"}, "parameter 'rate' must be float"),
    ({"kind": "c"}, "parameter 'kind' must be one of ['a', 'b']"),
    ({"names": "x"}, "parameter 'names' must be list"),
])
def test_bad_values_are_named(values, message):
    with pytest.raises(ParamsError, match="here") as err:
        validate(values, SPEC, "here")
    assert message in str(err.value)


def test_profile_unknown_section_and_key(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("common: {profile: x}\ndta: {source: demo}\n")
    with pytest.raises(ParamsError, match=r"unknown section\(s\) 'dta' \(did you mean 'data'\?\)"):
        load_profile(path, {"data": data.PARAMS})
    path.write_text("common: {profile: x}\ndata: {sorce: demo}\n")
    with pytest.raises(ParamsError, match=r"p.yaml \[data\]: unknown parameter\(s\) 'sorce'"):
        load_profile(path, {"data": data.PARAMS})


def test_profile_malformed_yaml(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("common: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_profile(path, {"data": data.PARAMS})
    with pytest.raises(ParamsError, match="not found"):
        load_profile(tmp_path / "missing.yaml", {"data": data.PARAMS})


def test_profile_common_values_reach_every_stage(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("common: {profile: x, seed: 7}\ndata: {demo_n_train: 5}\n")
    p = load_profile(path, {"data": data.PARAMS})["data"]
    assert (p["profile"], p["seed"], p["demo_n_train"], p["source"]) == ("x", 7, 5, "demo")


def test_collect_from_notebook_namespace():
    namespace = {name: spec.default for name, spec in stage_spec(data.PARAMS).items()}
    namespace["demo_n_train"] = 9
    assert collect(data.PARAMS, namespace, "nb")["demo_n_train"] == 9
    del namespace["source"]
    with pytest.raises(ParamsError, match="does not define"):
        collect(data.PARAMS, namespace, "nb")


def test_hash_ignores_presentation_only_parameters():
    base = {name: spec.default for name, spec in COMMON.items()}
    assert params_hash(base) == params_hash({**base, "log_level": "DEBUG", "share_safe": False})
    assert params_hash(base) != params_hash({**base, "seed": 1})


def test_lists_given_as_strings_by_papermill_are_parsed():
    assert validate({"names": "[a, b]"}, SPEC, "here")["names"] == ["a", "b"]
    with pytest.raises(ParamsError, match="parameter 'names' must be list, got 'a b'"):
        validate({"names": "a b"}, SPEC, "here")


def test_metrics_of_a_stage_replace_its_earlier_ones_and_keep_other_stages(tmp_path):
    from aitranscribe.core.reports import record_metrics

    p = {"profile": "t", "reports_dir": str(tmp_path)}
    record_metrics(p, "train", {"updates": 300, "per_test": 0.9})
    record_metrics(p, "inference", {"per": 0.8})
    record_metrics(p, "train", {"rounds": 2, "per_test": 0.4})
    recorded = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert recorded == {"train.rounds": 2, "train.per_test": 0.4, "inference.per": 0.8}


def test_a_section_of_sub_parameters_is_completed_and_checked():
    from aitranscribe.core.params import section

    spec = {"rate": Param(0.5, float, "a rate"),
            "decipher": section("a method's settings", {"rounds": Param(2, int, "rounds"), "seeds": Param([0], list, "seeds")})}
    assert validate({}, spec, "here")["decipher"] == {"rounds": 2, "seeds": [0]}
    assert validate({"decipher": {"rounds": 4}}, spec, "here")["decipher"] == {"rounds": 4, "seeds": [0]}
    assert validate({"decipher": "{seeds: [1, 2]}"}, spec, "here")["decipher"]["seeds"] == [1, 2]  # papermill -p
    with pytest.raises(ParamsError, match=r"here \[decipher\]: unknown parameter\(s\) 'round' \(did you mean 'rounds'"):
        validate({"decipher": {"round": 4}}, spec, "here")
    with pytest.raises(ParamsError, match=r"here \[decipher\]: parameter 'rounds' must be int"):
        validate({"decipher": {"rounds": "four"}}, spec, "here")


def test_the_other_methods_settings_leave_the_training_outputs_alone():
    from aitranscribe.stages import train

    records = {"features": {"params_hash": "f"}, "text": {"params_hash": "t"}}
    base = {"profile": "t", "data_root": "d", "reports_dir": "r", "seed": 0, "share_safe": True, "log_level": "INFO"}

    def where(**kw):
        return train.STAGE.locate(validate({**base, **kw}, stage_spec(train.PARAMS), "test"), records)[0]

    assert where(gan={"updates": 5}) == where() != where(decipher={"rounds": 3})
    assert where(method="gan", decipher={"rounds": 3}) == where(method="gan") != where(method="gan", gan={"updates": 5})
    assert where(supervised_epochs=0) == where()  # report-only


def test_a_profile_extends_another_section_by_section(tmp_path):
    from aitranscribe.core.params import load_profile
    from aitranscribe.core.errors import ParamsError

    specs = {"features": {"kmeans_niter": Param(10, int, "")}, "benchmark": {"repeats": Param(20, int, ""),
                                                                           "w2v2_archs": Param(["tiny"], list, "")}}
    (tmp_path / "base.yaml").write_text("common: {profile: demo}\nfeatures: {kmeans_niter: 50}\n"
                                        "benchmark: {repeats: 30, w2v2_archs: [large]}\n")
    (tmp_path / "full.yaml").write_text("extends: base.yaml\nbenchmark: {w2v2_archs: [base, large]}\n")
    p = load_profile(tmp_path / "full.yaml", specs)
    assert p["features"]["kmeans_niter"] == 50 and p["features"]["profile"] == "demo"
    assert p["benchmark"]["repeats"] == 30 and p["benchmark"]["w2v2_archs"] == ["base", "large"]
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(ParamsError, match="loop"):
        load_profile(tmp_path / "loop.yaml", specs)
    (tmp_path / "lost.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ParamsError, match="nowhere.yaml: parameter profile not found"):
        load_profile(tmp_path / "lost.yaml", specs)
