"""Lịch phát: a schedule in plain terms, its next occurrences shown before saving."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from devices.protocol import Level
from pa_server import planning
from pa_server.api.deps import NowDep
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor
from pa_server.schemas.schedules import ScheduleCreate
from pa_server.services import announcements, rights, schedules, timelines, zones
from pa_server.services.errors import ServiceError
from pa_server.web.calendar import (
    CalendarChoice,
    first_instants,
    group_rrule,
    ics_instance_lines,
    parse_calendar_fields,
    preview_notes,
)
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.messages import refusal_message, service_message
from pa_server.web.paging import PER_PAGE, page_number, paginate
from pa_server.web.recurrence import (
    WEEKDAY_LABELS_VI,
    PlainSchedule,
    PlainScheduleError,
    RuleGroup,
    instants,
    parse_dates,
    parse_day,
    parse_times,
    to_rules,
)
from pa_server.web.templating import render

router = APIRouter()

BASE = "/lich-phat"
PREVIEW_COUNT = 10
PREVIEW_DAYS = 14


def _level(values: dict[str, str]) -> Level:
    level = values.get("level", "normal")
    if level == "emergency":
        return "emergency"
    return "priority" if level == "priority" else "normal"


@dataclass(frozen=True)
class ZoneChoice:
    """A zone the person may target, indented by depth."""

    path: str
    name: str
    depth: int


def _zone_choices(db: DbDep, actor: Actor) -> list[ZoneChoice]:
    return [
        ZoneChoice(z.path, z.name, z.path.count("/"))
        for z in zones.list_zones(db)
        if rights.reachable_zone(actor, z.path)
    ]


def _approved(db: DbDep) -> list[Any]:
    rows, _ = announcements.list_announcements(db, status="approved", limit=200, offset=0)
    return rows


def _form(form: FormData) -> tuple[dict[str, str], list[str], set[int]]:
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    chosen_zones = [v for v in form.getlist("zone") if isinstance(v, str)]
    weekdays = {int(v) for v in form.getlist("weekday") if isinstance(v, str) and v.isdigit()}
    return values, chosen_zones, weekdays


def _parse(
    values: dict[str, str], chosen_zones: list[str], weekdays: set[int]
) -> tuple[list[RuleGroup], dict[str, str]]:
    errors: dict[str, str] = {}
    if not values.get("announcement_id"):
        errors["announcement_id"] = "Vui lòng chọn thông báo đã duyệt."
    times: tuple[Any, ...] = ()
    try:
        times = parse_times(values.get("times", ""))
    except ValueError as exc:
        errors["times"] = str(exc)
    date_from: date | None = None
    date_to: date | None = None
    try:
        date_from = parse_day(values.get("date_from", ""))
    except ValueError:
        errors["date_from"] = "Vui lòng chọn ngày bắt đầu."
    if values.get("date_to"):
        try:
            date_to = parse_day(values["date_to"])
        except ValueError:
            errors["date_to"] = "Ngày kết thúc không hợp lệ."
    except_dates: tuple[date, ...] = ()
    try:
        except_dates = parse_dates(values.get("except_dates", ""))
    except ValueError as exc:
        errors["except_dates"] = str(exc)
    every = values.get("every_weeks", "1") or "1"
    if not every.isdigit():
        errors["every_weeks"] = "Số tuần lặp phải là số."
    if not chosen_zones:
        errors["zones"] = "Vui lòng chọn ít nhất một khu vực phát."
    groups: list[RuleGroup] = []
    if date_from is not None and "times" not in errors and "every_weeks" not in errors:
        try:
            groups = to_rules(
                PlainSchedule(
                    times=times,
                    date_from=date_from,
                    date_to=date_to,
                    weekdays=frozenset(weekdays),
                    every_weeks=int(every),
                    except_dates=except_dates,
                )
            )
        except PlainScheduleError as exc:
            errors.update({k: v for k, v in exc.errors.items() if k not in errors})
    return groups, errors


def _preview(
    db: DbDep,
    groups: list[RuleGroup],
    values: dict[str, str],
    chosen_zones: list[str],
    tz: str,
    now: datetime,
    calendar: CalendarChoice,
) -> list[dict[str, Any]]:
    """Next occurrences as the planner will play them (quiet hours and all); nothing stored."""
    zone = ZoneInfo(tz)
    ann = announcements.get_announcement(db, values["announcement_id"])
    duration = ann.rendition.duration_ms if ann.rendition else 60_000
    specs = [
        planning.ScheduleSpec(
            id=f"preview-{i}",
            announcement_id=ann.id,
            title=ann.title,
            rrule=group_rrule(g.rrule, calendar),
            start=g.start.replace(tzinfo=zone).astimezone(UTC),
            end=g.end.replace(tzinfo=zone).astimezone(UTC) if g.end else None,
            exdates=tuple(d.replace(tzinfo=zone).astimezone(UTC) for d in g.exdates),
            timezone=tz,
            level=_level(values),
            targets=tuple(f"zone:{z}" for z in chosen_zones),
            duration_ms=duration,
            volume=None,
            max_late_s=120,
            created_at=now,
            enabled=True,
            **calendar.spec_fields(),
        )
        for i, g in enumerate(groups)
    ]
    _, zone_specs, device_specs = timelines.load_specs(db)
    first = min(g.start for g in groups).replace(tzinfo=zone).astimezone(UTC)
    start = max(now, first - timedelta(minutes=1))
    occurrences = planning.plan(
        specs, zone_specs, device_specs, now=start, horizon=timedelta(days=PREVIEW_DAYS)
    )
    seen: dict[datetime, dict[str, Any]] = {}
    for occ in sorted(occurrences, key=lambda o: o.play_at):
        row = seen.setdefault(
            occ.play_at, {"play_at": occ.play_at, "planned_at": occ.planned_at, "targets": []}
        )
        row["targets"].extend(occ.targets)
    rows = list(seen.values())[:PREVIEW_COUNT]
    if len(rows) < PREVIEW_COUNT and calendar.filters:  # lunar days, holidays lie far apart
        later = start + timedelta(days=PREVIEW_DAYS)
        found = first_instants(specs, later, PREVIEW_COUNT - len(rows))
        rows += [{"play_at": t, "planned_at": None, "targets": []} for t in found]
    if not rows and not calendar.filters:  # beyond the planner's window: the rule's instants
        local = sorted(t for g in groups for t in instants(g, limit=PREVIEW_COUNT))
        rows = [
            {"play_at": t.replace(tzinfo=zone), "planned_at": None, "targets": []}
            for t in local[:PREVIEW_COUNT]
        ]
    preview_notes(rows, tz)
    return rows


def _context(
    db: DbDep,
    actor: Actor,
    values: dict[str, str],
    chosen_zones: list[str],
    weekdays: set[int],
    errors: dict[str, str],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "title": "Lập lịch phát",
        "active": BASE,
        "values": values,
        "errors": errors,
        "chosen_zones": set(chosen_zones),
        "weekdays": weekdays,
        "weekday_labels": list(enumerate(WEEKDAY_LABELS_VI)),
        "zone_choices": _zone_choices(db, actor),
        "announcement_options": [("", "— Chọn —")] + [(a.id, a.title) for a in _approved(db)],
        **extra,
    }


@dataclass(frozen=True)
class Mark:
    """One occurrence on a zone's 7-day picture: day row, minute of day, level."""

    day: int
    minute: int
    minutes_long: int
    priority: int
    title: str


def week_timeline(
    db: DbDep, tz: str, now: datetime, *, days: int = 7
) -> list[tuple[str, list[Mark]]]:
    """Per targeted zone, the next `days` days of occurrences as the planner makes them."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    specs, zone_specs, device_specs = timelines.load_specs(db)
    occurrences = planning.plan(
        specs, zone_specs, device_specs, now=today.astimezone(UTC), horizon=timedelta(days=days)
    )
    by_zone: dict[str, list[Mark]] = {}
    for occ in occurrences:
        local = occ.play_at.astimezone(zone)
        day = (local.date() - today.date()).days
        if not 0 <= day < days:
            continue
        mark = Mark(
            day=day,
            minute=local.hour * 60 + local.minute,
            minutes_long=max(1, occ.duration_ms // 60_000),
            priority=occ.priority,
            title=f"{local:%H:%M} {occ.title}",
        )
        for target in occ.targets:
            by_zone.setdefault(target.partition(":")[2], []).append(mark)
    return sorted(by_zone.items())


@router.get(BASE)
def list_page(
    request: Request, actor: PageActor, db: DbDep, now: NowDep, trang: str = ""
) -> Response:
    """Every schedule, newest first, and each zone's next 7 days as a picture."""
    tz = request.app.state.settings.timezone
    page = page_number(trang)
    rows, total = schedules.list_schedules(
        db, announcement_id=None, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
    )
    items = [schedules.schedule_public(s) for s in rows]
    today = now.astimezone(ZoneInfo(tz)).date()
    days = [today + timedelta(days=i) for i in range(7)]
    day_labels = [f"{WEEKDAY_LABELS_VI[d.weekday()]} {d:%d/%m}" for d in days]
    return render(
        request,
        "schedules.html",
        {
            "title": "Lịch phát",
            "active": BASE,
            "rows": items,
            "timeline": week_timeline(db, tz, now),
            "day_labels": day_labels,
            "paging": paginate(page, total),
        },
    )


@router.get(BASE + "/moi")
def new_page(
    request: Request, actor: PageActor, db: DbDep, now: NowDep, announcement: str = ""
) -> Response:
    """The plain-terms schedule form."""
    today = now.astimezone(ZoneInfo(request.app.state.settings.timezone)).date()
    values = {
        "announcement_id": announcement,
        "times": "06:00, 17:00",
        "date_from": today.isoformat(),
        "date_to": (today + timedelta(days=7)).isoformat(),
        "every_weeks": "1",
        "level": "normal",
    }
    return render(request, "schedule_form.html", _context(db, actor, values, [], set(), {}))


@router.post(BASE + "/moi")
async def create(request: Request, uc: PageUseCase) -> Response:
    """Preview the next occurrences (action=preview) or save the schedule(s)."""
    db, actor = uc.db, uc.actor
    tz = uc.settings.timezone
    values, chosen_zones, weekdays = _form(await request.form())
    groups, errors = _parse(values, chosen_zones, weekdays)
    calendar, calendar_errors = parse_calendar_fields(values)
    errors.update(calendar_errors)
    if errors:
        ctx = _context(db, actor, values, chosen_zones, weekdays, errors)
        return render(request, "schedule_form.html", ctx, status=422)
    try:
        ann = announcements.require_approved(db, values["announcement_id"])
        if values.get("action") != "save":
            preview = _preview(db, groups, values, chosen_zones, tz, uc.now, calendar)
            ctx = _context(db, actor, values, chosen_zones, weekdays, {}, preview=preview, tz=tz)
            return render(request, "schedule_form.html", ctx)
        created = [
            schedules.create_schedule(
                uc,
                ScheduleCreate(
                    announcement_id=ann.id,
                    title=ann.title,
                    zones=chosen_zones,
                    rrule=group_rrule(g.rrule, calendar),
                    start=g.start,
                    end=g.end,
                    exdates=list(g.exdates),
                    timezone=tz,
                    level=_level(values),
                    lunar=calendar.lunar,  # validated by the service
                    holidays=calendar.holidays,
                ),
                confirmed=values.get("confirm") == "1",
            )
            for g in groups
        ]
    except Forbidden as exc:
        db.rollback()
        field = "zones" if exc.code == "outside_zone" else "level"
        ctx = _context(db, actor, values, chosen_zones, weekdays, {field: refusal_message(exc)})
        return render(request, "schedule_form.html", ctx, status=403)
    except ServiceError as exc:
        db.rollback()
        on_announcement = "announcement" in exc.code
        errs = {"announcement_id": service_message(exc)} if on_announcement else {}
        ctx = _context(
            db,
            actor,
            values,
            chosen_zones,
            weekdays,
            errs,
            error=None if on_announcement else service_message(exc),
        )
        return render(request, "schedule_form.html", ctx, status=422)
    return RedirectResponse(f"{BASE}/{created[0].id}?tb=saved", status_code=303)


def _ics_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 §3.3.11)."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def schedule_ics(schedule: Any, duration_ms: int, *, stamp: datetime) -> str:
    """The schedule as an iCalendar VEVENT with its recurrence rule, in its own time zone.

    A lunar or holiday schedule lists its instants instead (`ics_instance_lines`): RFC 5545
    cannot say either, and its RRULE alone would show days the schedule never plays.
    """
    tz = ZoneInfo(schedule.timezone)
    start = schedule.start.astimezone(tz)
    listed = ics_instance_lines(schedule, schedule.timezone, now=stamp, duration_ms=duration_ms)
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//commune-pa//lich-phat//VI"]
    if listed == []:
        return "\r\n".join([*head, "END:VCALENDAR"]) + "\r\n"
    lines = [
        *head,
        "BEGIN:VEVENT",
        f"UID:{schedule.id}@commune-pa",
        f"DTSTAMP:{stamp.astimezone(UTC):%Y%m%dT%H%M%SZ}",
        f"DTSTART;TZID={schedule.timezone}:{start:%Y%m%dT%H%M%S}",
        f"DURATION:PT{max(1, round(duration_ms / 1000))}S",
        f"SUMMARY:{_ics_text(schedule.title)}",
        f"LOCATION:{_ics_text(', '.join(schedule.zones + schedule.devices))}",
    ]
    if listed is not None:
        lines = [line for line in lines if not line.startswith("DTSTART")] + listed
    elif schedule.rrule:
        rule = schedule.rrule
        if schedule.end is not None and "UNTIL=" not in rule and "COUNT=" not in rule:
            rule += f";UNTIL={schedule.end.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        lines.append(f"RRULE:{rule}")
    for ex in schedule.exdates:
        lines.append(f"EXDATE;TZID={schedule.timezone}:{ex.astimezone(tz):%Y%m%dT%H%M%S}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


@router.get(BASE + "/{schedule_id}.ics")
def ics_export(schedule_id: str, actor: PageActor, db: DbDep, now: NowDep) -> Response:
    """iCalendar export of one schedule, for any calendar program."""
    try:
        schedule = schedules.get_schedule(db, schedule_id)
    except ServiceError as exc:
        raise Forbidden("not_found", "Không tìm thấy lịch phát.") from exc
    ann = announcements.get_announcement(db, schedule.announcement_id)
    duration = ann.rendition.duration_ms if ann.rendition else 60_000
    body = schedule_ics(schedules.schedule_public(schedule), duration, stamp=now)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="lich-phat-{schedule_id}.ics"'},
    )


@router.get(BASE + "/{schedule_id}")
def detail_page(
    request: Request, schedule_id: str, actor: PageActor, db: DbDep, now: NowDep, tb: str = ""
) -> Response:
    """One schedule and its occurrences over the next 7 days."""
    schedule = schedules.get_schedule(db, schedule_id)
    end = now + timedelta(days=7)
    stored = timelines.stored_statuses(db, schedule_id, now, end)
    occurrences = [
        {"play_at": o.play_at, "targets": o.targets, "status": stored.get(o.id, "planned")}
        for o in timelines.preview(db, schedule_id, start=now, end=end)
        if o.play_at < end
    ]
    return render(
        request,
        "schedule.html",
        {
            "title": schedule.title,
            "active": BASE,
            "schedule": schedules.schedule_public(schedule),
            "occurrences": occurrences,
            "tz": schedule.timezone,
            "flash": "Đã lưu lịch phát." if tb == "saved" else None,
        },
    )
