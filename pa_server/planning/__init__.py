"""The planner's parts: values (`model`), RFC 5545 rules (`recurrence`), the zone tree
(`zones`), Vietnamese holidays and lunar days (`calendar`), sequencing on shared loudspeakers
(`sequencing`) and the plan itself (`engine`).

This package's namespace is the planner's public surface: import from `pa_server.planning`.

Exceptions: one, `PlanError` (a `ValueError`), with a machine `code` — `invalid_rrule`,
`rrule_too_frequent`, `rrule_never_occurs`, `unknown_timezone`, `naive_datetime`,
`end_before_start`, `invalid_level`, `no_targets`, `invalid_target`, `invalid_duration`,
`invalid_max_late`, `invalid_volume`, `invalid_zone_path`, `invalid_quiet_hours`,
`invalid_device`, `times_conflict`, `too_many_times`, `duplicate_times`, `invalid_times`,
`invalid_lunar_day`, `invalid_lunar_month`, `invalid_lunar_date`, `invalid_holiday_policy`,
`calendar_needs_rrule`, `calendar_never_occurs` — and a message for people. Specs raise it
when constructed (except `calendar_never_occurs`, which `check_calendar` raises), so an invalid
spec never reaches `plan`; a target naming a zone or device that does not exist is not an
error there but a `Skipped` entry.
"""

from pa_server.planning.calendar import (
    HOLIDAY_POLICIES,
    HolidayPolicy,
    LunarDay,
    LunarRule,
    lunar_day,
    lunar_rule,
    public_holiday,
    public_holidays,
)
from pa_server.planning.engine import (
    GAP,
    plan,
    plan_result,
    plan_window,
)
from pa_server.planning.model import (
    DEFAULT_HORIZON,
    DEFAULT_QUIET_END,
    DEFAULT_QUIET_START,
    DEFAULT_TIMEZONE,
    LEVEL_PRIORITY,
    DeviceSpec,
    Level,
    PlanError,
    PlannedOccurrence,
    PlanResult,
    ScheduleSpec,
    Skipped,
    SkipReason,
    ZoneSpec,
    occurrence_id,
)
from pa_server.planning.recurrence import (
    check_calendar,
    expand,
    timed_rule,
    validate_rrule,
    validate_times,
)
from pa_server.planning.zones import ZoneIndex

__all__ = [
    "DEFAULT_HORIZON",
    "DEFAULT_QUIET_END",
    "DEFAULT_QUIET_START",
    "DEFAULT_TIMEZONE",
    "GAP",
    "HOLIDAY_POLICIES",
    "LEVEL_PRIORITY",
    "DeviceSpec",
    "HolidayPolicy",
    "Level",
    "LunarDay",
    "LunarRule",
    "PlanError",
    "PlanResult",
    "PlannedOccurrence",
    "ScheduleSpec",
    "SkipReason",
    "Skipped",
    "ZoneIndex",
    "ZoneSpec",
    "check_calendar",
    "expand",
    "lunar_day",
    "lunar_rule",
    "occurrence_id",
    "plan",
    "plan_result",
    "plan_window",
    "public_holiday",
    "public_holidays",
    "timed_rule",
    "validate_rrule",
    "validate_times",
]
