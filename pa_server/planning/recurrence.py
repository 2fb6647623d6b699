"""RFC 5545 recurrence: validate RRULE text and expand a schedule into UTC instants.

Rules run on naive local wall time in the schedule's zone (python-dateutil), so "every day at
06:00" stays at 06:00 local across DST changes; each instant is then placed in the zone. A
local time that a DST change skips (e.g. 02:30 in Berlin on the spring Sunday) sounds at the
instant the clock shows 03:30; a local time that occurs twice sounds once, at the first.

Every scan of a rule is bounded. dateutil walks period after period until it finds an instant
or passes year 9999, so a rule that never matches (30 February, a BYSETPOS past the set) made
it walk some 8,000 years — seconds of CPU per request. The Gregorian calendar repeats exactly
every 400 years (146,097 days, a whole number of weeks), so a rule run 400·k years later gives
the same instants shifted by 400·k years: probes and expansions run in the calendar's last
years, where dateutil's own end (9999) stops a fruitless walk after at most `SCAN_YEARS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from typing import Final

from dateutil.rrule import DAILY, rrule, rrulestr

from pa_server.planning.calendar import SEARCH_DAYS, first_day, keeps
from pa_server.planning.model import PlanError, ScheduleSpec, timezone_of

MAX_PER_DAY: Final = 48  # more than one every 30 minutes on a loudspeaker is a mistake
#: Most times of day one schedule may name.
MAX_TIMES: Final = 12
#: Rule parts that say the time of day, which a schedule's `times` list says instead.
_TIME_PARTS: Final = ("BYHOUR", "BYMINUTE", "BYSECOND")
_PROBE_DAYS: Final = 7
_NEVER_YEARS: Final = 10
_DUMMY: Final = datetime(2000, 1, 3, 0, 0)  # a Monday, so weekly probes start a full week
#: The Gregorian calendar's period: weekdays and leap years repeat exactly after it.
CYCLE_YEARS: Final = 400
#: Validation probes start here: a Monday whose ten years end where dateutil stops (9999), so
#: a rule without an instant in them is refused after scanning ten years, not 8,000.
_PROBE: Final = datetime(MAXYEAR - _NEVER_YEARS + 1, 1, 1, 0, 0)
#: The most calendar years any scan of a rule walks past the end of its window.
SCAN_YEARS: Final = CYCLE_YEARS
# Rule instants are computed on local wall time; this much slack on each side of the window
# covers any UTC offset change (DST moves clocks by at most 2 hours anywhere).
_TZ_SLACK: Final = timedelta(hours=3)

_FREQS: Final = {"YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"}
_UNTIL_RE: Final = re.compile(r"(?:^|;)UNTIL=([^;]*)")
_UNTIL_VALUE_RE: Final = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")


@dataclass(frozen=True, slots=True)
class Rule:
    """A parsed, validated RRULE: a dateutil template (dtstart to be replaced) and its UNTIL.

    UNTIL is kept out of the template and applied by `expand`, since its three RFC forms
    (date, floating local time, UTC instant) need the schedule's zone to compare.
    """

    text: str
    template: rrule
    freq: str
    interval: int
    has_count: bool
    until_date: date | None = None
    until_local: datetime | None = None
    until_utc: datetime | None = None


_ONE_OFF: Final = Rule("", rrule(DAILY, count=1, dtstart=_DUMMY), "DAILY", 1, True)


def _invalid(text: str, why: str) -> PlanError:
    return PlanError("invalid_rrule", f"invalid recurrence rule {text!r}: {why}")


def _split_until(text: str, body: str) -> tuple[str, dict[str, object]]:
    match = _UNTIL_RE.search(body)
    if match is None:
        return body, {}
    value = _UNTIL_VALUE_RE.match(match.group(1))
    if value is None:
        raise _invalid(text, "UNTIL must be YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ")
    rest = (body[: match.start()] + body[match.end() :]).strip(";")
    try:
        day = datetime.strptime(value.group(1), "%Y%m%d").date()
        if value.group(2) is None:
            return rest, {"until_date": day}
        clock = datetime.strptime(value.group(2), "%H%M%S").time()
    except ValueError as exc:
        raise _invalid(text, f"UNTIL is not a real date or time ({exc})") from exc
    moment = datetime.combine(day, clock)
    if value.group(3):
        return rest, {"until_utc": moment.replace(tzinfo=UTC)}
    return rest, {"until_local": moment}


@lru_cache(maxsize=65536)
def parse_rule(text: str) -> Rule:
    """Parse and validate one RRULE value (optionally prefixed `RRULE:`), or raise `PlanError`."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    upper = body.upper()
    if not body:
        raise _invalid(text, "it is empty")
    if "\n" in body or "\r" in body:
        raise _invalid(text, "give one RRULE line only; start, end and exceptions are separate")
    if "DTSTART" in upper:
        raise _invalid(text, "DTSTART is not allowed in the rule; the start is a separate field")
    if any(word in upper for word in ("EXDATE", "RDATE", "EXRULE")):
        raise _invalid(text, "only RRULE is accepted; exception dates are a separate field")
    if "BYEASTER" in upper:
        # A dateutil extension, not RFC 5545; Easter does not repeat with the 400-year cycle
        # that bounds every scan.
        raise _invalid(text, "BYEASTER is not part of RFC 5545")
    upper_parts = dict(p.partition("=")[::2] for p in upper.split(";") if p)
    freq = upper_parts.get("FREQ")
    if freq not in _FREQS:
        raise _invalid(text, f"FREQ must be one of {', '.join(sorted(_FREQS))}")
    if freq in ("SECONDLY", "MINUTELY"):
        raise PlanError(
            "rrule_too_frequent",
            f"recurrence rule {text!r} repeats every second or minute; use HOURLY or slower",
        )
    if "COUNT" in upper_parts and "UNTIL" in upper_parts:
        raise _invalid(text, "COUNT and UNTIL must not both be given (RFC 5545)")
    interval = upper_parts.get("INTERVAL", "1")
    if not (interval.isascii() and interval.isdigit()) or int(interval) < 1:
        raise _invalid(text, "INTERVAL must be a positive whole number")
    rest, until = _split_until(text, body.upper())
    try:
        template = rrulestr(rest, dtstart=_DUMMY)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise _invalid(text, str(exc) or type(exc).__name__) from exc
    if not isinstance(template, rrule):  # rrulestr returns an rruleset only for several lines
        raise _invalid(text, "give one RRULE line only")
    _check_rate(text, template)
    return Rule(
        text=text,
        template=template,
        freq=freq,
        interval=int(interval),
        has_count="COUNT" in upper_parts,
        **until,  # type: ignore[arg-type]
    )


def _check_rate(text: str, template: rrule) -> None:
    probe = template.replace(dtstart=_PROBE)
    probe_end = _PROBE + timedelta(days=_PROBE_DAYS)
    limit = MAX_PER_DAY * _PROBE_DAYS
    # Both probes stop at year 9999, ten years on: a rule that never matches (30 February, a
    # BYSETPOS beyond its set) is refused after a bounded scan instead of one to year 9999.
    first = list(islice(probe.xafter(_PROBE, inc=True), limit + 1))
    count = sum(1 for dt in first if dt < probe_end)
    if count > limit:
        raise PlanError(
            "rrule_too_frequent",
            f"recurrence rule {text!r} sounds more than {MAX_PER_DAY} times a day",
        )
    if not first:
        raise PlanError(
            "rrule_never_occurs",
            f"recurrence rule {text!r} has no occurrence within {_NEVER_YEARS} years",
        )


def cycle_shift(year: int) -> int:
    """Whole 400-year cycles to add to `year` so it falls within the calendar's last cycle."""
    return CYCLE_YEARS * max(0, (MAXYEAR - year) // CYCLE_YEARS)


def _shifted(moment: datetime, years: int) -> datetime:
    # A multiple of 400 years keeps 29 February a real date, and the weekday of every date.
    return moment.replace(year=moment.year + years)


def first_local(text: str, start: datetime, *, until: datetime | None = None) -> datetime | None:
    """The first local instant of RRULE `text` from naive `start` (inclusive), or None.

    None when there is none before `until` (if given) or within `SCAN_YEARS` of `start`;
    raises `PlanError` for a bad rule.
    """
    rule = parse_rule(text)
    years = cycle_shift((until or start).year)
    shifted = rule.template.replace(dtstart=_shifted(start, years))
    found = shifted.after(_shifted(start, years), inc=True)
    if found is None:
        return None
    found = _shifted(found, -years)
    return None if until is not None and found > until else found


def validate_rrule(text: str) -> None:
    """Raise `PlanError` (code `invalid_rrule`, `rrule_too_frequent`, `rrule_never_occurs`)
    unless `text` is a usable RRULE value for a loudspeaker schedule."""
    parse_rule(text)


def validate_times(text: str | None, times: tuple[time, ...]) -> None:
    """Raise `PlanError` unless `times` (local times of day) can go with RRULE `text`.

    A rule that picks times itself (BYHOUR/BYMINUTE/BYSECOND, HOURLY) would be run once per
    listed time and multiply; COUNT would count per time. Both are refused.
    """
    if not times:
        return
    if len(set(times)) != len(times):
        raise PlanError("duplicate_times", "each time of day may be listed once")
    if len(times) > MAX_TIMES:
        raise PlanError("too_many_times", f"at most {MAX_TIMES} times of day")
    if any(t.second or t.microsecond or t.tzinfo is not None for t in times):
        raise PlanError("invalid_times", "times of day are local hours and minutes")
    if text is None:
        return
    rule = parse_rule(text)
    parts = {p.partition("=")[0] for p in rule.text.upper().removeprefix("RRULE:").split(";")}
    if rule.freq == "HOURLY" or parts & set(_TIME_PARTS) or rule.has_count:
        raise PlanError(
            "times_conflict",
            "with `times`, the rule must not set BYHOUR, BYMINUTE, BYSECOND or COUNT "
            "and must repeat daily or slower",
        )


def timed_rule(text: str, at: time) -> str:
    """RRULE `text` narrowed to one local time of day (the form the planner expands)."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    return f"{body};BYHOUR={at.hour};BYMINUTE={at.minute};BYSECOND=0"


def _anchor(rule: Rule, start: datetime, lower: datetime) -> datetime:
    """Move a rule's local start forward by whole periods to just before `lower`.

    dateutil iterates from DTSTART; a daily campaign started a year ago would otherwise walk
    365 days on every plan. Shifting by whole periods keeps every default taken from DTSTART
    (time of day, weekday) and the period grid (INTERVAL, WKST), so the instants from `lower`
    on are unchanged. COUNT counts from the real start, so such rules are never shifted.
    """
    if rule.has_count or start >= lower:
        return start
    if rule.freq == "DAILY":
        period = timedelta(days=rule.interval)
    elif rule.freq == "WEEKLY":
        period = timedelta(weeks=rule.interval)
    elif rule.freq == "HOURLY":
        period = timedelta(hours=rule.interval)
    else:  # monthly and yearly walk few periods anyway
        return start
    return start + ((lower - start) // period) * period


@lru_cache(maxsize=65536)
def _instants(
    rule: Rule, anchor: datetime, lower: datetime, upper: datetime, tz_name: str
) -> tuple[tuple[datetime, datetime], ...]:
    """(local wall time, UTC instant) pairs of `rule` from `anchor` within [lower, upper]."""
    tz = timezone_of(tz_name)
    # Run in the calendar's last cycle: `between` walks on to the first instant past `upper`,
    # which for a rule that never matches from this anchor would be year 9999.
    years = cycle_shift(upper.year)
    rule_from_anchor = rule.template.replace(dtstart=_shifted(anchor, years))
    locals_ = (
        _shifted(local, -years)
        for local in rule_from_anchor.between(
            _shifted(lower, years), _shifted(upper, years), inc=True
        )
    )
    return tuple((local, local.replace(tzinfo=tz).astimezone(UTC)) for local in locals_)


@lru_cache(maxsize=256)
def _local_window(start: datetime, end: datetime, tz_name: str) -> tuple[datetime, datetime]:
    """A UTC window as local wall times in `tz_name`, widened by `_TZ_SLACK` on each side."""
    tz = timezone_of(tz_name)
    return (
        (start - _TZ_SLACK).astimezone(tz).replace(tzinfo=None),
        (end + _TZ_SLACK).astimezone(tz).replace(tzinfo=None),
    )


def expand(
    spec: ScheduleSpec, window_start: datetime, window_end: datetime
) -> tuple[datetime, ...]:
    """UTC instants of `spec` in [window_start, window_end) ∩ [start, end], minus exdates, on
    the local days its lunar rule and holiday policy keep (at each of its `times`)."""
    if spec.times:
        found: set[datetime] = set()
        for at in spec.times:
            found.update(_expand_one(spec, at, window_start, window_end))
        return tuple(sorted(found))
    return _expand_one(spec, None, window_start, window_end)


def _expand_one(
    spec: ScheduleSpec, at: time | None, window_start: datetime, window_end: datetime
) -> tuple[datetime, ...]:
    """`expand` for the rule as stored (`at` None) or narrowed to one time of day."""
    tz = timezone_of(spec.timezone)
    if spec.rrule is None:
        rule = _ONE_OFF
    elif at is None:
        rule = parse_rule(spec.rrule)
    else:
        rule = parse_rule(timed_rule(spec.rrule, at))
    start_local = spec.start.astimezone(tz).replace(tzinfo=None)
    window_lower, upper = _local_window(window_start, window_end, spec.timezone)
    lower = max(start_local, window_lower)
    if lower > upper:
        return ()
    # Lower bound at the hour so that schedules sharing a rule and a time of day share a cache
    # entry whatever their start; the start itself is applied below.
    lower = lower.replace(minute=0, second=0, microsecond=0)
    if rule is _ONE_OFF:
        local = start_local if at is None else datetime.combine(start_local.date(), at)
        pairs: tuple[tuple[datetime, datetime], ...] = (
            (local, local.replace(tzinfo=tz).astimezone(UTC)),
        )
    else:
        anchor = _anchor(rule, start_local, lower)
        pairs = _instants(rule, anchor, lower, upper, spec.timezone)
    low_utc = max(window_start, spec.start)
    high_utc = window_end
    end_utc = spec.end
    if rule.until_utc is not None and (end_utc is None or rule.until_utc < end_utc):
        end_utc = rule.until_utc
    until_local = rule.until_local
    if rule.until_date is not None:
        until_local = datetime.combine(rule.until_date, time(23, 59, 59, 999999))
    ex_local, ex_days = _exceptions(spec, tz_name=spec.timezone)
    filtered = spec.lunar is not None or spec.holidays != "include"
    out = []
    for local, utc in pairs:
        if utc < low_utc or utc >= high_utc or (end_utc is not None and utc > end_utc):
            continue
        if until_local is not None and local > until_local:
            continue
        if local in ex_local or (ex_days and local.date() in ex_days):
            continue
        if filtered and not keeps(local.date(), spec.lunar, spec.holidays):
            continue
        out.append(utc)
    return tuple(out)


def _exceptions(spec: ScheduleSpec, tz_name: str) -> tuple[frozenset[datetime], frozenset[date]]:
    """Exception dates as local wall times (one occurrence) and local dates (a whole day)."""
    if not spec.exdates:
        return frozenset(), frozenset()
    tz = timezone_of(tz_name)
    moments = set()
    days = set()
    for ex in spec.exdates:
        if isinstance(ex, datetime):
            moments.add(ex.astimezone(tz).replace(tzinfo=None))
        else:
            days.add(ex)
    return frozenset(moments), frozenset(days)


def check_calendar(spec: ScheduleSpec) -> None:
    """Raise `PlanError(code="calendar_never_occurs")` when `spec` has a lunar rule or holiday
    policy and no instant within `SEARCH_DAYS` of its start (or before its end).

    Kept out of `ScheduleSpec` construction, which runs on every plan: this scans up to three
    years of the rule, so it runs when a schedule is written.
    """
    if spec.lunar is None and spec.holidays == "include":
        return
    tz = timezone_of(spec.timezone)
    if first_day(spec.start.astimezone(tz).date(), spec.lunar, spec.holidays) is not None:
        last = spec.start + timedelta(days=SEARCH_DAYS)
        if spec.end is not None:
            last = min(last, spec.end + timedelta(microseconds=1))
        step = timedelta(days=92)
        low = spec.start
        while low < last:
            if expand(spec, low, min(low + step, last)):
                return
            low += step
    raise PlanError(
        "calendar_never_occurs",
        "the rule has no occurrence on the chosen lunar days or holidays"
        f" within {SEARCH_DAYS // 366} years of the start (or before the end)",
    )
