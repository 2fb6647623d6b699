"""Schedules: when and where an approved announcement is heard — one function per use case.

A schedule is checked as if it were created in the form it will have (targets, level,
announcement, times); changing or removing one also needs the right to it as it stands, so an
operator cannot take over an admin's emergency schedule by editing it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.protocol import format_instant, parse_instant
from pa_server import planning
from pa_server.auth import audit
from pa_server.db.models import Announcement, Schedule, ScheduleTarget
from pa_server.schemas.schedules import ScheduleCreate, SchedulePublic, ScheduleUpdate
from pa_server.services import rights
from pa_server.services.announcements import require_approved
from pa_server.services.context import UseCase
from pa_server.services.devices import require_device
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Invalid, NotFound
from pa_server.services.timelines import schedule_spec
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


def _apply(session: Session, schedule: Schedule, fields: dict[str, Any]) -> None:
    """Validate the full set of a schedule's fields together and write them onto `schedule`."""
    ann = require_approved(session, fields["announcement_id"])
    tz_name = fields["timezone"]
    tz = check_timezone(tz_name)
    start = in_zone(fields["start"], tz)
    end = in_zone(fields["end"], tz) if fields["end"] is not None else None
    if end is not None and end < start:
        raise Invalid("end_before_start", "the end lies before the start")
    rule = check_rrule(fields["rrule"]) if fields["rrule"] else None
    rule = _apply_calendar(schedule, fields, rule)
    exdates = sorted(format_instant(in_zone(d, tz)) for d in fields["exdates"])
    schedule.announcement_id = ann.id
    schedule.title = (fields["title"] or ann.title).strip()
    schedule.rrule = rule
    schedule.start_at = start
    schedule.end_at = end
    schedule.exdates = exdates
    schedule.timezone = tz_name
    schedule.level = fields["level"] or ann.level
    schedule.volume = check_volume(fields["volume"])
    schedule.max_late_s = fields["max_late_s"]
    schedule.enabled = fields["enabled"]
    schedule.targets = _targets(session, fields["zones"], fields["devices"])
    try:
        # The planner's own checks, so nothing it would refuse is stored and silently skipped.
        spec = schedule_spec(
            schedule, duration_ms=ann.rendition.duration_ms if ann.rendition else 1
        )
        planning.check_calendar(spec)
    except planning.PlanError as exc:
        raise Invalid(exc.code, exc.message) from exc


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
    _apply(uc.db, schedule, fields)
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
    for listed in ("zones", "devices", "exdates"):
        fields[listed] = fields[listed] or []
    if "level" in changes and changes["level"] is None:
        # No level given: the announcement's own, as when creating.
        ann = uc.db.get(Announcement, fields["announcement_id"])
        fields["level"] = ann.level if ann is not None else current["level"]
    _resulting_rights(uc, fields, confirmed=confirmed)
    before = sorted(t.target for t in schedule.targets)
    _apply(uc.db, schedule, fields)
    schedule.set_by = uc.actor.username
    schedule.updated_at = uc.now
    uc.db.flush()
    after = sorted(t.target for t in schedule.targets)
    if before != after:
        # Replaced targets are deleted as orphans inside the flush, out of the row audit's sight.
        audit.record(
            uc.db,
            "update",
            "schedule_targets",
            schedule.id,
            before={"targets": before},
            after={"targets": after},
            now=uc.now,
        )
    mark_plan_dirty(uc.db)
    return schedule


def list_schedules(
    session: Session, *, announcement_id: str | None, limit: int, offset: int
) -> tuple[list[Schedule], int]:
    """One page of schedules, newest first; and the total."""
    query = select(Schedule)
    if announcement_id is not None:
        query = query.where(Schedule.announcement_id == announcement_id)
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
