"""The .ics export of a schedule: every physical line within 75 octets of UTF-8 (RFC 5545
§3.1), Vietnamese text back intact, and the same series as before (RRULE per time of day,
EXDATE, RDATE for lunar days, a VTIMEZONE for the TZID) when a calendar program reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from pa_server.web.schedules import schedule_ics

VN = ZoneInfo("Asia/Ho_Chi_Minh")
#: Longer than 75 octets many times over, with two- and three-octet letters throughout.
TITLE = (
    "Thông báo về việc tiêm chủng mở rộng cho trẻ em dưới năm tuổi tại trạm y tế xã Tân "
    "Tiến; đề nghị các gia đình đưa trẻ đến đúng giờ, mang theo sổ tiêm chủng"
)
ZONES = ["tan-tien", "tan-tien/thon-dong-nhuan", "tan-tien/thon-ngu-kien-thuong"]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _schedule(**over: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "id": "s1",
        "announcement_id": "a1",
        "title": TITLE,
        "zones": ZONES,
        "devices": ["loa-cho-dong-nhuan"],
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        "times": ["06:30", "17:15"],
        "start": datetime(2026, 12, 2, tzinfo=VN).astimezone(UTC),
        "end": datetime(2027, 3, 1, tzinfo=VN).astimezone(UTC),
        "exdates": [datetime(2026, 12, 4, 17, 15, tzinfo=VN).astimezone(UTC)],
        "timezone": "Asia/Ho_Chi_Minh",
        "level": "normal",
        "max_late_s": 120,
        "created_at": NOW,
        "lunar": None,
        "holidays": "include",
    }
    return SimpleNamespace(**{**base, **over})


def _read(text: str) -> Calendar:
    """Check the physical lines, then parse as a calendar program would."""
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    for line in text.split("\r\n")[:-1]:
        assert 0 < len(line.encode()) <= 75, line
    return Calendar.from_ical(text)


def test_long_vietnamese_lines_fold_and_round_trip() -> None:
    text = schedule_ics(_schedule(), 95_000, stamp=NOW)
    assert "\r\n " in text  # something was folded, or the title would not be this long
    calendar = _read(text)
    events = calendar.events
    assert len(events) == 2
    for event in events:
        assert str(event["summary"]) == TITLE
        assert str(event["location"]) == ", ".join([*ZONES, "loa-cho-dong-nhuan"])
        assert event["duration"].dt.total_seconds() == 95
    assert [tz.tz_name for tz in calendar.timezones] == ["Asia/Ho_Chi_Minh"]
    by_uid = {str(e["uid"]): e for e in events}
    assert set(by_uid) == {"s1-0630@commune-pa", "s1-1715@commune-pa"}
    morning, evening = by_uid["s1-0630@commune-pa"], by_uid["s1-1715@commune-pa"]
    assert morning.start == datetime(2026, 12, 2, 6, 30, tzinfo=VN)
    assert str(morning.start.tzinfo) == "Asia/Ho_Chi_Minh"
    rule = evening["rrule"]
    assert rule["FREQ"] == ["WEEKLY"] and rule["BYDAY"] == ["MO", "WE", "FR"]
    assert rule["BYHOUR"] == [17] and rule["BYMINUTE"] == [15]
    assert rule["UNTIL"] == [datetime(2027, 3, 1, tzinfo=VN).astimezone(UTC)]
    # The 17:15 exception belongs to the 17:15 series only.
    assert "exdate" not in morning
    assert [d.dt for d in evening["exdate"].dts] == [datetime(2026, 12, 4, 17, 15, tzinfo=VN)]


@pytest.mark.parametrize("title", ["Loa", "ễ" * 40, "a" * 74 + "ệ" + "b" * 80])
def test_no_line_splits_a_character(title: str) -> None:
    """A three-octet letter at the fold boundary moves whole to the next line."""
    calendar = _read(schedule_ics(_schedule(title=title, times=[]), 1, stamp=NOW))
    assert [str(e["summary"]) for e in calendar.events] == [title]


def test_lunar_schedule_lists_instants_with_a_folded_note() -> None:
    lunar = _schedule(
        rrule="FREQ=DAILY", lunar={"days": [1, 15], "months": []}, holidays="skip", end=None
    )
    calendar = _read(schedule_ics(lunar, 60_000, stamp=NOW))
    [event] = calendar.events
    assert "rrule" not in event and str(event["summary"]) == TITLE
    rdates = event["rdate"] if isinstance(event["rdate"], list) else [event["rdate"]]
    listed = [event.start] + [p.dt for r in rdates for p in r.dts]
    assert len(listed) >= 80  # two days a month, two times a day, 24 months
    assert {f"{t:%H:%M}" for t in listed} == {"06:30", "17:15"}
    assert all(t.tzinfo is not None and str(t.tzinfo) == "Asia/Ho_Chi_Minh" for t in listed)
    note = str(event["comment"])
    assert note.startswith("Các buổi phát đến ") and "; tải lại tệp" in note
