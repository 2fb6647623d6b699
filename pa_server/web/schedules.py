"""Lịch phát: a schedule in plain terms, its next occurrences shown before saving."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from icalendar import Calendar as ICalendar
from icalendar import Event as ICalEvent
from icalendar import vRecur
from starlette.datastructures import FormData

from devices.protocol import Level
from pa_server import planning
from pa_server.api.deps import NowDep
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role
from pa_server.db.models import Announcement, Schedule
from pa_server.planning.recurrence import first_local
from pa_server.schemas.schedules import ScheduleCreate, ScheduleUpdate
from pa_server.services import announcements, rights, schedules, search, timelines, zones
from pa_server.services.context import UseCase
from pa_server.services.errors import ServiceError
from pa_server.web.calendar import (
    CalendarChoice,
    calendar_group,
    calendar_values,
    first_instants,
    ics_instants,
    parse_calendar_fields,
    preview_notes,
)
from pa_server.web.can import can_change_schedule
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.describe import times_vi
from pa_server.web.messages import (
    MESSAGES_VI,
    refusal_field,
    refusal_message,
    refusal_status,
)
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
    plain_of,
    to_rule,
)
from pa_server.web.templating import render

router = APIRouter()

BASE = "/lich-phat"
PREVIEW_COUNT = 10
PREVIEW_DAYS = 14


def _level(values: dict[str, str]) -> Level | None:
    """The chosen level; None ("theo thông báo"): the announcement's own, as the service does."""
    level = values.get("level", "")
    if level in ("normal", "priority", "emergency"):
        return level  # type: ignore[return-value]
    return None


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
) -> tuple[RuleGroup | None, dict[str, str]]:
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
    group: RuleGroup | None = None
    if date_from is not None and "times" not in errors and "every_weeks" not in errors:
        try:
            group = to_rule(
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
    return group, errors


def _data(
    group: RuleGroup,
    ann: Any,
    values: dict[str, str],
    chosen_zones: list[str],
    tz: str,
    calendar: CalendarChoice,
) -> ScheduleCreate:
    """What the form says, as the API would send it (naive instants: wall time in `tz`)."""
    return ScheduleCreate(
        announcement_id=ann.id,
        title=ann.title,
        zones=chosen_zones,
        rrule=group.rrule,
        times=[f"{t:%H:%M}" for t in group.times],
        start=group.start,
        end=group.end,
        exdates=list(group.exdates),
        timezone=tz,
        level=_level(values),
        lunar=calendar.lunar,  # validated by the service
        holidays=calendar.holidays,
    )


def _spec(
    group: RuleGroup,
    ann: Any,
    values: dict[str, str],
    chosen_zones: list[str],
    tz: str,
    now: datetime,
    schedule_id: str | None,
    calendar: CalendarChoice,
) -> planning.ScheduleSpec:
    """The planner's view of the form (an edited schedule keeps its id, so it is not its own
    clash)."""
    zone = ZoneInfo(tz)
    return planning.ScheduleSpec(
        id=schedule_id or "preview",
        announcement_id=ann.id,
        title=ann.title,
        rrule=group.rrule,
        times=group.times,
        start=group.start.replace(tzinfo=zone).astimezone(UTC),
        end=group.end.replace(tzinfo=zone).astimezone(UTC) if group.end else None,
        exdates=tuple(d.replace(tzinfo=zone).astimezone(UTC) for d in group.exdates),
        timezone=tz,
        level=_level(values) or ann.level,
        targets=tuple(f"zone:{z}" for z in chosen_zones),
        duration_ms=ann.rendition.duration_ms if ann.rendition else 60_000,
        volume=None,
        max_late_s=120,
        created_at=now,
        enabled=True,
        **calendar.spec_fields(),
    )


@dataclass(frozen=True)
class Caution:
    """One line of the preview's warnings: what, at which local time of day, how often."""

    kind: str  # "past", "quiet", "clash"
    at: str  # "06:30" (local)
    count: int
    targets: tuple[str, ...] = ()
    other: str = ""
    when: str = ""  # the first such occurrence, "17:15, Thứ Sáu 04/12/2026"


def _warnings(seen: schedules.Outlook, tz: str, now: datetime) -> list[Caution]:
    """The outlook's problems grouped by time of day, so 14 days of 23:00 read as one line."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    out: list[Caution] = []
    past = [p.astimezone(zone) for p in seen.past if p.astimezone(zone).date() == today]
    for passed in sorted({p.time() for p in past}):
        out.append(Caution("past", f"{passed:%H:%M}", 1))
    grouped: dict[tuple[str, str, str], list[datetime]] = {}
    targets: dict[tuple[str, str, str], set[str]] = {}
    for skip in seen.skipped:
        if skip.reason not in ("quiet_hours", "shifted_into_quiet_hours"):
            continue
        key = ("quiet", f"{skip.planned_at.astimezone(zone):%H:%M}", "")
        grouped.setdefault(key, []).append(skip.planned_at)
        targets.setdefault(key, set()).add(skip.target)
    for clash in seen.clashes:
        key = ("clash", f"{clash.planned_at.astimezone(zone):%H:%M}", clash.other_title)
        grouped.setdefault(key, []).append(clash.planned_at)
        targets.setdefault(key, set()).update(clash.targets)
    for (kind, at, other), instants_ in sorted(grouped.items()):
        first = min(instants_).astimezone(zone)
        out.append(
            Caution(
                kind,
                at,
                len(set(instants_)),
                tuple(sorted(targets[(kind, at, other)])),
                other,
                f"{WEEKDAY_LABELS_VI[first.weekday()]} {first:%d/%m/%Y}",
            )
        )
    return out


def _preview(
    uc: UseCase, spec: planning.ScheduleSpec, group: RuleGroup, tz: str
) -> tuple[list[dict[str, Any]], list[Caution]]:
    """Next occurrences as the planner will play them (quiet hours, clashes), and warnings;
    each row with its day's notes (holiday, lunar date)."""
    zone = ZoneInfo(tz)
    seen = schedules.outlook(uc.db, spec, now=uc.now, horizon=timedelta(days=PREVIEW_DAYS))
    rows: list[dict[str, Any]] = [
        {"play_at": o.play_at, "planned_at": o.planned_at, "targets": list(o.targets)}
        for o in seen.occurrences
        if o.play_at >= uc.now  # one that already passed today is not "sắp tới"
    ][:PREVIEW_COUNT]
    filtered = spec.lunar is not None or spec.holidays != "include"
    if len(rows) < PREVIEW_COUNT and filtered:  # lunar days, holidays lie far apart
        later = uc.now + timedelta(days=PREVIEW_DAYS)
        found = first_instants([spec], later, PREVIEW_COUNT - len(rows))
        rows += [{"play_at": t, "planned_at": None, "targets": []} for t in found]
    if not rows and not filtered:  # beyond the preview's window: the rule's own instants
        local = [
            t.replace(tzinfo=zone)
            for t in instants(group, limit=PREVIEW_COUNT)
            if t.replace(tzinfo=zone) >= uc.now
        ]
        rows = [{"play_at": t, "planned_at": None, "targets": []} for t in local]
    preview_notes(rows, tz)
    return rows, _warnings(seen, tz, uc.now)


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
        "action_url": BASE + "/moi",
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
    request: Request,
    actor: PageActor,
    db: DbDep,
    now: NowDep,
    trang: str = "",
    tb: str = "",
    q: str = "",
) -> Response:
    """Every schedule, newest first (searchable), and each zone's next 7 days as a picture."""
    tz = request.app.state.settings.timezone
    page = page_number(trang)
    term = search.term(q)
    rows, total = schedules.list_schedules(
        db, announcement_id=None, limit=PER_PAGE, offset=(page - 1) * PER_PAGE, search=term
    )
    items = [schedules.schedule_public(s) for s in rows]
    changeable = {s.id for s in rows if can_change_schedule(db, actor, s)}
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
            "q": term or "",
            "paging": paginate(page, total, query={"q": term or ""}),
            "changeable": changeable,
            "flash": "Đã xóa lịch phát." if tb == "deleted" else None,
        },
    )


def _own_zones(db: DbDep, actor: Actor) -> list[str]:
    """The zones the form starts with: the operator's own (nobody else's are pre-ticked)."""
    if actor.role is not Role.OPERATOR:
        return []
    known = {z.path for z in _zone_choices(db, actor)}
    return [z for z in actor.zones if z in known]


@router.get(BASE + "/moi")
def new_page(
    request: Request, actor: PageActor, db: DbDep, now: NowDep, announcement: str = ""
) -> Response:
    """The plain-terms schedule form, started with the operator's zone and the text's level."""
    today = now.astimezone(ZoneInfo(request.app.state.settings.timezone)).date()
    values = {
        "announcement_id": announcement,
        "times": "06:00, 17:00",
        "date_from": today.isoformat(),
        "date_to": (today + timedelta(days=7)).isoformat(),
        "every_weeks": "1",
        "level": "",
    }
    if announcement:
        found = db.get(Announcement, announcement)
        if found is not None and found.level in ("normal", "priority"):
            values["level"] = found.level
    ctx = _context(db, actor, values, _own_zones(db, actor), set(), {})
    return render(request, "schedule_form.html", ctx)


def _refused(
    request: Request,
    uc: UseCase,
    exc: ServiceError | Forbidden,
    form: tuple[dict[str, str], list[str], set[int]],
    **extra: Any,
) -> Response:
    """The form again with the refusal beside its field (or above the buttons)."""
    uc.db.rollback()
    values, chosen_zones, weekdays = form
    field = refusal_field(exc)
    if isinstance(exc, ServiceError) and "announcement" in exc.code:
        field = "announcement_id"
    errors = {field: refusal_message(exc)} if field else {}
    ctx = _context(
        uc.db,
        uc.actor,
        values,
        chosen_zones,
        weekdays,
        errors,
        error=None if field else refusal_message(exc),
        **extra,
    )
    return render(request, "schedule_form.html", ctx, status=refusal_status(exc))


async def _submit(request: Request, uc: UseCase, schedule_id: str | None) -> Response:
    """Preview (action=preview) or save a new schedule / the edited `schedule_id`."""
    db, actor = uc.db, uc.actor
    tz = uc.settings.timezone
    form = _form(await request.form())
    values, chosen_zones, weekdays = form
    extra: dict[str, Any] = {}
    if schedule_id is not None:
        extra = {"editing": schedule_id, "action_url": f"{BASE}/{schedule_id}/sua"}
        extra["title"] = "Sửa lịch phát"
    group, errors = _parse(values, chosen_zones, weekdays)
    calendar, calendar_errors = parse_calendar_fields(values)
    errors.update(calendar_errors)
    if errors or group is None:
        ctx = _context(db, actor, values, chosen_zones, weekdays, errors, **extra)
        return render(request, "schedule_form.html", ctx, status=422)
    confirmed = values.get("confirm") == "1"
    try:
        ann = announcements.require_approved(db, values["announcement_id"])
        group = calendar_group(group, calendar)
        data = _data(group, ann, values, chosen_zones, tz, calendar)
        if values.get("action") != "save":
            spec = _spec(group, ann, values, chosen_zones, tz, uc.now, schedule_id, calendar)
            # The service's refusal (nothing would play), said before anything is saved.
            schedules.require_plays(db, spec, uc.now)
            preview, warnings = _preview(uc, spec, group, tz)
            ctx = _context(
                db,
                actor,
                values,
                chosen_zones,
                weekdays,
                {},
                preview=preview,
                warnings=warnings,
                tz=tz,
                times_said=times_vi(group.times),
                **extra,
            )
            return render(request, "schedule_form.html", ctx)
        if schedule_id is None:
            saved = schedules.create_schedule(uc, data, confirmed=confirmed)
            flash = "saved"
        else:
            update = ScheduleUpdate(**data.model_dump(exclude={"max_late_s", "enabled", "volume"}))
            saved = schedules.update_schedule(uc, schedule_id, update, confirmed=confirmed)
            flash = "edited"
    except (Forbidden, ServiceError) as exc:
        return _refused(request, uc, exc, form, **extra)
    return RedirectResponse(f"{BASE}/{saved.id}?tb={flash}", status_code=303)


@router.post(BASE + "/moi")
async def create(request: Request, uc: PageUseCase) -> Response:
    """Preview the next occurrences and warnings (action=preview) or save the schedule."""
    return await _submit(request, uc, None)


def _changeable(db: DbDep, actor: Actor, schedule_id: str) -> Schedule:
    """The schedule, if this person may change it; otherwise refused as the service would."""
    schedule = schedules.get_schedule(db, schedule_id)
    if not can_change_schedule(db, actor, schedule):
        rights.require_schedule(db, actor, schedule)  # raises the service's own refusal
        raise Forbidden("not_writer", "Bạn không được sửa lịch phát.")
    return schedule


@router.get(BASE + "/{schedule_id}/sua")
def edit_page(request: Request, schedule_id: str, actor: PageActor, db: DbDep) -> Response:
    """The schedule in the plain-terms form; a rule the form cannot say is not offered."""
    schedule = _changeable(db, actor, schedule_id)
    public = schedules.schedule_public(schedule)
    zone = ZoneInfo(public.timezone)
    plain = plain_of(
        public.rrule,
        schedules.times_of(schedule),
        public.start.astimezone(zone).replace(tzinfo=None),
        public.end.astimezone(zone).replace(tzinfo=None) if public.end else None,
        tuple(d.astimezone(zone).replace(tzinfo=None) for d in public.exdates),
    )
    if plain is None or public.devices:
        return RedirectResponse(f"{BASE}/{schedule_id}?tb=custom", status_code=303)
    days = plain.pop("weekdays")
    weekdays = {int(d) for d in days} if isinstance(days, list) else set()
    values = {k: str(v) for k, v in plain.items()}
    values |= {"announcement_id": public.announcement_id, "level": public.level}
    values |= calendar_values(public.lunar, public.holidays)
    ctx = _context(
        db,
        actor,
        values,
        public.zones,
        weekdays,
        {},
        editing=schedule_id,
        action_url=f"{BASE}/{schedule_id}/sua",
        title="Sửa lịch phát",
    )
    return render(request, "schedule_form.html", ctx)


@router.post(BASE + "/{schedule_id}/sua")
async def edit(request: Request, schedule_id: str, uc: PageUseCase) -> Response:
    """Preview or save the edited schedule (checked again as a whole by the service)."""
    return await _submit(request, uc, schedule_id)


def _set_enabled(uc: UseCase, schedule_id: str, enabled: bool, flash: str) -> Response:
    try:
        schedules.update_schedule(uc, schedule_id, ScheduleUpdate(enabled=enabled))
    except ServiceError as exc:
        uc.db.rollback()
        code = exc.code if exc.code in ("schedule_in_past", "all_in_quiet_hours") else "failed"
        return RedirectResponse(f"{BASE}/{schedule_id}?loi={code}", status_code=303)
    return RedirectResponse(f"{BASE}/{schedule_id}?tb={flash}", status_code=303)


@router.post(BASE + "/{schedule_id}/tam-dung")
def pause(schedule_id: str, uc: PageUseCase) -> Response:
    """Pause: nothing of this schedule plays until it is resumed."""
    return _set_enabled(uc, schedule_id, False, "paused")


@router.post(BASE + "/{schedule_id}/chay-lai")
def resume(schedule_id: str, uc: PageUseCase) -> Response:
    """Resume a paused schedule (refused with the reason if nothing would play)."""
    return _set_enabled(uc, schedule_id, True, "resumed")


@router.get(BASE + "/{schedule_id}/xoa")
def delete_page(request: Request, schedule_id: str, actor: PageActor, db: DbDep) -> Response:
    """Ask before deleting: what the schedule is, and that its broadcasts stop."""
    schedule = _changeable(db, actor, schedule_id)
    return render(
        request,
        "schedule_delete.html",
        {
            "title": "Xóa lịch phát",
            "active": BASE,
            "schedule": schedules.schedule_public(schedule),
        },
    )


@router.post(BASE + "/{schedule_id}/xoa")
def delete(schedule_id: str, uc: PageUseCase) -> Response:
    """Delete the schedule (audited by the service); back to the list."""
    schedules.delete_schedule(uc, schedule_id)
    return RedirectResponse(f"{BASE}?tb=deleted", status_code=303)


def _ics_event(schedule: Any, uid: str, duration_ms: int, stamp: datetime) -> ICalEvent:
    """A VEVENT of `schedule` with what every one of its series shares."""
    event = ICalEvent()
    event.add("uid", f"{uid}@commune-pa")
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("duration", timedelta(seconds=max(1, round(duration_ms / 1000))))
    event.add("summary", schedule.title)
    event.add("location", ", ".join(schedule.zones + schedule.devices))
    return event


def schedule_ics(schedule: Any, duration_ms: int, *, stamp: datetime) -> str:
    """The schedule as iCalendar, in its own time zone: one VEVENT, or one per time of day.

    Built with `icalendar`, which escapes TEXT values, folds every content line at 75 octets of
    UTF-8 without splitting a character (Vietnamese titles pass that easily) and writes the
    VTIMEZONE that each TZID must have (RFC 5545 §3.1, §3.2.19).

    RFC 5545 says a VEVENT SHOULD NOT hold several RRULEs, so a schedule with several times
    of day is one event series per time (UIDs `<id>-HHMM@commune-pa`), each with the same
    days rule narrowed to its time and its own first instant as DTSTART.

    A lunar or holiday schedule is one VEVENT listing its instants, every time of day included
    (`ics_instants`): RFC 5545 cannot say either filter, and its RRULE alone would show
    days the schedule never plays.
    """
    tz = ZoneInfo(schedule.timezone)
    calendar = ICalendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", "-//commune-pa//lich-phat//VI")
    start = schedule.start.astimezone(tz)
    listed = ics_instants(schedule, schedule.timezone, now=stamp, duration_ms=duration_ms)
    if listed is not None:
        if listed.instants:
            event = _ics_event(schedule, schedule.id, duration_ms, stamp)
            event.add("dtstart", listed.instants[0])
            for instant in listed.instants[1:]:
                event.add("rdate", instant)  # one per line, as each RDATE is its own instant
            event.add("comment", listed.note)
            calendar.add_component(event)
        return _ics_body(calendar, start)
    times = [time.fromisoformat(t) for t in schedule.times or []]
    series: list[tuple[str, datetime | None, str | None]] = []
    until = None
    if schedule.end is not None:
        until = schedule.end.astimezone(tz).replace(tzinfo=None)
    if not times:
        series.append(("", start.replace(tzinfo=None), schedule.rrule))
    for at in times:
        if schedule.rrule is None:
            first: datetime | None = datetime.combine(start.date(), at)
            rule = None
        else:
            rule = planning.timed_rule(schedule.rrule, at)
            first = first_local(rule, start.replace(tzinfo=None), until=until)
        series.append((f"-{at:%H%M}", first, rule))
    for suffix, first, rule in series:
        if first is None:
            continue
        event = _ics_event(schedule, f"{schedule.id}{suffix}", duration_ms, stamp)
        event.add("dtstart", first.replace(tzinfo=tz))
        if rule:
            if schedule.end is not None and "UNTIL=" not in rule and "COUNT=" not in rule:
                rule += f";UNTIL={schedule.end.astimezone(UTC):%Y%m%dT%H%M%SZ}"
            event.add("rrule", vRecur.from_ical(rule))
        for ex in schedule.exdates:
            local = ex.astimezone(tz)
            if not suffix or f"-{local:%H%M}" == suffix:
                event.add("exdate", local)
        calendar.add_component(event)
    return _ics_body(calendar, start)


def _ics_body(calendar: ICalendar, start: datetime) -> str:
    """The calendar as text, with the VTIMEZONE its TZIDs name, from the schedule's start on
    (one offset for Việt Nam since 1975, rather than every change since 1970)."""
    calendar.add_missing_timezones(first_date=start.date() - timedelta(days=1))
    body: bytes = calendar.to_ical()
    return body.decode()


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


FLASHES = {
    "saved": "Đã lưu lịch phát.",
    "edited": "Đã lưu thay đổi của lịch phát.",
    "paused": "Đã tạm dừng lịch phát: các buổi phát sắp tới sẽ không phát.",
    "resumed": "Lịch phát đã chạy lại.",
    "custom": "Lịch này được lập bằng quy tắc lặp riêng: ở đây chỉ tạm dừng, chạy lại "
    "hoặc xóa được.",
}


@router.get(BASE + "/{schedule_id}")
def detail_page(
    request: Request,
    schedule_id: str,
    actor: PageActor,
    db: DbDep,
    now: NowDep,
    tb: str = "",
    loi: str = "",
) -> Response:
    """One schedule, its occurrences over the next 7 days, and what this person may do."""
    schedule = schedules.get_schedule(db, schedule_id)
    end = now + timedelta(days=7)
    stored = timelines.stored_statuses(db, schedule_id, now, end)
    occurrences = [
        {"play_at": o.play_at, "targets": o.targets, "status": stored.get(o.id, "planned")}
        for o in timelines.preview(db, schedule_id, start=now, end=end)
        if o.play_at < end
    ]
    error = None
    if loi:
        error = MESSAGES_VI.get(loi, "Không làm được việc này ở trạng thái hiện tại.")
    return render(
        request,
        "schedule.html",
        {
            "title": schedule.title,
            "active": BASE,
            "schedule": schedules.schedule_public(schedule),
            "occurrences": occurrences,
            "tz": schedule.timezone,
            "flash": FLASHES.get(tb),
            "error": error,
            "may_change": can_change_schedule(db, actor, schedule),
        },
    )
