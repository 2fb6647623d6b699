"""read(): the spoken form as changed spans, and operator overrides (issue 12, listening aid)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from announcements.errors import BadOverride
from announcements.normalize import Reading, normalize, read
from announcements.spans import (
    Override,
    Span,
    overrides_from_json,
    overrides_to_json,
    resolve_overrides,
)


def span_for(reading: Reading, written: str) -> Span:
    """The one span whose written text is `written`."""
    found = [s for s in reading.spans if s.written == written]
    assert len(found) == 1, reading.spans
    return found[0]


def test_each_changed_span_has_its_offsets_and_spoken_form() -> None:
    text = "Khoảng 3/4 số hộ, gọi 0912345678 trước 17h."
    reading = read(text)
    fraction = span_for(reading, "3/4")
    assert (fraction.start, fraction.end) == (7, 10)
    assert fraction.spoken == "ba phần tư"
    phone = span_for(reading, "0912345678")
    assert text[phone.start : phone.end] == "0912345678"
    assert phone.spoken.replace(",", "") == "không chín một hai ba bốn năm sáu bảy tám"
    assert span_for(reading, "17h").spoken == "mười bảy giờ"
    assert reading.spoken == normalize(text)


def test_unchanged_words_are_not_spans() -> None:
    reading = read("Kính thưa bà con, Bộ Y tế khuyến cáo.")
    assert reading.spans == ()
    assert reading.spoken == "Kính thưa bà con, Bộ Y tế khuyến cáo."


def test_abbreviation_and_lexicon_spans() -> None:
    reading = read("UBND xã đề nghị cài Bluezone.")
    assert span_for(reading, "UBND").spoken == "ủy ban nhân dân"
    assert span_for(reading, "Bluezone").spoken == "blu dôn"


def test_reading_serialises_to_json() -> None:
    data = read("Giá 80.000 đồng/kg").to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["spoken"] == "Giá tám mươi nghìn đồng một ki lô gam"
    assert all(
        {"start", "end", "written", "spoken", "overridden"} <= s.keys() for s in data["spans"]
    )


# --- overrides --------------------------------------------------------------------------------


def test_override_replaces_the_rules_reading() -> None:
    text = "Trực 24/7 tại trạm."
    override = Override(5, 9, "24/7", "suốt ngày đêm")
    assert normalize(text, overrides=[override]) == "Trực suốt ngày đêm tại trạm."
    reading = read(text, overrides=[override])
    assert span_for(reading, "24/7") == Span(5, 9, "24/7", "suốt ngày đêm", overridden=True)
    assert reading.stale == ()
    assert normalize(text) == "Trực hai mươi tư trên bảy tại trạm."  # others unaffected


def test_override_text_is_said_as_written_not_normalised_again() -> None:
    text = "Cài Bluezone ngay."
    override = Override(4, 12, "Bluezone", "Bluezone")
    assert normalize(text, overrides=[override]) == "Cài Bluezone ngay."


def test_override_follows_its_text_when_the_announcement_is_edited() -> None:
    override = Override(5, 9, "24/7", "suốt ngày đêm")
    edited = "Xin lưu ý: trực 24/7 tại trạm."
    reading = read(edited, overrides=[override])
    assert reading.stale == ()
    assert span_for(reading, "24/7").start == edited.index("24/7")
    assert "suốt ngày đêm" in reading.spoken


def test_override_whose_text_is_gone_is_reported_not_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    override = Override(5, 9, "24/7", "suốt ngày đêm")
    reading = read("Trực cả ngày tại trạm.", overrides=[override])
    assert reading.stale == (override,)
    assert reading.to_dict()["stale"] == [override.to_dict()]
    with caplog.at_level(logging.WARNING, logger="announcements.normalize"):
        spoken = normalize("Trực cả ngày tại trạm.", overrides=[override])
    assert spoken == "Trực cả ngày tại trạm."
    assert "no longer matches" in caplog.text


def test_overlapping_overrides_keep_the_first() -> None:
    first = Override(0, 4, "UBND", "ủy ban")
    second = Override(2, 6, "ND x", "nờ đê")
    resolution = resolve_overrides("UBND xã", [first, second])
    assert resolution.applied == (first,)
    assert resolution.stale == (second,)


def test_overrides_round_trip_through_json() -> None:
    overrides = [Override(0, 4, "UBND", "ủy ban"), Override(8, 12, "24/7", "cả ngày")]
    text = overrides_to_json(overrides)
    assert json.loads(text)[0] == {"start": 0, "end": 4, "written": "UBND", "spoken": "ủy ban"}
    assert overrides_from_json(text) == overrides


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "not JSON"),
        ('{"start": 0}', "JSON list"),
        ('[{"start": 0, "end": 4}]', "needs start, end, written, spoken"),
        ('[{"start": "0", "end": 4, "written": "UBND", "spoken": "x"}]', "integers"),
        ('[{"start": true, "end": 4, "written": "UBND", "spoken": "x"}]', "integers"),
        ('[{"start": 0, "end": 4, "written": "UBND", "spoken": 5}]', "strings"),
        ('[{"start": 0, "end": 3, "written": "UBND", "spoken": "x"}]', "does not span"),
        ('[{"start": 4, "end": 4, "written": "", "spoken": "x"}]', "start < end"),
        ('[{"start": 0, "end": 4, "written": "UBND", "spoken": "ủy ban 2"}]', "digits"),
    ],
)
def test_bad_overrides_are_refused_with_a_reason(payload: str, message: str) -> None:
    with pytest.raises(BadOverride, match=message):
        overrides_from_json(payload)


# --- properties -------------------------------------------------------------------------------

_PIECES = st.one_of(
    st.sampled_from(
        [
            "xã",
            "UBND",
            "ngày",
            "3/4",
            "số",
            "gọi",
            "100",
            "người",
            "đồng/kg",
            "14h-16h30",
            "T2-T6",
            "CN",
            "-5",
            "độ",
            "P.Tân",
            "QL.2C",
            "Km 12+500",
            "Bluezone",
            "24/7",
            "x@y.vn",
        ]
    ),
    st.from_regex(r"[0-9]{1,12}", fullmatch=True),
    st.sampled_from(list(" .,;:/-–%()\n")),
    st.text(max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=25).map("".join))
def test_spans_point_into_the_text_in_order(text: str) -> None:
    reading = read(text)
    at = 0
    for span in reading.spans:
        assert at <= span.start <= span.end <= len(text)
        assert text[span.start : span.end] == span.written
        assert not re.search(r"[0-9]", span.spoken)
        at = span.end
    assert reading.spoken == normalize(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=20).map("".join), st.data())
def test_an_override_on_any_span_is_honoured(text: str, data: st.DataObject) -> None:
    spans = read(text).spans
    if not spans:
        return
    span = data.draw(st.sampled_from(spans))
    override = Override(span.start, span.end, span.written, "chữ thay thế")
    reading = read(text, overrides=[override])
    assert reading.stale == ()
    assert "chữ thay thế" in reading.spoken
    assert Span(span.start, span.end, span.written, "chữ thay thế", True) in reading.spans
