"""Schedules: when and where an approved announcement is heard — one function per use case.

A schedule is checked as if it were created in the form it will have (targets, level,
announcement, times); changing or removing one also needs the right to it as it stands, so an
operator cannot take over an admin's emergency schedule by editing it.

Several times of day are one schedule: `times` ("06:30", "17:15") beside a rule that says only
which days. An RRULE's BYHOUR × BYMINUTE is a cross product, so 06:30 and 17:15 cannot share
one rule, and RFC 5545 says a VEVENT SHOULD NOT carry several RRULEs; a list of times is what
the operator said, every consumer (planner, API, .ics export, pages) reads it the same way.

A schedule that would play nothing (a range already past, every time inside quiet hours) is
refused with the reason (`Outlook`), so it is never saved to stay silent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from devices.protocol import format_instant, parse_instant
from pa_server import planning
from pa_server.auth import audit
from pa_server.db.models import Announcement, Schedule, ScheduleTarget
from pa_server.schemas.schedules import ScheduleCreate, SchedulePublic, ScheduleUpdate
from pa_server.services import rights
from pa_server.services import search as search_in
from pa_server.services.announcements import require_approved
from pa_server.services.context import UseCase
from pa_server.services.devices import require_device
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Invalid, NotFound
from pa_server.services.timelines import load_specs, schedule_spec, tree_specs
from pa_server.services.validation import check_timezone, check_volume, in_zone
from pa_server.services.zones import require_zone


def get_schedule(session: Session, schedule_id: str) -> Schedule:
    """The schedule, or `NotFound`."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("schedule_not_found", f"no schedule {schedule_id!r}")
    return schedule


def check_rrule(rule: str) -> str:
    """An RRULE value the planner accepts (an `RRULE:` prefix is dropped), or `Invalid`."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    try:
        planning.validate_rrule(text)
    except planning.PlanError as exc:
        raise Invalid(exc.code, f"invalid rule {rule!r}: {exc.message}") from exc
    return text


def parse_times(values: list[str]) -> tuple[time, ...]:
    """ "HH:MM" strings → sorted local times without repeats, or `Invalid`."""
    out: set[time] = set()
    for value in values:
        try:
            out.add(time.fromisoformat(value))
        except ValueError as exc:
            raise Invalid("invalid_times", f"{value!r} is not a time of day HH:MM") from exc
    return tuple(sorted(out))


def times_of(schedule: Schedule) -> tuple[time, ...]:
    """A stored schedule's times of day (empty: the rule's or the start's own)."""
    return tuple(time.fromisoformat(t) for t in schedule.times or [])


# --- Calendars (lunar days, public holidays): see pa_server.planning.calendar -------------


def check_lunar(lunar: dict[str, Any] | None) -> planning.LunarRule | None:
    """The lunar rule `{"days": […], "months": […]}` describes, or `Invalid`."""
    try:
        return planning.lunar_rule(lunar)
    except planning.PlanError as exc:
        raise Invalid(exc.code, exc.message) from exc


def _apply_calendar(schedule: Schedule, fields: dict[str, Any], rule: str | None) -> str | None:
    """Write the lunar rule and holiday policy; the RRULE they filter (FREQ=DAILY if none)."""
    lunar = check_lunar(fields.get("lunar"))
    policy = fields.get("holidays") or "include"
    schedule.lunar = (
        None if lunar is None else {"days": list(lunar.days), "months": list(lunar.months)}
    )
    schedule.holidays = policy
    if rule is None and (lunar is not None or policy != "include"):
        return "FREQ=DAILY"  # the filters choose days; without a rule every day is a candidate
    return rule


def _targets(session: Session, zones: list[str], devices: list[str]) -> list[ScheduleTarget]:
    if not zones and not devices:
        raise Invalid("no_targets", "name at least one zone or device")
    targets = [
        ScheduleTarget(zone_path=require_zone(session, z).path) for z in dict.fromkeys(zones)
    ]
    targets += [
        ScheduleTarget(device_id=require_device(session, d).id) for d in dict.fromkeys(devices)
    ]
    return targets


def _apply(session: Session, schedule: Schedule, fields: dict[str, Any]) -> planning.ScheduleSpec:
    """Validate the full set of a schedule's fields together and write them onto `schedule`."""
    ann = require_approved(session, fields["announcement_id"])
    tz_name = fields["timezone"]
    tz = check_timezone(tz_name)
    start = in_zone(fields["start"], tz)
    end = in_zone(fields["end"], tz) if fields["end"] is not None else None
    if end is not None and end < start:
        raise Invalid("end_before_start", "the end lies before the start")
    rule = check_rrule(fields["rrule"]) if fields["rrule"] else None
    times = parse_times(fields["times"] or [])
    rule = _apply_calendar(schedule, fields, rule)
    exdates = sorted(format_instant(in_zone(d, tz)) for d in fields["exdates"])
    schedule.announcement_id = ann.id
    schedule.title = (fields["title"] or ann.title).strip()
    schedule.rrule = rule
    schedule.times = [f"{t:%H:%M}" for t in times]
    schedule.start_at = start
    schedule.end_at = end
    schedule.exdates = exdates
    schedule.timezone = tz_name
    schedule.level = fields["level"] or ann.level
    schedule.volume = check_volume(fields["volume"])
    schedule.max_late_s = fields["max_late_s"]
    schedule.enabled = fields["enabled"]
    targets = _targets(session, fields["zones"], fields["devices"])
    if sorted(t.target for t in targets) != sorted(t.target for t in schedule.targets):
        # Same places: the rows stay (no "removed and added Xã A" in the audit on a pause).
        schedule.targets = targets
    try:
        # The planner's own checks, so nothing it would refuse is stored and silently skipped.
        spec = schedule_spec(
            schedule, duration_ms=ann.rendition.duration_ms if ann.rendition else 1
        )
        planning.check_calendar(spec)
    except planning.PlanError as exc:
        raise Invalid(exc.code, exc.message) from exc
    return spec


#: How far ahead a new or changed schedule is looked at for something that would play.
LOOK_AHEAD = timedelta(days=60)
#: How far ahead the first instant of a rule is searched for.
FIRST_WITHIN = timedelta(days=400)
#: … and of a rule filtered by lunar days or public holidays, which may keep one day a year
#: or fewer (the span `planning.check_calendar` accepts a schedule over).
FIRST_FILTERED_WITHIN = timedelta(days=planning.calendar.SEARCH_DAYS)
_SEARCH_STEP = timedelta(days=92)


@dataclass(frozen=True)
class Clash:
    """One of this schedule's occurrences overlapping another broadcast on a loudspeaker."""

    planned_at: datetime
    other_title: str
    other_play_at: datetime
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Outlook:
    """What a schedule would do from `now`: what plays, what does not and why."""

    occurrences: tuple[planning.PlannedOccurrence, ...]
    #: Targets left silent (quiet hours, shifted into them); `reason` says which.
    skipped: tuple[planning.Skipped, ...]
    #: Instants from the start up to now that have passed (they will not play).
    past: tuple[datetime, ...]
    clashes: tuple[Clash, ...]


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two lineages reach a common loudspeaker when one is the other's ancestor (or itself)."""
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def outlook(
    session: Session,
    spec: planning.ScheduleSpec,
    *,
    now: datetime,
    horizon: timedelta,
    with_others: bool = True,
) -> Outlook:
    """Plan `spec` from `now` over `horizon` among every other enabled schedule (nothing stored).

    Other schedules are planned with it, so a clash shows as this schedule's occurrence being
    moved (or pushed into quiet hours) exactly as the real plan will do it.
    """
    zones, devices = tree_specs(session)
    others = [s for s in load_specs(session)[0] if s.id != spec.id] if with_others else []
    result = planning.plan_result([*others, spec], zones, devices, now=now, horizon=horizon)
    mine = tuple(o for o in result.occurrences if o.schedule_id == spec.id)
    index = planning.ZoneIndex(zones, devices)

    def lineages(targets: tuple[str, ...]) -> list[tuple[str, ...]]:
        return [index.lineage(t) for t in targets]

    clashes: list[Clash] = []
    theirs = [o for o in result.occurrences if o.schedule_id != spec.id]
    for occ in mine:
        start = occ.planned_at
        end = start + timedelta(milliseconds=occ.duration_ms)
        own = lineages(occ.targets)
        for other in theirs:
            other_end = other.play_at + timedelta(milliseconds=other.duration_ms)
            if other.play_at >= end + planning.GAP or other_end + planning.GAP <= start:
                continue
            shared = tuple(
                t
                for t, line in zip(occ.targets, own, strict=True)
                if any(_overlap(line, o) for o in lineages(other.targets))
            )
            if shared:
                clashes.append(Clash(occ.planned_at, other.title, other.play_at, shared))
    past: tuple[datetime, ...] = ()
    if spec.start < now:
        past = planning.expand(spec, max(spec.start, now - timedelta(days=1)), now)
    return Outlook(
        occurrences=mine,
        skipped=tuple(s for s in result.skipped if s.schedule_id == spec.id),
        past=past,
        clashes=tuple(clashes),
    )


def require_plays(session: Session, spec: planning.ScheduleSpec, now: datetime) -> None:
    """Refuse (`Invalid`, with the reason as code) a schedule from which nothing would play.

    `schedule_in_past`: every instant lies before `now`; `all_in_quiet_hours`: the instants
    ahead all fall in the quiet hours of every target; `nothing_would_play`: no instant within
    `FIRST_WITHIN` (`FIRST_FILTERED_WITHIN` for lunar or holiday schedules, whose kept days
    may lie months apart), e.g. the exception dates remove all of them.
    """
    filtered = spec.lunar is not None or spec.holidays != "include"
    ahead: tuple[datetime, ...] = ()
    low, within = now, FIRST_FILTERED_WITHIN if filtered else FIRST_WITHIN
    while not ahead and low < now + within:  # in steps: the first found ends the search
        high = min(low + _SEARCH_STEP, now + within)
        ahead = planning.expand(spec, low, high)
        low = high
    if not ahead:
        before = planning.expand(spec, max(spec.start, now - FIRST_WITHIN), now)
        if (spec.end is not None and spec.end < now) or before:
            raise Invalid("schedule_in_past", "every broadcast of this schedule lies in the past")
        raise Invalid("nothing_would_play", "this schedule has no broadcast ahead")
    last = ahead[0] + LOOK_AHEAD  # within FIRST_FILTERED_WITHIN + LOOK_AHEAD: no overflow
    if spec.end is not None:
        last = min(last, spec.end)
    last += timedelta(milliseconds=1)  # an instant right at the end still counts
    # Planned from just before its first instant: a lunar schedule's may lie years ahead.
    since = max(now, ahead[0] - timedelta(minutes=1))
    seen = outlook(session, spec, now=since, horizon=last - since, with_others=False)
    if not seen.occurrences:
        if any(s.reason in ("quiet_hours", "shifted_into_quiet_hours") for s in seen.skipped):
            raise Invalid(
                "all_in_quiet_hours",
                "every broadcast of this schedule falls in its zones' quiet hours",
            )
        raise Invalid("nothing_would_play", "no broadcast of this schedule would play")


def _resulting_rights(uc: UseCase, fields: dict[str, Any], *, confirmed: bool) -> None:
    """Refuse the schedule `fields` describe unless `uc.actor` could create it as it is."""
    targets = [f"zone:{z.strip('/')}" for z in fields["zones"] or []]
    targets += [f"device:{d}" for d in fields["devices"] or []]
    ann = uc.db.get(Announcement, fields["announcement_id"])
    level = fields["level"] or (ann.level if ann is not None else "normal")
    if ann is not None and ann.level == "emergency":
        level = "emergency"  # an emergency text on air is an emergency, whatever the label
    rights.require_new_schedule(uc.db, uc.actor, targets=targets, level=level, confirmed=confirmed)


def create_schedule(uc: UseCase, data: ScheduleCreate, *, confirmed: bool = False) -> Schedule:
    """A new schedule of an approved announcement (`confirmed`: an emergency, explicitly)."""
    fields = data.model_dump()
    fields["timezone"] = fields["timezone"] or uc.settings.timezone
    _resulting_rights(uc, fields, confirmed=confirmed)
    schedule = Schedule(
        id=str(uuid.uuid4()), set_by=uc.actor.username, created_at=uc.now, updated_at=uc.now
    )
    spec = _apply(uc.db, schedule, fields)
    if schedule.enabled:
        require_plays(uc.db, spec, uc.now)
    uc.db.add(schedule)
    uc.db.flush()
    mark_plan_dirty(uc.db)
    return schedule


def _fields(schedule: Schedule) -> dict[str, Any]:
    return {
        "announcement_id": schedule.announcement_id,
        "title": schedule.title,
        "zones": [t.zone_path for t in schedule.targets if t.zone_path],
        "devices": [t.device_id for t in schedule.targets if t.device_id],
        "rrule": schedule.rrule,
        "times": list(schedule.times or []),
        "start": schedule.start_at,
        "end": schedule.end_at,
        "exdates": [parse_instant(d) for d in schedule.exdates],
        "timezone": schedule.timezone,
        "level": schedule.level,
        "volume": schedule.volume,
        "max_late_s": schedule.max_late_s,
        "enabled": schedule.enabled,
        "lunar": schedule.lunar,
        "holidays": schedule.holidays,
    }


def update_schedule(
    uc: UseCase, schedule_id: str, data: ScheduleUpdate, *, confirmed: bool = False
) -> Schedule:
    """Change any field (pause, resume, edit); the result is checked and validated as a whole."""
    schedule = get_schedule(uc.db, schedule_id)
    rights.require_schedule(uc.db, uc.actor, schedule)
    current = _fields(schedule)
    changes = data.model_dump(exclude_unset=True)
    fields = {**current, **changes}
    for required in ("announcement_id", "start", "timezone", "max_late_s", "enabled", "holidays"):
        if fields[required] is None:
            fields[required] = current[required]
    for listed in ("zones", "devices", "exdates", "times"):
        fields[listed] = fields[listed] or []
    if "level" in changes and changes["level"] is None:
        # No level given: the announcement's own, as when creating.
        ann = uc.db.get(Announcement, fields["announcement_id"])
        fields["level"] = ann.level if ann is not None else current["level"]
    _resulting_rights(uc, fields, confirmed=confirmed)
    before = sorted(t.target for t in schedule.targets)
    was_enabled = schedule.enabled
    spec = _apply(uc.db, schedule, fields)
    when_or_where = set(changes) - {"title", "volume", "level", "max_late_s", "enabled"}
    if schedule.enabled and (when_or_where or not was_enabled):
        # A paused schedule may stay as it is; one that is to play must have something to play.
        require_plays(uc.db, spec, uc.now)
    schedule.set_by = uc.actor.username
    schedule.updated_at = uc.now
    uc.db.flush()
    record_target_change(uc, schedule, before)
    mark_plan_dirty(uc.db)
    return schedule


def record_target_change(uc: UseCase, schedule: Schedule, before: list[str]) -> None:
    """Audit a flushed schedule's targets when they differ from `before` (sorted names).

    Replaced targets are deleted as orphans inside the flush, out of the row audit's sight.
    """
    after = sorted(t.target for t in schedule.targets)
    if before != after:
        audit.record(
            uc.db,
            "update",
            "schedule_targets",
            schedule.id,
            before={"targets": before},
            after={"targets": after},
            now=uc.now,
        )


def list_schedules(
    session: Session,
    *,
    announcement_id: str | None,
    limit: int,
    offset: int,
    search: str | None = None,
) -> tuple[list[Schedule], int]:
    """One page of schedules, newest first; and the total.

    `search` matches the schedule's and its announcement's title, who set it, and the zones
    and loudspeakers it plays on by name or id (in SQL).
    """
    query = select(Schedule)
    if announcement_id is not None:
        query = query.where(Schedule.announcement_id == announcement_id)
    if search:
        titled = select(Announcement.id).where(search_in.contains(search, Announcement.title))
        zones = search_in.zone_paths_named(session, search)
        devices = search_in.device_ids_named(session, search)
        targeted = select(ScheduleTarget.schedule_id).where(
            or_(ScheduleTarget.zone_path.in_(zones), ScheduleTarget.device_id.in_(devices))
        )
        query = query.where(
            or_(
                search_in.contains(search, Schedule.title),
                search_in.actor_match(session, search, Schedule.set_by),
                Schedule.announcement_id.in_(titled),
                Schedule.id.in_(targeted),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Schedule.created_at.desc(), Schedule.id).limit(limit).offset(offset)
    )
    return list(rows), total


def delete_schedule(uc: UseCase, schedule_id: str) -> None:
    """Remove a schedule; its future occurrences leave the timelines at the next plan."""
    schedule = get_schedule(uc.db, schedule_id)
    rights.require_schedule(uc.db, uc.actor, schedule)
    targets = sorted(t.target for t in schedule.targets)
    uc.db.delete(schedule)
    uc.db.flush()
    audit.record(
        uc.db, "delete", "schedule_targets", schedule_id, before={"targets": targets}, now=uc.now
    )
    mark_plan_dirty(uc.db)


def schedule_public(schedule: Schedule) -> SchedulePublic:
    """The API view of a schedule."""
    return SchedulePublic(
        id=schedule.id,
        announcement_id=schedule.announcement_id,
        title=schedule.title,
        zones=[t.zone_path for t in schedule.targets if t.zone_path],
        devices=[t.device_id for t in schedule.targets if t.device_id],
        rrule=schedule.rrule,
        times=list(schedule.times or []),
        start=schedule.start_at,
        end=schedule.end_at,
        exdates=[parse_instant(d) for d in schedule.exdates],
        timezone=schedule.timezone,
        level=schedule.level,
        volume=schedule.volume,
        max_late_s=schedule.max_late_s,
        enabled=schedule.enabled,
        lunar=schedule.lunar,  # validated into LunarDays
        holidays=schedule.holidays,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )
