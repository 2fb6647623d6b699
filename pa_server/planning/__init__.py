"""The planner's parts: values (`model`), RFC 5545 rules (`recurrence`), the zone tree
(`zones`), sequencing on shared loudspeakers (`sequencing`) and the plan itself (`engine`).

Import from `pa_server.planner`, the public surface.

Exceptions: one, `PlanError` (a `ValueError`), with a machine `code` — `invalid_rrule`,
`rrule_too_frequent`, `rrule_never_occurs`, `unknown_timezone`, `naive_datetime`,
`end_before_start`, `invalid_level`, `no_targets`, `invalid_target`, `invalid_duration`,
`invalid_max_late`, `invalid_volume`, `invalid_zone_path`, `invalid_quiet_hours`,
`invalid_device` — and a message for people. Specs raise it when constructed, so an invalid
spec never reaches `plan`; a target naming a zone or device that does not exist is not an
error there but a `Skipped` entry.
"""
