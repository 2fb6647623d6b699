"""The planner's values: schedules, zones, devices in; occurrences and skips out; its errors."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The TT39 levels and their priorities are the wire protocol's, defined once in
# devices/protocol.py; re-exported here (`as`) for the planner's callers.
from devices.protocol import EMERGENCY_PRIORITY as EMERGENCY_PRIORITY
from devices.protocol import LEVEL_PRIORITY as LEVEL_PRIORITY
from devices.protocol import Level as Level
from devices.protocol import ProtocolError, parse_target, validate_device_id, validate_zone_path

if TYPE_CHECKING:
    from pa_server.planning.calendar import HolidayPolicy, LunarRule

DEFAULT_TIMEZONE: Final = "Asia/Ho_Chi_Minh"
DEFAULT_HORIZON: Final = timedelta(hours=48)
DEFAULT_QUIET_START: Final = time(21, 30)
DEFAULT_QUIET_END: Final = time(5, 0)

# Fixed namespace so occurrence ids are stable across processes, restarts and machines.
OCCURRENCE_NAMESPACE: Final = uuid.UUID("6f1f3a52-6d1c-5b7e-9a43-0c8e2f1d7a10")


class PlanError(ValueError):
    """Bad planner input; `code` is machine-readable (API `detail` code), `str()` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@lru_cache(maxsize=512)
def timezone_of(name: str) -> ZoneInfo:
    """The `ZoneInfo` for an IANA name, or `PlanError(code="unknown_timezone")`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PlanError("unknown_timezone", f"unknown time zone {name!r}") from exc


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PlanError("naive_datetime", f"{name} must carry a time zone, got {value.isoformat()}")


def _check_target(target: str) -> None:
    try:
        parse_target(target)
    except ProtocolError as exc:
        raise PlanError("invalid_target", str(exc)) from exc


def occurrence_id(schedule_id: str, planned_at: datetime) -> str:
    """Deterministic occurrence id: uuid5 over (schedule id, planned instant in UTC ISO)."""
    _require_aware("planned_at", planned_at)
    instant = planned_at.astimezone(UTC).isoformat()
    return str(uuid.uuid5(OCCURRENCE_NAMESPACE, f"{schedule_id}|{instant}"))


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """One schedule as the planner sees it; construction validates everything but the targets'
    existence (that needs the zone tree, see `PlanResult.skipped`).

    `rrule` is an RFC 5545 RRULE value without DTSTART (None: one-off at `start`). `times`
    (local times of day) says when on each day the rule picks: the rule is then run once per
    time with BYHOUR/BYMINUTE/BYSECOND set to it (with no rule: each time on `start`'s date,
    from `start` on). Empty: the rule's own time parts, else `start`'s time. `exdates`
    holds aware datetimes (one occurrence, matched by local date and time in `timezone`) and/or
    plain `date`s (every occurrence on that local date). `lunar` and `holidays` filter the
    rule's instants by their local date (see `pa_server.planning.calendar`).
    """

    id: str
    announcement_id: str
    title: str
    rrule: str | None
    start: datetime
    end: datetime | None
    exdates: tuple[datetime | date, ...]
    timezone: str
    level: Level
    targets: tuple[str, ...]
    duration_ms: int
    volume: int | None
    max_late_s: int
    created_at: datetime
    enabled: bool = True
    times: tuple[time, ...] = ()
    lunar: LunarRule | None = None
    holidays: HolidayPolicy = "include"

    def __post_init__(self) -> None:
        # Imported here: both modules import this one.
        from pa_server.planning.calendar import check_policy
        from pa_server.planning.recurrence import validate_rrule, validate_times

        _require_aware("start", self.start)
        _require_aware("created_at", self.created_at)
        if self.end is not None:
            _require_aware("end", self.end)
            if self.end < self.start:
                raise PlanError("end_before_start", "the end lies before the start")
        for ex in self.exdates:
            if isinstance(ex, datetime):
                _require_aware("an exception date", ex)
        timezone_of(self.timezone)
        if self.rrule is not None:
            validate_rrule(self.rrule)
        validate_times(self.rrule, self.times)
        check_policy(self.holidays)
        if (self.lunar is not None or self.holidays != "include") and self.rrule is None:
            raise PlanError(
                "calendar_needs_rrule",
                "lunar days and holiday rules choose among a repeating rule's days: give rrule",
            )
        if self.level not in LEVEL_PRIORITY:
            raise PlanError("invalid_level", f"level must be one of {sorted(LEVEL_PRIORITY)}")
        if not self.targets:
            raise PlanError("no_targets", "a schedule needs at least one zone or device")
        for target in self.targets:
            _check_target(target)
        if self.duration_ms <= 0:
            raise PlanError("invalid_duration", "duration_ms must be positive")
        if self.max_late_s < 0:
            raise PlanError("invalid_max_late", "max_late_s must not be negative")
        if self.volume is not None and not 0 <= self.volume <= 100:
            raise PlanError("invalid_volume", "volume must be between 0 and 100")

    @property
    def priority(self) -> int:
        """Wire priority of this schedule's level."""
        return LEVEL_PRIORITY[self.level]


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A zone and its quiet hours in local time of `timezone`.

    Both quiet times None: inherit from the nearest ancestor zone (the root falls back to
    21:30–05:00). `quiet_start == quiet_end`: this zone has no quiet hours at all. A start
    later than the end crosses midnight.
    """

    path: str
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        try:
            validate_zone_path(self.path)
        except ProtocolError as exc:
            raise PlanError("invalid_zone_path", str(exc)) from exc
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise PlanError(
                "invalid_quiet_hours", "give both quiet-hour bounds or neither (to inherit)"
            )
        timezone_of(self.timezone)


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A loudspeaker agent and the zone it sits in."""

    id: str
    zone_path: str

    def __post_init__(self) -> None:
        try:
            validate_device_id(self.id)
            validate_zone_path(self.zone_path)
        except ProtocolError as exc:
            raise PlanError("invalid_device", str(exc)) from exc


@dataclass(frozen=True, slots=True)
class PlannedOccurrence:
    """One planned broadcast: every target starts it at `play_at` (UTC).

    `planned_at` is the rule's instant (it names the occurrence); `play_at` is later only when
    the occurrence was sequenced after a higher one on a shared loudspeaker.
    """

    id: str
    schedule_id: str
    announcement_id: str
    title: str
    planned_at: datetime
    play_at: datetime
    targets: tuple[str, ...]
    priority: int
    volume: int | None
    max_late_s: int
    duration_ms: int


SkipReason = Literal["quiet_hours", "shifted_into_quiet_hours", "unknown_zone", "unknown_device"]


@dataclass(frozen=True, slots=True)
class Skipped:
    """One target of one occurrence that will not sound, and why (for the UI)."""

    schedule_id: str
    occurrence_id: str
    planned_at: datetime
    target: str
    reason: SkipReason
    play_at: datetime | None = None  # the shifted instant, for "shifted_into_quiet_hours"


@dataclass(frozen=True)
class PlanResult:
    """Everything `plan_result` found: occurrences to send, targets skipped with reasons.

    `expansions` caches each schedule's rule instants for `window` so that the next call with
    `previous=` this result re-expands only schedules that changed.
    """

    now: datetime
    horizon: timedelta
    occurrences: tuple[PlannedOccurrence, ...]
    skipped: tuple[Skipped, ...]
    window: tuple[datetime, datetime]
    # schedule id → (the spec expanded, its instants in `window`)
    expansions: dict[str, tuple[ScheduleSpec, tuple[datetime, ...]]] = field(
        default_factory=dict, repr=False
    )
