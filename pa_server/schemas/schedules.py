"""Schedule and occurrence shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from pa_server.schemas.announcements import Level
from pa_server.schemas.common import UTC, Input, Output, SingleLine

#: A local time of day, 24-hour "HH:MM".
TimeOfDay = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["06:30"])]
TIMES_DESCRIPTION = (
    'local times of day (HH:MM) the rule plays at, e.g. ["06:30", "17:15"]; the rule then '
    "says only which days (no BYHOUR/BYMINUTE/BYSECOND/COUNT). Empty: the rule's or start's time"
)

#: Public holidays: ordinary days ("include"), days without the schedule ("skip"), or its only
#: days ("only"). Vietnamese public holidays, see `pa_server.planning.calendar`.
HolidayPolicy = Literal["include", "skip", "only"]


class LunarDays(Input):
    """Lunar days the schedule's rule is kept on (Vietnamese lunar calendar, UTC+7)."""

    days: list[int] = Field(
        max_length=30,
        description="lunar days of the month, 1–30 (30 in a 29-day month: its last day)",
    )
    months: list[int] = Field(
        default_factory=list,
        max_length=12,
        description="lunar months 1–12 (regular months only); empty: every month, leap included",
    )


class ScheduleCreate(Input):
    """Naive instants (`start`, `end`, `exdates`) are wall time in `timezone`."""

    announcement_id: SingleLine
    title: SingleLine | None = Field(default=None, max_length=300)
    zones: list[SingleLine] = Field(default_factory=list)
    devices: list[SingleLine] = Field(default_factory=list)
    rrule: SingleLine | None = Field(default=None, max_length=1000, description="RFC 5545 RRULE")
    times: list[TimeOfDay] = Field(default_factory=list, description=TIMES_DESCRIPTION)
    start: datetime
    end: datetime | None = None
    exdates: list[datetime] = Field(default_factory=list)
    timezone: SingleLine | None = None
    level: Level | None = Field(default=None, description="default: the announcement's")
    volume: int | None = None
    max_late_s: int = Field(default=120, ge=0, le=24 * 3600)
    enabled: bool = True
    lunar: LunarDays | None = Field(
        default=None, description="keep only these lunar days; without rrule: FREQ=DAILY"
    )
    holidays: HolidayPolicy = "include"


class ScheduleUpdate(Input):
    announcement_id: SingleLine | None = None
    title: SingleLine | None = Field(default=None, max_length=300)
    zones: list[SingleLine] | None = None
    devices: list[SingleLine] | None = None
    rrule: SingleLine | None = Field(default=None, max_length=1000)
    times: list[TimeOfDay] | None = Field(default=None, description=TIMES_DESCRIPTION)
    start: datetime | None = None
    end: datetime | None = None
    exdates: list[datetime] | None = None
    timezone: SingleLine | None = None
    level: Level | None = None
    volume: int | None = None
    max_late_s: int | None = Field(default=None, ge=0, le=24 * 3600)
    enabled: bool | None = None
    lunar: LunarDays | None = Field(default=None, description="null: remove the lunar rule")
    holidays: HolidayPolicy | None = None


class SchedulePublic(Output):
    id: str
    announcement_id: str
    title: str
    zones: list[str]
    devices: list[str]
    rrule: str | None
    times: list[str]
    start: UTC
    end: UTC | None
    exdates: list[UTC]
    timezone: str
    level: Level
    volume: int | None
    max_late_s: int
    enabled: bool
    lunar: LunarDays | None = None
    holidays: HolidayPolicy = "include"
    created_at: UTC
    updated_at: UTC


class OccurrencePublic(Output):
    id: str
    schedule_id: str | None
    #: None for a live session not made from an announcement (microphone, relay by hand).
    announcement_id: str | None
    title: str
    planned_at: UTC
    play_at: UTC
    targets: list[str]
    priority: int
    volume: int | None
    max_late_s: int
    duration_ms: int
    immediate: bool
    status: str
