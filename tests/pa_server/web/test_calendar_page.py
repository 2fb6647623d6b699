"""Lịch âm and ngày lễ on the pages: the form's fields, the preview's day notes, the words
for a schedule's calendar part, and an .ics that lists what RRULE cannot say."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from pa_server.web.calendar import (
    CalendarChoice,
    calendar_clause,
    calendar_group,
    day_notes,
    describe_calendar,
    ics_instants,
    parse_calendar_fields,
)
from pa_server.web.recurrence import RuleGroup
from tests.pa_server.web.support import COMMUNE, World
from tests.pa_server.web.test_visible_text import _sign_in, world  # noqa: F401  (fixture)
from tests.pa_server.web.visible_text import problems, visible_text

VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    ("day", "notes"),
    [
        (date(2027, 2, 6), ["Tết Nguyên Đán"]),
        (date(2027, 2, 5), ["Giao thừa Tết Nguyên Đán"]),
        (date(2027, 2, 20), ["Tết Nguyên Tiêu", "Rằm tháng Giêng"]),
        (date(2027, 9, 1), ["Mùng 1 tháng 8 âm lịch"]),
        (date(2027, 9, 15), ["Tết Trung thu", "Rằm tháng 8"]),
        (date(2028, 6, 23), ["Mùng 1 tháng 5 nhuận âm lịch"]),
        (date(2027, 4, 16), ["Ngày Giỗ Tổ Hùng Vương"]),
        (date(2027, 4, 30), ["Ngày Chiến thắng"]),
        (date(2027, 3, 3), []),
    ],
)
def test_day_notes(day: date, notes: list[str]) -> None:
    assert day_notes(day) == notes
    assert all(problems(f"<p>{n}</p>") == [] for n in notes)


@pytest.mark.parametrize(
    ("lunar", "holidays", "words"),
    [
        ({"days": [1, 15]}, "include", "ngày mùng 1 và rằm hằng tháng âm lịch"),
        ({"days": [1, 15]}, "skip", "ngày mùng 1 và rằm hằng tháng âm lịch, trừ ngày lễ"),
        (
            {"days": [30], "months": [12]},
            "include",
            "ngày 30 tháng Chạp âm lịch (tháng thiếu thì ngày 29)",
        ),
        ({"days": [10], "months": [3]}, "include", "ngày mùng 10 tháng 3 âm lịch"),
        (None, "only", "chỉ vào ngày lễ"),
        (None, "include", ""),
    ],
)
def test_describe_calendar(lunar: dict[str, list[int]] | None, holidays: str, words: str) -> None:
    assert describe_calendar(lunar, holidays) == words


@pytest.mark.parametrize(
    ("lunar", "holidays", "clause"),
    [
        ({"days": [1, 15]}, "skip", ", chỉ vào ngày mùng 1 và rằm hằng tháng âm lịch, trừ ngày lễ"),
        ({"days": [1]}, "only", ", chỉ vào ngày mùng 1 hằng tháng âm lịch khi trùng ngày lễ"),
        (None, "skip", ", trừ ngày lễ"),
        (None, "include", ""),
    ],
)
def test_calendar_clause(lunar: dict[str, list[int]] | None, holidays: str, clause: str) -> None:
    assert calendar_clause(lunar, holidays) == clause


def test_form_fields_parse_words_and_numbers() -> None:
    choice, errors = parse_calendar_fields(
        {"lunar_days": "mùng 1 và rằm", "lunar_months": "", "holidays": "skip"}
    )
    assert errors == {} and choice == CalendarChoice({"days": [1, 15], "months": []}, "skip")
    choice, errors = parse_calendar_fields({"lunar_days": "30", "lunar_months": "Chạp"})
    assert errors == {} and choice.lunar == {"days": [30], "months": [12]}
    assert parse_calendar_fields({}) == (CalendarChoice(), {})
    _, errors = parse_calendar_fields({"lunar_days": "32", "lunar_months": "x", "holidays": "z"})
    assert set(errors) == {"lunar_days", "lunar_months", "holidays"}
    _, errors = parse_calendar_fields({"lunar_months": "12"})
    assert set(errors) == {"lunar_days"}
    one_day = RuleGroup(datetime(2027, 2, 20), None, (time(6, 30), time(17, 0)), None, ())
    kept = calendar_group(one_day, CalendarChoice(holidays="skip"))
    assert (kept.rrule, kept.end, kept.times) == (
        "FREQ=DAILY",
        datetime(2027, 2, 20, 23, 59, 59),
        one_day.times,
    )
    assert calendar_group(one_day, CalendarChoice()) is one_day


def _public(**over: object) -> SimpleNamespace:
    base = {
        "id": "s1",
        "announcement_id": "a",
        "title": "Loa xã",
        "rrule": "FREQ=DAILY;BYHOUR=7;BYMINUTE=0",
        "start": datetime(2026, 12, 1, tzinfo=VN).astimezone(UTC),
        "end": None,
        "exdates": [],
        "level": "normal",
        "zones": [COMMUNE],
        "devices": [],
        "max_late_s": 120,
        "created_at": datetime(2026, 12, 1, tzinfo=UTC),
        "lunar": None,
        "holidays": "include",
    }
    return SimpleNamespace(**{**base, **over})


def test_ics_lists_lunar_instants_for_24_months() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert ics_instants(_public(), "Asia/Ho_Chi_Minh", now=now, duration_ms=1) is None
    listed = ics_instants(
        _public(lunar={"days": [30], "months": [12]}), "Asia/Ho_Chi_Minh", now=now, duration_ms=1
    )
    assert listed is not None
    assert listed.instants == (
        datetime(2027, 2, 5, 7, tzinfo=VN),
        datetime(2028, 1, 25, 7, tzinfo=VN),
    )
    assert listed.note.startswith("Các buổi phát đến 25/01/2028")
    assert listed.note.endswith("; tải lại tệp để có các buổi sau.")


def test_schedule_form_previews_lunar_days_saves_and_exports(world: World) -> None:  # noqa: F811
    client = world.client
    csrf = _sign_in(client, "vanhanh")
    form = client.get("/lich-phat/moi").text
    assert 'data-testid="calendar-fields"' in form and 'name="lunar_days"' in form
    today = datetime.now(VN).date()
    data = {
        "csrf_token": csrf,
        "announcement_id": world.approved,
        "times": "07:00",
        "date_from": f"{today:%d/%m/%Y}",
        "date_to": "",
        "every_weeks": "1",
        "zone": COMMUNE,
        "lunar_days": "mùng 1, rằm",
        "holidays": "skip",
        "level": "normal",
        "action": "preview",
    }
    page = client.post("/lich-phat/moi", data=data)
    assert page.status_code == 200, page.text
    preview = visible_text(page.text.split('data-testid="preview"')[1].split("</ol>")[0])
    assert "Rằm tháng" in preview or "Mùng 1 tháng" in preview, preview
    assert problems(page.text) == []
    bad = client.post("/lich-phat/moi", data={**data, "lunar_days": "35"})
    assert bad.status_code == 422 and "Ngày âm lịch phải là số từ 1 đến 30" in bad.text
    saved = client.post("/lich-phat/moi", data={**data, "action": "save"})
    assert saved.status_code == 303, saved.text
    schedule_id = saved.headers["location"].split("/")[-1].split("?")[0]
    api = client.get(f"/api/v1/schedules/{schedule_id}").json()
    assert api["lunar"] == {"days": [1, 15], "months": []} and api["holidays"] == "skip"
    sentence = "chỉ vào ngày mùng 1 và rằm hằng tháng âm lịch, trừ ngày lễ"
    assert sentence in visible_text(client.get(f"/lich-phat/{schedule_id}").text)
    ics = client.get(f"/lich-phat/{schedule_id}.ics").text
    assert "RRULE" not in ics and ics.count("RDATE;") >= 40
    first = re.search(r"DTSTART;TZID=Asia/Ho_Chi_Minh:(\d{8})T070000", ics)
    assert first is not None
    stamps = [first.group(1), *re.findall(r"RDATE;TZID=Asia/Ho_Chi_Minh:(\d{8})T", ics)]
    for stamp in stamps:
        day = datetime.strptime(stamp, "%Y%m%d").date()
        notes = " ".join(day_notes(day))
        assert "Rằm" in notes or "Mùng 1" in notes or "Tết Nguyên Tiêu" in notes, (day, notes)
        assert day - today < timedelta(days=24 * 31)
