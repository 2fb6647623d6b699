"""A schedule in plain terms (times of day, weekdays, date range, exceptions) → RFC 5545 rules.

An RRULE's BYHOUR × BYMINUTE is a cross product, so 06:00 and 17:30 cannot share one rule:
times are grouped by their minute and each group becomes its own rule (06:00 and 17:00 →
one rule; 11:30 → another).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import islice

from dateutil.rrule import rrulestr

from pa_server.planning.recurrence import first_local

#: Monday first, as Python numbers weekdays.
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_LABELS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
MAX_TIMES = 12
MAX_DAYS = 366
_TIME_RE = re.compile(r"^([01]?\d|2[0-3])[:hH.]([0-5]\d)$")


class PlainScheduleError(ValueError):
    """Bad plain-terms input; `errors` maps form fields to Vietnamese messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class PlainSchedule:
    """What a person says: "at 6:00 and 17:00, Mon–Fri, from 10 to 31 August, not on the 15th"."""

    times: tuple[time, ...]
    date_from: date
    date_to: date | None = None
    weekdays: frozenset[int] = frozenset()  # empty = every day
    every_weeks: int = 1
    except_dates: tuple[date, ...] = ()


@dataclass(frozen=True)
class RuleGroup:
    """One schedule's worth: local (naive) start, rule (None = one instant), end, exdates."""

    start: datetime
    rrule: str | None
    end: datetime | None
    exdates: tuple[datetime, ...]


def parse_times(text: str) -> tuple[time, ...]:
    """ "6:00, 17h30" → (06:00, 17:30), sorted and without repeats; raises `ValueError`."""
    found: set[time] = set()
    for piece in re.split(r"[,;\s]+", text.strip()):
        if not piece:
            continue
        match = _TIME_RE.match(piece)
        if not match:
            raise ValueError(f"Giờ “{piece}” không hợp lệ (viết như 06:00 hoặc 17h30).")
        found.add(time(int(match.group(1)), int(match.group(2))))
    if not found:
        raise ValueError("Vui lòng nhập ít nhất một giờ phát.")
    if len(found) > MAX_TIMES:
        raise ValueError(f"Tối đa {MAX_TIMES} giờ phát mỗi ngày.")
    return tuple(sorted(found))


def parse_dates(text: str) -> tuple[date, ...]:
    """ "15/08/2026, 2026-08-20" → dates; raises `ValueError` naming the bad one."""
    out: list[date] = []
    for piece in re.split(r"[,;\s]+", text.strip()):
        if not piece:
            continue
        for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
            try:
                out.append(datetime.strptime(piece, fmt).date())
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"Ngày “{piece}” không hợp lệ (viết như 15/08/2026).")
    return tuple(sorted(set(out)))


def parse_day(text: str) -> date:
    """One date typed as "05/12/2026" (or "2026-12-05", what older forms sent); `ValueError`."""
    piece = text.strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(piece, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"Ngày “{piece}” không hợp lệ (viết như 05/12/2026).")


def day_text(value: str | date | None) -> str:
    """A date as the form shows it, "05/12/2026"; text that is not a date is kept as typed."""
    if value is None or value == "":
        return ""
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    try:
        return f"{parse_day(value):%d/%m/%Y}"
    except ValueError:
        return value


def to_rules(plain: PlainSchedule) -> list[RuleGroup]:
    """The RRULE groups for `plain`; raises `PlainScheduleError` (field → Vietnamese message)."""
    errors: dict[str, str] = {}
    if not plain.times:
        errors["times"] = "Vui lòng nhập ít nhất một giờ phát."
    if plain.date_to is not None and plain.date_to < plain.date_from:
        errors["date_to"] = "Ngày kết thúc phải sau ngày bắt đầu."
    elif plain.date_to is not None and (plain.date_to - plain.date_from).days > MAX_DAYS:
        errors["date_to"] = f"Khoảng ngày dài tối đa {MAX_DAYS} ngày."
    if not 1 <= plain.every_weeks <= 52:
        errors["every_weeks"] = "Số tuần lặp phải từ 1 đến 52."
    if any(not 0 <= d <= 6 for d in plain.weekdays):
        errors["weekdays"] = "Thứ trong tuần không hợp lệ."
    if errors:
        raise PlainScheduleError(errors)

    single_day = plain.date_to == plain.date_from
    if single_day and len(plain.times) == 1:
        at = datetime.combine(plain.date_from, plain.times[0])
        if plain.date_from in plain.except_dates:
            raise PlainScheduleError(
                {"except_dates": "Ngày ngoại lệ trùng với ngày phát duy nhất."}
            )
        return [RuleGroup(start=at, rrule=None, end=None, exdates=())]

    by_minute: dict[int, list[int]] = defaultdict(list)
    for t in plain.times:
        by_minute[t.minute].append(t.hour)
    end = datetime.combine(plain.date_to, time(23, 59, 59)) if plain.date_to is not None else None
    groups: list[RuleGroup] = []
    for minute, hours in sorted(by_minute.items()):
        parts = ["FREQ=WEEKLY" if plain.weekdays or plain.every_weeks > 1 else "FREQ=DAILY"]
        if plain.every_weeks > 1:
            parts.append(f"INTERVAL={plain.every_weeks}")
        if plain.weekdays or plain.every_weeks > 1:
            days = plain.weekdays or frozenset(range(7))
            parts.append("BYDAY=" + ",".join(WEEKDAYS[d] for d in sorted(days)))
        parts.append("BYHOUR=" + ",".join(str(h) for h in sorted(hours)))
        parts.append(f"BYMINUTE={minute}")
        parts.append("BYSECOND=0")
        rule = ";".join(parts)
        day_start = datetime.combine(plain.date_from, time(0, 0))
        # The planner's bounded search (and its checks: never too frequent, never empty).
        first = first_local(rule, day_start, until=end)
        if first is None:
            continue
        exdates = tuple(
            datetime.combine(d, time(h, minute)) for d in plain.except_dates for h in sorted(hours)
        )
        groups.append(RuleGroup(start=first, rrule=rule, end=end, exdates=exdates))
    if not groups:
        raise PlainScheduleError(
            {"weekdays": "Không có buổi phát nào trong khoảng ngày và các thứ đã chọn."}
        )
    return groups


def instants(group: RuleGroup, *, limit: int, until: datetime | None = None) -> list[datetime]:
    """The first `limit` local instants of `group` (exceptions left out), for a quick preview."""
    if group.rrule is None:
        return [group.start]
    rule = rrulestr(group.rrule, dtstart=group.start)
    out: list[datetime] = []
    skip = set(group.exdates)
    # Every instant yielded is either shown or one of the finite exceptions: bounded.
    for at in islice(rule, limit + len(skip)):
        if (group.end is not None and at > group.end) or (until is not None and at > until):
            break
        if at not in skip:
            out.append(at)
            if len(out) >= limit:
                break
    return out
