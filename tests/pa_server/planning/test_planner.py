"""The planner: rule expansion, quiet hours, sequencing, horizon, ids, replanning (table-driven).

Helpers at the top (`sched`, `tree`, `vn`) are shared with `test_planner_properties.py`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from dateutil.rrule import rrulestr

from pa_server.planning import (
    GAP,
    DeviceSpec,
    PlanError,
    PlannedOccurrence,
    ScheduleSpec,
    ZoneSpec,
    expand,
    occurrence_id,
    plan,
    plan_result,
    validate_rrule,
)
from pa_server.planning.model import OCCURRENCE_NAMESPACE

VN = "Asia/Ho_Chi_Minh"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A Vietnam local time as an aware UTC instant (UTC+7, no DST)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC) - timedelta(hours=7)


def sched(
    rrule: str | None = "FREQ=DAILY;BYHOUR=6;BYMINUTE=0",
    *,
    id: str = "s1",
    start: datetime | None = None,
    end: datetime | None = None,
    exdates: tuple[datetime | date, ...] = (),
    targets: tuple[str, ...] = ("zone:d/c1",),
    level: str = "normal",
    duration_s: int = 60,
    created: int = 0,
    max_late_s: int = 120,
    timezone: str = VN,
    **extra: Any,
) -> ScheduleSpec:
    """A schedule; `created` is seconds after a fixed creation instant (orders ties)."""
    return ScheduleSpec(
        id=id,
        announcement_id=f"a-{id}",
        title=f"Bản tin {id}",
        rrule=rrule,
        start=start or vn(2026, 8, 1),
        end=end,
        exdates=exdates,
        timezone=timezone,
        level=level,  # type: ignore[arg-type]
        targets=targets,
        duration_ms=duration_s * 1000,
        volume=extra.get("volume"),
        max_late_s=max_late_s,
        created_at=CREATED + timedelta(seconds=created),
        enabled=extra.get("enabled", True),
    )


def tree(
    quiet: dict[str, tuple[time, time]] | None = None,
) -> tuple[list[ZoneSpec], list[DeviceSpec]]:
    """Zones d, d/c1, d/c1/v1, d/c1/v2, d/c2, d/c2/v1; devices loa-1 (d/c1/v1), loa-2 (d/c2/v1)."""
    quiet = quiet or {}
    paths = ["d", "d/c1", "d/c1/v1", "d/c1/v2", "d/c2", "d/c2/v1"]
    zones = [
        ZoneSpec(p, *quiet[p]) if p in quiet else ZoneSpec(p)  # type: ignore[arg-type]
        for p in paths
    ]
    devices = [DeviceSpec("loa-1", "d/c1/v1"), DeviceSpec("loa-2", "d/c2/v1")]
    return zones, devices


NOW = vn(2026, 8, 10, 0, 0)  # midnight local, Monday 10 August 2026
ZONES, DEVICES = tree()


def instants(spec: ScheduleSpec, days: int = 3, now: datetime = NOW) -> list[datetime]:
    """Rule instants of `spec` over `days` from `now`, as Vietnam local naive times."""
    return [
        (t + timedelta(hours=7)).replace(tzinfo=None)
        for t in expand(spec, now, now + timedelta(days=days))
    ]


def L(mo: int, d: int, h: int, mi: int = 0) -> datetime:
    """A naive Vietnam local time in 2026."""
    return datetime(2026, mo, d, h, mi)


# ------------------------------------------------------------------ expansion


EXPANSION_CASES = [
    (
        "daily twice",
        sched("FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0"),
        2,
        [L(8, 10, 6), L(8, 10, 17), L(8, 11, 6), L(8, 11, 17)],
    ),
    (
        "weekly by weekday",
        sched("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=7;BYMINUTE=30"),
        7,
        [L(8, 10, 7, 30), L(8, 12, 7, 30)],
    ),
    (
        "every two weeks (anchored on the start's week)",
        sched("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;BYHOUR=8", start=vn(2026, 7, 28)),
        21,
        [L(8, 11, 8), L(8, 25, 8)],
    ),
    (
        "every two weeks, other parity",
        sched("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;BYHOUR=8", start=vn(2026, 8, 4)),
        21,
        [L(8, 18, 8)],
    ),
    (
        "monthly by day",
        sched("FREQ=MONTHLY;BYMONTHDAY=15;BYHOUR=9", start=vn(2025, 1, 1)),
        40,
        [L(8, 15, 9), L(9, 15, 9)],
    ),
    (
        "count counts from the real start",
        sched("FREQ=DAILY;COUNT=11;BYHOUR=6", start=vn(2026, 8, 1)),
        5,
        [L(8, 10, 6), L(8, 11, 6)],
    ),
    (
        "until as a date is inclusive",
        sched("FREQ=DAILY;UNTIL=20260811;BYHOUR=18"),
        5,
        [L(8, 10, 18), L(8, 11, 18)],
    ),
    (
        "until in UTC",
        sched("FREQ=DAILY;UNTIL=20260811T000000Z;BYHOUR=6"),
        5,
        [L(8, 10, 6), L(8, 11, 6)],
    ),
    (
        "until floating local",
        sched("FREQ=DAILY;UNTIL=20260811T060000;BYHOUR=6"),
        5,
        [L(8, 10, 6), L(8, 11, 6)],
    ),
    ("one-off", sched(None, start=vn(2026, 8, 11, 15, 20)), 3, [L(8, 11, 15, 20)]),
    ("one-off in the past", sched(None, start=vn(2026, 8, 1, 15)), 3, []),
    (
        "date range via start..end",
        sched("FREQ=DAILY;BYHOUR=6", start=vn(2026, 8, 11), end=vn(2026, 8, 12, 6)),
        10,
        [L(8, 11, 6), L(8, 12, 6)],
    ),
    (
        "exception at one local instant",
        sched("FREQ=DAILY;BYHOUR=6,17", exdates=(vn(2026, 8, 10, 17),)),
        2,
        [L(8, 10, 6), L(8, 11, 6), L(8, 11, 17)],
    ),
    (
        "exception for a whole local day",
        sched("FREQ=DAILY;BYHOUR=6,17", exdates=(date(2026, 8, 10),)),
        2,
        [L(8, 11, 6), L(8, 11, 17)],
    ),
    (
        "exception given in another zone still matches by local time",
        sched("FREQ=DAILY;BYHOUR=6", exdates=(datetime(2026, 8, 10, 23, 0, tzinfo=UTC),)),
        3,
        [L(8, 10, 6), L(8, 12, 6)],
    ),
    (
        "campaign started two years ago",
        sched("FREQ=DAILY;BYHOUR=6", start=vn(2024, 8, 3, 6)),
        2,
        [L(8, 10, 6), L(8, 11, 6)],
    ),
    (
        "hourly rule",
        sched("FREQ=HOURLY;INTERVAL=6;BYMINUTE=0", start=vn(2026, 8, 9, 1)),
        1,
        [L(8, 10, 1), L(8, 10, 7), L(8, 10, 13), L(8, 10, 19)],
    ),
    (
        "starts later than now",
        sched("FREQ=DAILY;BYHOUR=6", start=vn(2026, 8, 11, 7)),
        3,
        [L(8, 12, 6)],
    ),
]


@pytest.mark.parametrize(
    ("spec", "days", "expected"),
    [c[1:] for c in EXPANSION_CASES],
    ids=[c[0] for c in EXPANSION_CASES],
)
def test_expansion(spec: ScheduleSpec, days: int, expected: list[datetime]) -> None:
    assert instants(spec, days) == expected


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0",
        "FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=7",
        "FREQ=WEEKLY;INTERVAL=3;BYHOUR=7",
        "FREQ=DAILY;INTERVAL=4;BYHOUR=7,19",
        "FREQ=HOURLY;INTERVAL=5",
        "FREQ=WEEKLY;INTERVAL=2;WKST=SU;BYDAY=SU,MO",
    ],
)
def test_anchoring_skips_old_periods_without_changing_instants(rule: str) -> None:
    start = datetime(2023, 3, 15, 9, 41, 0)
    spec = sched(rule, start=start.replace(tzinfo=UTC) - timedelta(hours=7))
    direct = rrulestr(rule, dtstart=start).between(L(8, 10, 0), L(8, 24, 0), inc=False)
    assert instants(spec, 14) == direct


BERLIN = "Europe/Berlin"


def test_dst_keeps_local_wall_time() -> None:
    # 29 March 2026: Berlin goes from UTC+1 to UTC+2; 06:00 local stays 06:00 local.
    spec = sched("FREQ=DAILY;BYHOUR=6", timezone=BERLIN, start=datetime(2026, 3, 1, tzinfo=UTC))
    got = expand(spec, datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    assert got == (
        datetime(2026, 3, 28, 5, tzinfo=UTC),
        datetime(2026, 3, 29, 4, tzinfo=UTC),
        datetime(2026, 3, 30, 4, tzinfo=UTC),
    )


def test_dst_gap_and_fold() -> None:
    spring = sched(
        "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", timezone=BERLIN, start=datetime(2026, 3, 1, tzinfo=UTC)
    )
    got = expand(spring, datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))
    assert got == (datetime(2026, 3, 29, 1, 30, tzinfo=UTC),)  # 03:30 CEST, once
    autumn = sched(
        "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", timezone=BERLIN, start=datetime(2026, 10, 1, tzinfo=UTC)
    )
    got = expand(autumn, datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC))
    assert got == (datetime(2026, 10, 25, 0, 30, tzinfo=UTC),)  # the first 02:30, once


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("FREQ=FORTNIGHTLY", "invalid_rrule"),
        ("BYHOUR=6", "invalid_rrule"),
        ("FREQ=DAILY;BYHOUR=25", "invalid_rrule"),
        ("FREQ=DAILY;BYDAY=XX", "invalid_rrule"),
        ("FREQ=DAILY;INTERVAL=0", "invalid_rrule"),
        ("FREQ=DAILY;INTERVAL=x", "invalid_rrule"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20260101", "invalid_rrule"),
        ("FREQ=DAILY;UNTIL=2026", "invalid_rrule"),
        ("FREQ=DAILY;UNTIL=20261345", "invalid_rrule"),
        ("DTSTART:20260101T000000\nRRULE:FREQ=DAILY", "invalid_rrule"),
        ("DTSTART=20260101T000000;FREQ=DAILY", "invalid_rrule"),
        ("FREQ=DAILY;EXDATE=20260101", "invalid_rrule"),
        ("", "invalid_rrule"),
        ("FREQ=SECONDLY", "rrule_too_frequent"),
        ("FREQ=MINUTELY;INTERVAL=30", "rrule_too_frequent"),
        ("FREQ=HOURLY;BYMINUTE=0,20,40", "rrule_too_frequent"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "rrule_never_occurs"),
    ],
)
def test_validate_rrule_rejects(text: str, code: str) -> None:
    with pytest.raises(PlanError) as info:
        validate_rrule(text)
    assert info.value.code == code
    assert repr(text) in str(info.value)  # the message names the rule it refuses


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=DAILY",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=6,17;BYMINUTE=0",
        "freq=daily;byhour=6",
        "FREQ=HOURLY",
        "FREQ=MONTHLY;BYDAY=1MO",
        "FREQ=YEARLY;BYMONTH=9;BYMONTHDAY=2",
        "FREQ=DAILY;UNTIL=20261231T170000Z",
    ],
)
def test_validate_rrule_accepts(text: str) -> None:
    validate_rrule(text)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"start": datetime(2026, 8, 1)}, "naive_datetime"),
        ({"end": vn(2026, 7, 1)}, "end_before_start"),
        ({"timezone": "Asia/Hanoi-ish"}, "unknown_timezone"),
        ({"timezone": "../etc/passwd"}, "unknown_timezone"),
        ({"targets": ()}, "no_targets"),
        ({"targets": ("village:x",)}, "invalid_target"),
        ({"targets": ("zone:Bad Path",)}, "invalid_target"),
        ({"level": "urgent"}, "invalid_level"),
        ({"duration_s": 0}, "invalid_duration"),
        ({"max_late_s": -1}, "invalid_max_late"),
        ({"volume": 101}, "invalid_volume"),
        ({"exdates": (datetime(2026, 8, 1, 6),)}, "naive_datetime"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule_too_frequent"),
    ],
)
def test_schedule_spec_rejects(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(PlanError) as info:
        sched(**changes)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: ZoneSpec("d", time(22), None), "invalid_quiet_hours"),
        (lambda: ZoneSpec("D/x"), "invalid_zone_path"),
        (lambda: ZoneSpec("d", timezone="Mars/Base"), "unknown_timezone"),
        (lambda: DeviceSpec("Loa 1", "d"), "invalid_device"),
        (lambda: DeviceSpec("loa-1", "d//x"), "invalid_device"),
    ],
)
def test_zone_and_device_specs_reject(make: Any, code: str) -> None:
    with pytest.raises(PlanError) as info:
        make()
    assert info.value.code == code


# ------------------------------------------------------------------ quiet hours


def planned_local(occs: list[PlannedOccurrence]) -> list[tuple[str, datetime]]:
    """(schedule id, local play time) pairs."""
    return [(o.schedule_id, (o.play_at + timedelta(hours=7)).replace(tzinfo=None)) for o in occs]


QUIET_CASES = [
    ("default quiet hours drop 22:00", {}, "d/c1", "FREQ=DAILY;BYHOUR=22", "normal", 60, False),
    ("default keeps 21:00", {}, "d/c1", "FREQ=DAILY;BYHOUR=21", "normal", 60, True),
    ("default keeps 05:00 sharp", {}, "d/c1", "FREQ=DAILY;BYHOUR=5", "normal", 60, True),
    (
        "a play running into quiet hours is dropped",
        {},
        "d/c1",
        "FREQ=DAILY;BYHOUR=21;BYMINUTE=29",
        "normal",
        90,
        False,
    ),
    ("emergency ignores quiet hours", {}, "d/c1", "FREQ=DAILY;BYHOUR=23", "emergency", 60, True),
    ("priority does not", {}, "d/c1", "FREQ=DAILY;BYHOUR=23", "priority", 60, False),
    (
        "inherited from the commune",
        {"d/c1": (time(20), time(6))},
        "d/c1/v1",
        "FREQ=DAILY;BYHOUR=5;BYMINUTE=30",
        "normal",
        60,
        False,
    ),
    (
        "own hours win over the ancestor's",
        {"d": (time(20), time(6)), "d/c1": (time(23), time(4))},
        "d/c1",
        "FREQ=DAILY;BYHOUR=21",
        "normal",
        60,
        True,
    ),
    (
        "start == end: no quiet hours",
        {"d/c1": (time(0), time(0))},
        "d/c1/v2",
        "FREQ=DAILY;BYHOUR=23",
        "normal",
        60,
        True,
    ),
    (
        "not crossing midnight (siesta)",
        {"d": (time(11, 30), time(13, 30))},
        "d/c2",
        "FREQ=DAILY;BYHOUR=12",
        "normal",
        60,
        False,
    ),
    (
        "siesta leaves the evening",
        {"d": (time(11, 30), time(13, 30))},
        "d/c2",
        "FREQ=DAILY;BYHOUR=22",
        "normal",
        60,
        True,
    ),
    (
        "a device target uses its zone's hours",
        {"d/c1/v1": (time(17), time(18))},
        "device:loa-1",
        "FREQ=DAILY;BYHOUR=17;BYMINUTE=10",
        "normal",
        60,
        False,
    ),
]


@pytest.mark.parametrize(
    ("quiet", "target", "rule", "level", "duration", "plays"),
    [c[1:] for c in QUIET_CASES],
    ids=[c[0] for c in QUIET_CASES],
)
def test_quiet_hours(
    quiet: dict[str, tuple[time, time]],
    target: str,
    rule: str,
    level: str,
    duration: int,
    plays: bool,
) -> None:
    zones, devices = tree(quiet)
    full_target = target if target.startswith("device:") else f"zone:{target}"
    spec = sched(rule, targets=(full_target,), level=level, duration_s=duration)
    result = plan_result([spec], zones, devices, now=NOW, horizon=timedelta(hours=24))
    assert (len(result.occurrences) == 1) is plays
    if not plays:
        assert [(s.target, s.reason) for s in result.skipped] == [(full_target, "quiet_hours")]
        assert result.skipped[0].occurrence_id == occurrence_id("s1", result.skipped[0].planned_at)


def test_quiet_hours_drop_only_the_quiet_target() -> None:
    zones, devices = tree({"d/c2": (time(17), time(18))})
    spec = sched("FREQ=DAILY;BYHOUR=17", targets=("zone:d/c1", "zone:d/c2"))
    result = plan_result([spec], zones, devices, now=NOW, horizon=timedelta(hours=24))
    assert [o.targets for o in result.occurrences] == [("zone:d/c1",)]
    assert [(s.target, s.reason) for s in result.skipped] == [("zone:d/c2", "quiet_hours")]


def test_unknown_targets_are_reported_not_dropped_silently() -> None:
    spec = sched(targets=("zone:d/c9", "device:ghost", "zone:d/c1"))
    result = plan_result([spec], ZONES, DEVICES, now=NOW, horizon=timedelta(hours=24))
    assert [o.targets for o in result.occurrences] == [("zone:d/c1",)]
    assert sorted((s.target, s.reason) for s in result.skipped) == [
        ("device:ghost", "unknown_device"),
        ("zone:d/c9", "unknown_zone"),
    ]


# ------------------------------------------------------------------ sequencing

SIX = vn(2026, 8, 10, 6)


def one_day(*specs: ScheduleSpec, zones: Any = ZONES) -> dict[str, datetime]:
    """schedule id → play_at of its occurrence on 10 August."""
    occs = plan(specs, zones, DEVICES, now=NOW, horizon=timedelta(hours=24))
    return {o.schedule_id: o.play_at for o in occs}


def after(first: datetime, seconds: int) -> datetime:
    """The slot right after a play of `seconds` that starts at `first`."""
    return first + timedelta(seconds=seconds) + GAP


SEQUENCE_CASES: list[tuple[str, list[ScheduleSpec], dict[str, datetime]]] = [
    (
        "same zone: earlier created plays first",
        [sched(id="a", created=2), sched(id="b", created=1)],
        {"b": SIX, "a": after(SIX, 60)},
    ),
    (
        "higher level first whatever the creation order",
        [sched(id="a", created=1), sched(id="b", created=2, level="priority")],
        {"b": SIX, "a": after(SIX, 60)},
    ),
    (
        "emergency is never shifted, even by another emergency",
        [
            sched(id="a", level="emergency", created=2),
            sched(id="b", level="emergency", created=1),
            sched(id="c", level="priority"),
        ],
        {"a": SIX, "b": SIX, "c": after(SIX, 60)},
    ),
    (
        "siblings do not conflict",
        [sched(id="a", targets=("zone:d/c1",)), sched(id="b", targets=("zone:d/c2",), created=1)],
        {"a": SIX, "b": SIX},
    ),
    (
        "ancestor zone and a device below it conflict",
        [
            sched(id="a", targets=("zone:d",), duration_s=90),
            sched(id="b", targets=("device:loa-1",), created=1),
        ],
        {"a": SIX, "b": after(SIX, 90)},
    ),
    (
        "a device outside the zone does not conflict",
        [
            sched(id="a", targets=("zone:d/c1",)),
            sched(id="b", targets=("device:loa-2",), created=1),
        ],
        {"a": SIX, "b": SIX},
    ),
    (
        "zones conflict by ancestry even without devices",
        [
            sched(id="a", targets=("zone:d/c1",)),
            sched(id="b", targets=("zone:d/c1/v2",), created=1),
        ],
        {"a": SIX, "b": after(SIX, 60)},
    ),
    (
        "a chain: the third waits for both",
        [sched(id="a"), sched(id="b", created=1), sched(id="c", created=2, duration_s=30)],
        {"a": SIX, "b": after(SIX, 60), "c": after(after(SIX, 60), 60)},
    ),
    (
        "a lower one keeps its time when it ends before a higher one starts",
        [sched("FREQ=DAILY;BYHOUR=6;BYMINUTE=10", id="a", level="priority"), sched(id="b")],
        {"a": SIX + timedelta(minutes=10), "b": SIX},
    ),
    (
        "a lower one too long for the gap goes after the higher one",
        [
            sched("FREQ=DAILY;BYHOUR=6;BYMINUTE=1", id="a", level="priority"),
            sched(id="b", duration_s=58),
        ],
        {"a": SIX + timedelta(minutes=1), "b": after(SIX + timedelta(minutes=1), 60)},
    ),
]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [c[1:] for c in SEQUENCE_CASES],
    ids=[c[0] for c in SEQUENCE_CASES],
)
def test_sequencing(specs: list[ScheduleSpec], expected: dict[str, datetime]) -> None:
    assert one_day(*specs) == expected


def test_shift_into_quiet_hours_drops_and_reports() -> None:
    zones, devices = tree({"d": (time(6, 1), time(5))})
    high = sched(id="a", level="priority")
    low = sched(id="b")
    result = plan_result([high, low], zones, devices, now=NOW, horizon=timedelta(hours=24))
    assert [o.schedule_id for o in result.occurrences] == ["a"]
    (skip,) = result.skipped
    assert (skip.schedule_id, skip.reason, skip.play_at) == (
        "b",
        "shifted_into_quiet_hours",
        after(SIX, 60),
    )
    assert skip.planned_at == SIX


def test_shifted_occurrence_keeps_its_id_and_planned_at() -> None:
    (_, low) = plan(
        [sched(id="a", level="priority"), sched(id="b")],
        ZONES,
        DEVICES,
        now=NOW,
        horizon=timedelta(hours=24),
    )
    assert low.planned_at == SIX and low.play_at == after(SIX, 60)
    assert low.id == occurrence_id("b", SIX)


# ------------------------------------------------------------------ horizon, ids


@pytest.mark.parametrize(
    ("planned", "max_late_s", "kept"),
    [
        (NOW - timedelta(seconds=60), 120, True),  # due a minute ago: still playable
        (NOW - timedelta(seconds=121), 120, False),
        (NOW - timedelta(seconds=120), 120, True),
        (NOW + timedelta(hours=47, minutes=59), 120, True),
        (NOW + timedelta(hours=48), 120, False),
    ],
)
def test_horizon(planned: datetime, max_late_s: int, kept: bool) -> None:
    spec = sched(None, start=planned, max_late_s=max_late_s, targets=("zone:d",), level="emergency")
    assert len(plan([spec], ZONES, DEVICES, now=NOW)) == int(kept)


def test_shifted_occurrence_survives_restart_while_due() -> None:
    specs = [sched(id="a", level="priority", max_late_s=10), sched(id="b", max_late_s=30)]
    # At 06:01:20 a's window has passed, b (shifted to 06:01:05) is still due.
    later = SIX + timedelta(seconds=80)
    occs = plan(specs, ZONES, DEVICES, now=later, horizon=timedelta(hours=1))
    assert [(o.schedule_id, o.play_at) for o in occs] == [("b", after(SIX, 60))]


def test_occurrence_id_is_uuid5_of_schedule_and_utc_instant() -> None:
    at = vn(2026, 8, 10, 6)
    expected = str(uuid.uuid5(OCCURRENCE_NAMESPACE, f"s1|{at.astimezone(UTC).isoformat()}"))
    assert occurrence_id("s1", at) == expected
    berlin = at.astimezone(__import__("zoneinfo").ZoneInfo(BERLIN))
    assert occurrence_id("s1", berlin) == expected
    assert occurrence_id("s2", at) != expected
    (occ,) = plan([sched(None, start=at)], ZONES, DEVICES, now=NOW)
    assert occ.id == expected


def test_planning_twice_and_later_in_the_hour_is_identical() -> None:
    specs = [
        sched(id=f"s{i}", created=i, targets=(t,))
        for i, t in enumerate(["zone:d", "zone:d/c1", "device:loa-1", "zone:d/c2/v1"])
    ]
    first = plan(specs, ZONES, DEVICES, now=NOW)
    assert plan(specs, ZONES, DEVICES, now=NOW) == first
    assert plan(list(reversed(specs)), ZONES, DEVICES, now=NOW + timedelta(minutes=40)) == first


def test_disabled_schedules_are_not_planned() -> None:
    assert plan([sched(enabled=False)], ZONES, DEVICES, now=NOW) == []


def test_occurrence_carries_schedule_fields() -> None:
    (occ, _) = plan(
        [sched(volume=70, targets=("zone:d/c1", "device:loa-2"))], ZONES, DEVICES, now=NOW
    )
    assert (
        occ.announcement_id,
        occ.title,
        occ.priority,
        occ.volume,
        occ.max_late_s,
        occ.duration_ms,
        occ.targets,
    ) == ("a-s1", "Bản tin s1", 50, 70, 120, 60000, ("zone:d/c1", "device:loa-2"))


# ------------------------------------------------------------------ caching


def test_previous_result_lends_expansions() -> None:
    specs = [sched(id="a"), sched("FREQ=WEEKLY;BYDAY=MO", id="b")]
    first = plan_result(specs, ZONES, DEVICES, now=NOW)
    again = plan_result(specs, ZONES, DEVICES, now=NOW + timedelta(minutes=5), previous=first)
    assert again.occurrences == first.occurrences
    assert again.expansions["a"][1] is first.expansions["a"][1]
