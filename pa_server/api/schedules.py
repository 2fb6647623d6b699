"""/api/v1/schedules: when and where approved announcements are heard."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from pa_server.api.deps import (
    ConfirmEmergency,
    Limit,
    NowDep,
    Offset,
    SessionDep,
    UseCaseDep,
)
from pa_server.schemas.common import DEFAULT_LIMIT, Page
from pa_server.schemas.schedules import (
    OccurrencePublic,
    ScheduleCreate,
    SchedulePublic,
    ScheduleUpdate,
)
from pa_server.services import schedules, timelines
from pa_server.services.errors import Invalid
from pa_server.services.validation import check_timezone, in_zone, shifted

router = APIRouter(prefix="/schedules", tags=["schedules"])

#: Longest window an occurrence preview may span.
MAX_PREVIEW = timedelta(days=92)


@router.get("", response_model=Page[SchedulePublic])
def list_schedules(
    session: SessionDep,
    announcement_id: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[SchedulePublic]:
    """One page of schedules, newest first."""
    rows, total = schedules.list_schedules(
        session, announcement_id=announcement_id, limit=limit, offset=offset
    )
    items = [schedules.schedule_public(s) for s in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("", response_model=SchedulePublic, status_code=status.HTTP_201_CREATED)
def create_schedule(
    data: ScheduleCreate, uc: UseCaseDep, confirm_emergency: ConfirmEmergency = False
) -> SchedulePublic:
    """Schedule an approved announcement on zones and/or devices."""
    schedule = schedules.create_schedule(uc, data, confirmed=confirm_emergency)
    return schedules.schedule_public(schedule)


@router.get("/{schedule_id}", response_model=SchedulePublic)
def get_schedule(schedule_id: str, session: SessionDep) -> SchedulePublic:
    """One schedule."""
    return schedules.schedule_public(schedules.get_schedule(session, schedule_id))


@router.patch("/{schedule_id}", response_model=SchedulePublic)
def update_schedule(
    schedule_id: str,
    data: ScheduleUpdate,
    uc: UseCaseDep,
    confirm_emergency: ConfirmEmergency = False,
) -> SchedulePublic:
    """Change a schedule (pause with `enabled: false`); checked again as a whole."""
    schedule = schedules.update_schedule(uc, schedule_id, data, confirmed=confirm_emergency)
    return schedules.schedule_public(schedule)


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(schedule_id: str, uc: UseCaseDep) -> None:
    """Remove a schedule."""
    schedules.delete_schedule(uc, schedule_id)


@router.get("/{schedule_id}/occurrences", response_model=list[OccurrencePublic])
def schedule_occurrences(
    schedule_id: str,
    session: SessionDep,
    now: NowDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> list[OccurrencePublic]:
    """The occurrences the planner makes of this schedule in `[from, to)` (default 7 days)."""
    schedule = schedules.get_schedule(session, schedule_id)
    tz = check_timezone(schedule.timezone)
    first = in_zone(start, tz) if start is not None else now
    last = in_zone(end, tz) if end is not None else shifted(first, timedelta(days=7))
    if last <= first:
        raise Invalid("end_before_start", "`to` must lie after `from`")
    if last - first > MAX_PREVIEW:
        raise Invalid("window_too_long", f"at most {MAX_PREVIEW.days} days at once")
    stored = timelines.stored_statuses(session, schedule_id, first, last)
    return [
        OccurrencePublic(
            id=o.id,
            schedule_id=o.schedule_id,
            announcement_id=o.announcement_id,
            title=o.title,
            planned_at=o.planned_at,
            play_at=o.play_at,
            targets=list(o.targets),
            priority=o.priority,
            volume=o.volume,
            max_late_s=o.max_late_s,
            duration_ms=o.duration_ms,
            immediate=False,
            status=stored.get(o.id, "planned"),
        )
        for o in timelines.preview(session, schedule_id, start=first, end=last)
        if o.play_at < last
    ]
