"""Chương trình phát and Lịch tháng: what plays today and this week, and a month calendar.

Presentation only: the broadcasts and their states come from `pa_server.services.programme`
(the planner's occurrences, never recurrence recomputed here).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pa_server.api.deps import NowDep
from pa_server.auth.rights import Actor
from pa_server.services import programme
from pa_server.services.errors import NotFound, ServiceError
from pa_server.services.programme import Place, ProgrammeEntry
from pa_server.web.deps import DbDep, PageActor
from pa_server.web.recurrence import WEEKDAY_LABELS_VI
from pa_server.web.templating import render

router = APIRouter()

BASE = "/chuong-trinh"
CALENDAR = "/lich-thang"
#: Days shown by the programme: today and the six after it.
WEEK_DAYS = 7

ZoneQuery = Annotated[str, Query(alias="khu-vuc")]


@dataclass(frozen=True)
class Day:
    """One local day of a programme and its broadcasts."""

    day: date
    entries: list[ProgrammeEntry]

    @property
    def name(self) -> str:
        """ "Thứ Ba 01/12"."""
        return f"{WEEKDAY_LABELS_VI[self.day.weekday()]} {self.day:%d/%m}"


def _local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0, 0), ZoneInfo(tz)).astimezone(UTC)


def _by_day(entries: list[ProgrammeEntry], first: date, days: int, tz: str) -> list[Day]:
    zone = ZoneInfo(tz)
    out: dict[date, list[ProgrammeEntry]] = {first + timedelta(days=i): [] for i in range(days)}
    for e in entries:
        local = e.play_at.astimezone(zone).date()
        if local in out:
            out[local].append(e)
    return [Day(d, found) for d, found in out.items()]


def _default_zone(actor: Actor) -> str:
    # An operator's own commune first; people who act everywhere see everything.
    return actor.zones[0] if len(actor.zones) == 1 else ""


def _place(db: DbDep, zone: str) -> Place:
    try:
        return programme.place_of(db, zone=zone or None)
    except ServiceError as exc:  # an unknown or malformed zone: the page names nothing
        raise NotFound("zone_not_found", f"no zone {zone!r}") from exc


def _week(
    request: Request, db: DbDep, now: datetime, place: Place, extra: dict[str, Any]
) -> Response:
    tz = request.app.state.settings.timezone
    today = now.astimezone(ZoneInfo(tz)).date()
    start = _local_midnight(today, tz)
    end = _local_midnight(today + timedelta(days=WEEK_DAYS), tz)
    entries = programme.programme(db, place, start=start, end=end, now=now)
    days = _by_day(entries, today, WEEK_DAYS, tz)
    return render(
        request,
        "programme.html",
        {
            "title": "Chương trình phát",
            "active": BASE,
            "today": days[0],
            "week": days[1:],
            "total": len(entries),
            "now": now,
            "tz": tz,
            **extra,
        },
    )


@router.get(BASE)
def zone_programme(
    request: Request, actor: PageActor, db: DbDep, now: NowDep, zone: ZoneQuery = "~"
) -> Response:
    """What a zone (everything below it too) plays today and in the next six days."""
    chosen = _default_zone(actor) if zone == "~" else zone.strip()
    place = _place(db, chosen)
    return _week(request, db, now, place, {"zone": place.zone or "", "device": None})


@router.get("/thiet-bi/{device_id}/chuong-trinh")
def device_programme(
    request: Request, device_id: str, actor: PageActor, db: DbDep, now: NowDep
) -> Response:
    """What one loudspeaker plays today and in the next six days."""
    place = programme.place_of(db, device=device_id)
    return _week(request, db, now, place, {"zone": "", "device": device_id})


# --------------------------------------------------------------------------- month calendar


@dataclass(frozen=True)
class CalendarDay:
    """One cell of the month grid."""

    day: date
    in_month: bool
    count: int
    emergency: bool
    failed: bool


def _month_of(text: str, today: date) -> date:
    try:
        year, month = (int(p) for p in text.split("-", 1))
        return date(year, month, 1)
    except ValueError:
        return today.replace(day=1)


def _shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@router.get(CALENDAR)
def month_calendar(
    request: Request,
    actor: PageActor,
    db: DbDep,
    now: NowDep,
    zone: ZoneQuery = "",
    thang: str = "",
    ngay: str = "",
) -> Response:
    """Every broadcast of a month, as a calendar; a day opens its list below the grid."""
    tz = request.app.state.settings.timezone
    today = now.astimezone(ZoneInfo(tz)).date()
    first = _month_of(thang, today)
    place = _place(db, zone.strip())
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    grid_start, grid_end = weeks[0][0], weeks[-1][-1] + timedelta(days=1)
    entries = programme.programme(
        db,
        place,
        start=_local_midnight(grid_start, tz),
        end=_local_midnight(grid_end, tz),
        now=now,
    )
    days = {d.day: d for d in _by_day(entries, grid_start, (grid_end - grid_start).days, tz)}
    cells = [
        [
            CalendarDay(
                day=d,
                in_month=d.month == first.month,
                count=len(days[d].entries),
                emergency=any(e.level == "emergency" for e in days[d].entries),
                failed=any(e.state == "failed" for e in days[d].entries),
            )
            for d in week
        ]
        for week in weeks
    ]
    try:
        chosen = date.fromisoformat(ngay) if ngay else None
    except ValueError:
        chosen = None
    if chosen is None and first <= today < _shift_month(first, 1):
        chosen = today
    opened = days.get(chosen) if chosen is not None else None
    return render(
        request,
        "calendar.html",
        {
            "title": "Lịch tháng",
            "active": BASE,
            "month": first,
            "prev_month": _shift_month(first, -1),
            "next_month": _shift_month(first, 1),
            "weeks": cells,
            "weekday_short": ("T2", "T3", "T4", "T5", "T6", "T7", "CN"),
            "month_total": sum(len(d.entries) for d in days.values() if d.day.month == first.month),
            "opened": opened,
            "today": today,
            "zone": place.zone or "",
            "now": now,
            "tz": tz,
        },
    )
