"""A schedule in plain terms (times of day, weekdays, date range, exceptions) → one schedule.

The rule says which days (FREQ=DAILY, or WEEKLY with BYDAY and INTERVAL); the times of day go
in the schedule's `times` list, so "06:30, 17:15" is one schedule (an RRULE's BYHOUR ×
BYMINUTE cross product cannot say it). `plain_of` reads a stored schedule back into the form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import islice

from dateutil.rrule import rrulestr

from pa_server.planning.recurrence import first_local, timed_rule

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
    """One schedule's timing: local (naive) start, rule (None: the start's day only), times of
    day, end, exdates (local instants)."""

    start: datetime
    rrule: str | None
    times: tuple[time, ...]
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


def to_rule(plain: PlainSchedule) -> RuleGroup:
    """The schedule timing for `plain`; raises `PlainScheduleError` (field → Vietnamese)."""
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

    day_start = datetime.combine(plain.date_from, time(0, 0))
    exdates = tuple(datetime.combine(d, t) for d in sorted(plain.except_dates) for t in plain.times)
    if plain.date_to == plain.date_from:
        if plain.date_from in plain.except_dates:
            raise PlainScheduleError(
                {"except_dates": "Ngày ngoại lệ trùng với ngày phát duy nhất."}
            )
        return RuleGroup(start=day_start, rrule=None, times=plain.times, end=None, exdates=())

    weekly = bool(plain.weekdays) or plain.every_weeks > 1
    parts = ["FREQ=WEEKLY" if weekly else "FREQ=DAILY"]
    if plain.every_weeks > 1:
        parts.append(f"INTERVAL={plain.every_weeks}")
    if weekly:
        days = plain.weekdays or frozenset(range(7))
        parts.append("BYDAY=" + ",".join(WEEKDAYS[d] for d in sorted(days)))
    rule = ";".join(parts)
    end = datetime.combine(plain.date_to, time(23, 59, 59)) if plain.date_to is not None else None
    group = RuleGroup(start=day_start, rrule=rule, times=plain.times, end=end, exdates=exdates)
    # The planner's bounded search (and its checks: never too frequent, never empty).
    if not any(first_local(timed_rule(rule, t), day_start, until=end) for t in plain.times):
        raise PlainScheduleError(
            {"weekdays": "Không có buổi phát nào trong khoảng ngày và các thứ đã chọn."}
        )
    if not instants(group, limit=1):
        raise PlainScheduleError(
            {"except_dates": "Các ngày ngoại lệ bỏ hết mọi buổi phát trong khoảng ngày này."}
        )
    return group


def instants(group: RuleGroup, *, limit: int, until: datetime | None = None) -> list[datetime]:
    """The first `limit` local instants of `group` (exceptions left out), for a quick preview."""
    if group.rrule is None:
        day = group.start.date()
        return [datetime.combine(day, t) for t in sorted(group.times)][:limit]
    skip = set(group.exdates)
    out: list[datetime] = []
    for at in group.times:
        rule = rrulestr(timed_rule(group.rrule, at), dtstart=group.start)
        taken = 0
        # Every instant yielded is either kept or one of the finite exceptions: bounded.
        for moment in islice(rule, limit + len(skip)):
            if (group.end is not None and moment > group.end) or (
                until is not None and moment > until
            ):
                break
            if moment not in skip:
                out.append(moment)
                taken += 1
                if taken >= limit:
                    break
    return sorted(out)[:limit]


_PLAIN_RULE = re.compile(
    r"^FREQ=(?P<freq>DAILY|WEEKLY)(?:;INTERVAL=(?P<interval>\d+))?"
    r"(?:;BYDAY=(?P<days>(?:MO|TU|WE|TH|FR|SA|SU)(?:,(?:MO|TU|WE|TH|FR|SA|SU))*))?"
    r"(?:;BYHOUR=(?P<hours>\d{1,2}(?:,\d{1,2})*))?(?:;BYMINUTE=(?P<minutes>\d{1,2}(?:,\d{1,2})*))?"
    r"(?:;BYSECOND=0)?$"
)


def plain_of(
    rrule: str | None,
    times: tuple[time, ...],
    start: datetime,
    end: datetime | None,
    exdates: tuple[datetime, ...],
) -> dict[str, str | list[int]] | None:
    """A stored schedule's timing as the form's fields (local naive instants), or None when its
    rule says more than the form can (then the page offers pause, resume and delete only)."""
    if rrule is None:
        when = times or (start.time(),)
        return {
            "times": ", ".join(f"{t:%H:%M}" for t in sorted(when)),
            "date_from": f"{start:%d/%m/%Y}",
            "date_to": f"{start:%d/%m/%Y}",
            "every_weeks": "1",
            "weekdays": [],
            "except_dates": "",
        }
    match = _PLAIN_RULE.match(rrule.upper().removeprefix("RRULE:"))
    if match is None:
        return None
    if not times:
        hours = [int(h) for h in (match["hours"] or str(start.hour)).split(",")]
        minutes = [int(m) for m in (match["minutes"] or str(start.minute)).split(",")]
        times = tuple(sorted(time(h, m) for h in hours for m in minutes))
    elif match["hours"] or match["minutes"]:
        return None
    interval = int(match["interval"] or "1")
    days = [WEEKDAYS.index(d) for d in match["days"].split(",")] if match["days"] else []
    if match["freq"] == "DAILY" and (days or interval != 1):
        return None
    if len(days) == 7 and interval == 1:
        days = []
    return {
        "times": ", ".join(f"{t:%H:%M}" for t in times),
        "date_from": f"{start:%d/%m/%Y}",
        "date_to": f"{end:%d/%m/%Y}" if end is not None else "",
        "every_weeks": str(interval),
        "weekdays": days,
        "except_dates": ", ".join(f"{d:%d/%m/%Y}" for d in sorted({x.date() for x in exdates})),
    }
