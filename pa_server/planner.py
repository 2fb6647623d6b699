"""Broadcast planning, pure: schedules (RFC 5545 rules) → occurrences for the next hours.

No clock, no database, no network: `now` and every spec are passed in. See
`pa_server.planning.engine` for the rules (window, quiet hours, sequencing, ids, replanning).
"""

from pa_server.planning.engine import (
    GAP,
    affected_targets,
    plan,
    plan_result,
    plan_window,
    replan,
)
from pa_server.planning.model import (
    DEFAULT_HORIZON,
    DEFAULT_QUIET_END,
    DEFAULT_QUIET_START,
    DEFAULT_TIMEZONE,
    LEVEL_PRIORITY,
    DeviceSpec,
    Level,
    Occurrence,
    PlanError,
    PlanResult,
    ScheduleSpec,
    Skipped,
    SkipReason,
    ZoneSpec,
    occurrence_id,
)
from pa_server.planning.recurrence import expand, validate_rrule

__all__ = [
    "DEFAULT_HORIZON",
    "DEFAULT_QUIET_END",
    "DEFAULT_QUIET_START",
    "DEFAULT_TIMEZONE",
    "GAP",
    "LEVEL_PRIORITY",
    "DeviceSpec",
    "Level",
    "Occurrence",
    "PlanError",
    "PlanResult",
    "ScheduleSpec",
    "SkipReason",
    "Skipped",
    "ZoneSpec",
    "affected_targets",
    "expand",
    "occurrence_id",
    "plan",
    "plan_result",
    "plan_window",
    "replan",
    "validate_rrule",
]
