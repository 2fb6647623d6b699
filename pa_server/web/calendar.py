"""Lịch âm and ngày lễ on the pages: the schedule form's calendar fields, notes for a day, the
calendar part of a schedule in words, and the instants an .ics lists where RRULE cannot say them.

The rules themselves live in `pa_server.planning.calendar`; this module only reads and says
them in Vietnamese.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from pa_server import planning
from pa_server.planning import LunarRule, PlanError
from pa_server.schemas.common import whole_number
from pa_server.web.describe import join_vi
from pa_server.web.recurrence import RuleGroup

#: How far ahead an .ics of a lunar or holiday schedule lists its instants.
ICS_MONTHS: Final = 24
#: Lunar months said by name; the others by number ("tháng 8").
MONTH_NAMES_VI: Final = {1: "Giêng", 12: "Chạp"}
#: Lunar days people name though they are not public holidays (month, day) → name.
FESTIVALS_VI: Final = {
    (1, 15): "Tết Nguyên Tiêu",
    (3, 3): "Tết Hàn thực",
    (4, 15): "Lễ Phật đản",
    (5, 5): "Tết Đoan ngọ",
    (7, 15): "Lễ Vu lan",
    (8, 15): "Tết Trung thu",
    (10, 15): "Tết Hạ nguyên",
    (12, 23): "Ông Công ông Táo",
}
_MONTH_WORDS: Final = {"giêng": 1, "chạp": 12}
_DAY_WORDS: Final = {"rằm": 15}
_SPLIT: Final = re.compile(r"\s*(?:,|;|\bvà\b)\s*")
_FILLER: Final = re.compile(r"^(?:ngày|mùng|mồng|tháng)\s+")


@dataclass(frozen=True)
class CalendarChoice:
    """The calendar part of a schedule as the form gave it: API-shaped `lunar`, `holidays`."""

    lunar: dict[str, list[int]] | None = None
    holidays: str = "include"

    @property
    def filters(self) -> bool:
        """True when the choice keeps only some days."""
        return self.lunar is not None or self.holidays != "include"

    def spec_fields(self) -> dict[str, Any]:
        """The `ScheduleSpec` keyword arguments of this choice."""
        return {"lunar": planning.lunar_rule(self.lunar), "holidays": self.holidays}


def month_vi(month: int, *, leap: bool = False) -> str:
    """ "tháng Giêng", "tháng 8", "tháng 4 nhuận"."""
    name = MONTH_NAMES_VI.get(month, str(month))
    return f"tháng {name}{' nhuận' if leap else ''}"


def day_vi(day: int) -> str:
    """ "mùng 1" … "mùng 10", "rằm", "ngày 20"."""
    if day == 15:
        return "rằm"
    return f"mùng {day}" if day <= 10 else f"ngày {day}"


def _numbers(text: str, words: Mapping[str, int], high: int, what: str, example: str) -> list[int]:
    out: list[int] = []
    for raw in _SPLIT.split(text.strip().lower()):
        token = _FILLER.sub("", raw.strip())
        if not token:
            continue
        value = words.get(token)
        if value is None:
            value = whole_number(token)
        if value is None or not 1 <= value <= high:
            raise ValueError(f"{what} phải là số từ 1 đến {high}, ví dụ: {example}.")
        out.append(value)
    return sorted(set(out))


def parse_calendar_fields(values: Mapping[str, str]) -> tuple[CalendarChoice, dict[str, str]]:
    """Read the form's `lunar_days`, `lunar_months`, `holidays`; errors by field name."""
    errors: dict[str, str] = {}
    policy = values.get("holidays") or "include"
    if policy not in planning.HOLIDAY_POLICIES:
        errors["holidays"] = "Vui lòng chọn cách phát vào ngày lễ."
        policy = "include"
    days: list[int] = []
    months: list[int] = []
    try:
        days = _numbers(values.get("lunar_days", ""), _DAY_WORDS, 30, "Ngày âm lịch", "1, 15")
    except ValueError as exc:
        errors["lunar_days"] = str(exc)
    try:
        months = _numbers(
            values.get("lunar_months", ""), _MONTH_WORDS, 12, "Tháng âm lịch", "1, 12"
        )
    except ValueError as exc:
        errors["lunar_months"] = str(exc)
    if months and not days and "lunar_days" not in errors:
        errors["lunar_days"] = "Vui lòng ghi ngày âm lịch trong các tháng đã chọn."
    lunar = {"days": days, "months": months} if days else None
    return CalendarChoice(lunar=lunar, holidays=policy), errors


def day_notes(day: date) -> list[str]:
    """What a person would say of `day`: its public holiday, its lunar date when it is a mùng 1
    or rằm, a festival ("Tết Trung thu"). Empty for an ordinary day."""
    notes: list[str] = []
    holiday = planning.public_holiday(day)
    if holiday is not None:
        notes += [name.strip() for name in holiday.split(";")]
    lunar = planning.lunar_day(day)
    if lunar is None:
        return notes
    festival = None if lunar.leap else FESTIVALS_VI.get((lunar.month, lunar.day))
    if festival is not None and festival not in notes:
        notes.append(festival)
    if lunar.day == 1 and not (lunar.month == 1 and not lunar.leap):
        notes.append(f"Mùng 1 {month_vi(lunar.month, leap=lunar.leap)} âm lịch")
    elif lunar.day == 15:
        notes.append(f"Rằm {month_vi(lunar.month, leap=lunar.leap)}")
    return notes


def day_mark(day: date) -> str:
    """The word a month calendar's cell shows under `day`: "Lễ" on a public holiday, else
    "Mùng 1" or "Rằm" (the days lunar schedules pick); "" for other days."""
    if planning.public_holiday(day) is not None:
        return "Lễ"
    lunar = planning.lunar_day(day)
    if lunar is None or lunar.day not in (1, 15):
        return ""
    return "Rằm" if lunar.day == 15 else "Mùng 1"


def as_rule(lunar: object) -> LunarRule | None:
    """A lunar rule from what a page holds: a rule, the API's `LunarDays`, a stored dict."""
    if lunar is None or isinstance(lunar, LunarRule):
        return lunar
    dump = getattr(lunar, "model_dump", None)
    return planning.lunar_rule(dump() if callable(dump) else lunar)  # type: ignore[arg-type]


def describe_calendar(lunar: object, holidays: str) -> str:
    """The calendar part of a schedule in words, e.g. "ngày mùng 1 và rằm hằng tháng âm lịch,
    trừ ngày lễ"; "" when the schedule has none. `lunar`: see `as_rule`."""
    rule = as_rule(lunar)
    parts: list[str] = []
    if rule is not None:
        said = join_vi([day_vi(d) for d in rule.days])
        if rule.months:
            where = join_vi([month_vi(m) for m in rule.months])
            parts.append(f"{said} {where} âm lịch")
        else:
            parts.append(f"{said} hằng tháng âm lịch")
        if 30 in rule.days:
            parts[-1] += " (tháng thiếu thì ngày 29)"
        parts[-1] = "ngày " + parts[-1].removeprefix("ngày ")
    if holidays == "skip":
        parts.append("trừ ngày lễ")
    elif holidays == "only":
        parts.append("chỉ vào ngày lễ")
    return ", ".join(parts)


def calendar_clause(lunar: object, holidays: str) -> str:
    """The calendar part to append to a schedule's sentence: ", chỉ vào ngày mùng 1 và rằm
    hằng tháng âm lịch, trừ ngày lễ"; "" when the schedule has none."""
    days = describe_calendar(lunar, "include")
    if not days:
        return f", {describe_calendar(None, holidays)}" if holidays != "include" else ""
    clause = f", chỉ vào {days}"
    if holidays == "skip":
        clause += ", trừ ngày lễ"
    elif holidays == "only":
        clause += " khi trùng ngày lễ"
    return clause


@dataclass(frozen=True)
class ListedInstants:
    """What an .ics says of a lunar or holiday schedule: its instants, and how far they go."""

    #: Aware, in the schedule's time zone; empty when nothing plays in the window.
    instants: tuple[datetime, ...]
    #: The calendar program shows this note: the list ends, the file must be downloaded again.
    note: str


def ics_instants(
    schedule: Any, tz_name: str, *, now: datetime, duration_ms: int
) -> ListedInstants | None:
    """The instants of a lunar or holiday schedule for the next `ICS_MONTHS` months (RFC 5545
    has no lunar calendar nor holiday list, so an .ics lists them); None when the schedule's
    RRULE says everything. `schedule` is a `SchedulePublic`."""
    rule = as_rule(schedule.lunar)
    lunar = None if rule is None else {"days": list(rule.days), "months": list(rule.months)}
    choice = CalendarChoice(lunar=lunar, holidays=schedule.holidays)
    if not choice.filters:
        return None
    try:
        spec = planning.ScheduleSpec(
            id=schedule.id,
            announcement_id=schedule.announcement_id,
            title=schedule.title,
            rrule=schedule.rrule,
            times=tuple(time.fromisoformat(t) for t in getattr(schedule, "times", ()) or ()),
            start=schedule.start,
            end=schedule.end,
            exdates=tuple(schedule.exdates),
            timezone=tz_name,
            level=schedule.level,
            targets=tuple(f"zone:{z}" for z in schedule.zones)
            + tuple(f"device:{d}" for d in schedule.devices),
            duration_ms=max(1, duration_ms),
            volume=None,
            max_late_s=schedule.max_late_s,
            created_at=schedule.created_at,
            **choice.spec_fields(),
        )
    except PlanError:
        return ListedInstants((), "")
    first = max(now, schedule.start)
    found = planning.expand(spec, first, first + timedelta(days=ICS_MONTHS * 31))
    if not found:
        return ListedInstants((), "")
    tz = ZoneInfo(tz_name)
    local = tuple(t.astimezone(tz) for t in found)
    note = (
        f"Các buổi phát đến {local[-1]:%d/%m/%Y} theo lịch âm và ngày lễ; "
        "tải lại tệp để có các buổi sau."
    )
    return ListedInstants(local, note)


def preview_notes(rows: list[dict[str, Any]], tz_name: str) -> None:
    """Add each preview row's `notes` (its day's holiday and lunar notes), in place."""
    tz = ZoneInfo(tz_name)
    for row in rows:
        row["notes"] = day_notes(row["play_at"].astimezone(tz).date())


def calendar_group(group: RuleGroup, choice: CalendarChoice) -> RuleGroup:
    """The form's timing under `choice`: a single day stays that day when filtered (the planner
    needs a rule to filter, and the service would otherwise make it daily), as FREQ=DAILY
    ending at the day's end — not COUNT=1, which a list of times of day cannot go with."""
    if group.rrule is not None or not choice.filters:
        return group
    end = datetime.combine(group.start.date(), time(23, 59, 59))
    return replace(group, rrule="FREQ=DAILY", end=end)


def calendar_values(lunar: object, holidays: str) -> dict[str, str]:
    """A stored schedule's calendar part as the form's fields (for the edit page)."""
    rule = as_rule(lunar)
    return {
        "lunar_days": "" if rule is None else ", ".join(str(d) for d in rule.days),
        "lunar_months": "" if rule is None else ", ".join(str(m) for m in rule.months),
        "holidays": holidays,
    }


def first_instants(
    specs: list[planning.ScheduleSpec], start: datetime, limit: int
) -> list[datetime]:
    """The first `limit` UTC instants of filtered `specs` from `start`, for a preview whose
    planner window is too short for lunar days (a month apart) or holidays."""
    found: list[datetime] = []
    low = start
    for _ in range(planning.calendar.SEARCH_DAYS // 92 + 1):
        high = low + timedelta(days=92)
        found += [t for s in specs for t in planning.expand(s, low, high)]
        if len(found) >= limit:
            break
        low = high
    return sorted(found)[:limit]
