"""RenderOptions: defaults, JSON round trip, every field's refusal in English and Vietnamese."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from audio.errors import BadOptions
from audio.options import RenderOptions


def test_defaults_and_json_round_trip() -> None:
    o = RenderOptions()
    assert (o.engine, o.region, o.speed, o.repeat) == ("auto", "bac", 1.0, 2)
    assert (o.comma_pause_ms, o.sentence_pause_ms, o.repeat_pause_ms) == (200, 350, 2000)
    assert o.chime and o.intro and o.outro and o.commune is None and not o.says_intro
    full = RenderOptions(
        engine="piper",
        region="nam",
        speed=1.25,
        repeat=5,
        comma_pause_ms=0,
        sentence_pause_ms=3000,
        repeat_pause_ms=10_000,
        chime=False,
        intro=True,
        outro=False,
        commune="  Tân   Tiến ",
        format="opus",
        band_limit=True,
    )
    assert full.commune == "Tân Tiến" and full.says_intro
    for opts in (o, full):
        text = opts.to_json()
        assert RenderOptions.from_json(text) == opts
        assert RenderOptions.from_json(text).to_json() == text  # stable: same options, same string
        assert set(json.loads(text)) == set(opts.to_dict())
    # an older stored value without the newer keys still loads, with today's defaults
    assert RenderOptions.from_dict({"repeat": 3}) == RenderOptions(repeat=3)


def test_region_aliases_are_stored_canonical() -> None:
    assert RenderOptions.from_dict({"region": "South"}).region == "nam"
    assert RenderOptions.from_dict({"region": "central"}).region == "trung"
    assert RenderOptions.from_dict({"region": "vi"}).region == "bac"


@pytest.mark.parametrize(
    ("data", "field", "code", "vi"),
    [
        ({"speed": 2.5}, "speed", "out_of_range", "Tốc độ đọc phải từ 0,5 đến 2."),
        ({"speed": float("nan")}, "speed", "out_of_range", "Tốc độ đọc"),
        ({"speed": "fast"}, "speed", "wrong_type", "Tốc độ đọc phải là một số."),
        ({"repeat": 0}, "repeat", "out_of_range", "Số lần đọc phải từ 1 đến 5."),
        ({"repeat": 6}, "repeat", "out_of_range", "Số lần đọc"),
        ({"repeat": 2.0}, "repeat", "wrong_type", "Số lần đọc phải là một số nguyên."),
        ({"repeat": True}, "repeat", "wrong_type", "Số lần đọc phải là một số nguyên."),
        ({"comma_pause_ms": 2001}, "comma_pause_ms", "out_of_range", "dấu phẩy"),
        ({"sentence_pause_ms": -1}, "sentence_pause_ms", "out_of_range", "giữa các câu"),
        ({"repeat_pause_ms": 10_001}, "repeat_pause_ms", "out_of_range", "giữa các lần đọc"),
        ({"region": "xx"}, "region", "unknown_choice", "Vùng giọng «xx» không có"),
        ({"engine": "polly"}, "engine", "unknown_choice", "Giọng đọc «polly» không có"),
        ({"format": "wav"}, "format", "unknown_choice", "Định dạng «wav» không có"),
        ({"chime": "yes"}, "chime", "wrong_type", "Chuông báo phải là có hoặc không."),
        ({"commune": "   "}, "commune", "empty", "Tên xã đang để trống."),
        ({"commune": "x" * 81}, "commune", "too_long", "Tên xã dài quá 80 ký tự."),
        ({"commune": 7}, "commune", "wrong_type", "Tên xã phải là chữ."),
        ({"voice": "nam"}, "voice", "unknown_field", "Không có tuỳ chọn «voice»."),
    ],
)
def test_each_bad_field_has_a_code_and_a_vietnamese_message(
    data: dict[str, Any], field: str, code: str, vi: str
) -> None:
    with pytest.raises(BadOptions) as caught:
        RenderOptions.from_dict(data)
    [error] = caught.value.errors
    assert (error.field, error.code) == (field, code)
    assert vi in error.message_vi
    assert field in error.message or field in str(caught.value)


def test_all_errors_at_once_and_the_constructor_checks_too() -> None:
    with pytest.raises(BadOptions) as caught:
        RenderOptions.from_dict({"speed": 9, "repeat": 0, "region": "xx", "extra": 1})
    assert sorted(e.field for e in caught.value.errors) == ["extra", "region", "repeat", "speed"]
    with pytest.raises(BadOptions, match="repeat"):
        RenderOptions(repeat=9)


def test_bad_json_and_pickling() -> None:
    for text, code in [("{", "not_json"), ("[1]", "not_an_object")]:
        with pytest.raises(BadOptions) as caught:
            RenderOptions.from_json(text)
        assert caught.value.errors[0].code == code
    # BadOptions crosses the render worker's process boundary intact
    try:
        RenderOptions.from_dict({"repeat": 0})
    except BadOptions as exc:
        copy = pickle.loads(pickle.dumps(exc))
        assert copy.errors == exc.errors and str(copy) == str(exc)
