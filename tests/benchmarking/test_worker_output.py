"""Reading a benchmark worker's result from its output, whatever its libraries print around it."""
import pytest

from aitranscribe.core.errors import KitError
from aitranscribe.stages.benchmark import _last_json


def test_the_result_is_found_after_a_progress_bar_on_its_line():
    out = 'loading\n\rStatistics collection ━━━━ 100% 10/10 {"arm": "openvino-int8", "x_realtime": 58.3, "e": {"n": 5}}\n'
    assert _last_json(out, "w2v2 large openvino-int8") == {"arm": "openvino-int8", "x_realtime": 58.3, "e": {"n": 5}}


def test_the_last_result_wins_and_later_chatter_is_skipped():
    out = '{"x": 1}\n{"x": 2}\nwarning: something {not json}\n'
    assert _last_json(out, "arm") == {"x": 2}


def test_no_result_names_the_arm():
    with pytest.raises(KitError, match="openvino-int8 printed no result"):
        _last_json("Traceback ...\n{half", "openvino-int8")
