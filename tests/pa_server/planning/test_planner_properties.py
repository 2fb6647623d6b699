"""Planner properties over random schedules on a small tree (hypothesis), checked by oracles
written independently of the planner's own data structures."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pa_server.planning import (
    DEFAULT_QUIET_END,
    DEFAULT_QUIET_START,
    GAP,
    DeviceSpec,
    PlanResult,
    ScheduleSpec,
    ZoneSpec,
    plan_result,
)
from tests.pa_server.planning.test_planner import NOW, VN, sched, tree

TARGETS = [
    "zone:d",
    "zone:d/c1",
    "zone:d/c1/v1",
    "zone:d/c1/v2",
    "zone:d/c2",
    "zone:d/c2/v1",
    "device:loa-1",
    "device:loa-2",
    "zone:d/c3",  # unknown: must be reported, never planned
]
PATHS = ["d", "d/c1", "d/c1/v1", "d/c1/v2", "d/c2", "d/c2/v1"]
LOCAL = ZoneInfo(VN)

half_hours = st.integers(0, 47).map(lambda i: time(i // 2, 30 * (i % 2)))


@st.composite
def quiet_hours(draw: st.DrawFn) -> dict[str, tuple[time, time]]:
    """Some zones with their own quiet hours (equal bounds: none); the rest inherit."""
    chosen = draw(st.lists(st.sampled_from(PATHS), unique=True, max_size=3))
    return {p: (draw(half_hours), draw(half_hours)) for p in chosen}


@st.composite
def schedules(draw: st.DrawFn, prefix: str = "s") -> list[ScheduleSpec]:
    """1–8 schedules with colliding times, mixed rules, levels, targets and exceptions."""
    out = []
    for i in range(draw(st.integers(1, 8))):
        hour, minute = draw(st.integers(0, 23)), draw(st.sampled_from([0, 5, 10, 30]))
        rule = draw(
            st.sampled_from(
                [
                    None,
                    f"FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}",
                    f"FREQ=DAILY;BYHOUR={hour},{(hour + 7) % 24};BYMINUTE={minute}",
                    f"FREQ=WEEKLY;BYDAY=MO,TU,SA;BYHOUR={hour};BYMINUTE={minute}",
                    f"FREQ=WEEKLY;INTERVAL=2;BYHOUR={hour};BYMINUTE={minute}",
                    f"FREQ=HOURLY;INTERVAL=5;BYMINUTE={minute}",
                    f"FREQ=DAILY;COUNT=4;BYHOUR={hour};BYMINUTE={minute}",
                ]
            )
        )
        start = NOW + timedelta(minutes=5 * draw(st.integers(-3 * 288, 2 * 288)))
        end = draw(
            st.none() | st.integers(0, 5 * 288).map(lambda m, s=start: s + timedelta(minutes=5 * m))
        )
        local_days = [(NOW + timedelta(days=k)).astimezone(LOCAL).date() for k in range(-1, 3)]
        exdates: list[datetime | date] = draw(st.lists(st.sampled_from(local_days), max_size=1))
        exdates += [
            datetime.combine(d, time(hour, minute), LOCAL)
            for d in draw(st.lists(st.sampled_from(local_days), max_size=2))
        ]
        out.append(
            sched(
                rule,
                id=f"{prefix}{i}",
                start=start,
                end=end,
                exdates=tuple(exdates),
                targets=tuple(
                    draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True))
                ),
                level=draw(st.sampled_from(["normal"] * 4 + ["priority", "emergency"])),
                duration_s=draw(st.integers(10, 600)),
                created=draw(st.integers(0, 5)),
                max_late_s=draw(st.integers(0, 300)),
            )
        )
    return out


def lineage(target: str, devices: list[DeviceSpec]) -> tuple[str, ...]:
    """Path of nodes from the root to a target, devices as leaves under their zone."""
    kind, _, name = target.split(":")[0], None, target.split(":", 1)[1]
    path = name if kind == "zone" else next(d.zone_path for d in devices if d.id == name)
    parts = path.split("/")
    nodes = tuple("/".join(parts[: i + 1]) for i in range(len(parts)))
    return nodes + ((target,) if kind == "device" else ())


def conflict(a: tuple[str, ...], b: tuple[str, ...], devices: list[DeviceSpec]) -> bool:
    """Whether two target sets share a loudspeaker by ancestry."""
    for x in a:
        for y in b:
            lx, ly = lineage(x, devices), lineage(y, devices)
            short, long_ = (lx, ly) if len(lx) <= len(ly) else (ly, lx)
            if long_[: len(short)] == short:
                return True
    return False


def quiet_of(path: str, zones: list[ZoneSpec]) -> tuple[time, time] | None:
    """Quiet hours by walking up the tree (oracle for `ZoneIndex.quiet_hours`)."""
    by_path = {z.path: z for z in zones}
    while True:
        z = by_path.get(path)
        if z is not None and z.quiet_start is not None and z.quiet_end is not None:
            return None if z.quiet_start == z.quiet_end else (z.quiet_start, z.quiet_end)
        if "/" not in path:
            return DEFAULT_QUIET_START, DEFAULT_QUIET_END
        path = path.rsplit("/", 1)[0]


def in_quiet(at: datetime, bounds: tuple[time, time]) -> bool:
    """Whether the local clock at `at` reads inside [start, end) (crossing midnight or not)."""
    t = at.astimezone(LOCAL).time()
    start, end = bounds
    return start <= t < end if start < end else (t >= start or t < end)


def run(
    specs: list[ScheduleSpec], quiet: dict[str, tuple[time, time]], offset_min: int, hours: int
) -> tuple[PlanResult, list[ZoneSpec], list[DeviceSpec]]:
    """Plan on the test tree at NOW + offset with a horizon of `hours`."""
    zones, devices = tree(quiet)
    now = NOW + timedelta(minutes=offset_min)
    return (
        plan_result(specs, zones, devices, now=now, horizon=timedelta(hours=hours)),
        zones,
        devices,
    )


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
offsets = st.integers(0, 24 * 60)
horizons = st.integers(1, 48)


@PROPS
@given(schedules(), quiet_hours(), offsets, horizons)
def test_no_two_occurrences_overlap_on_a_shared_speaker(
    specs: list[ScheduleSpec], quiet: dict[str, tuple[time, time]], offset: int, hours: int
) -> None:
    result, _, devices = run(specs, quiet, offset, hours)
    occs = result.occurrences
    for i, a in enumerate(occs):
        for b in occs[i + 1 :]:
            if a.priority == b.priority == 100 or not conflict(a.targets, b.targets, devices):
                continue
            a_end = a.play_at + timedelta(milliseconds=a.duration_ms) + GAP
            b_end = b.play_at + timedelta(milliseconds=b.duration_ms) + GAP
            assert a_end <= b.play_at or b_end <= a.play_at, (a, b)


@PROPS
@given(schedules(), quiet_hours(), offsets, horizons, st.randoms(use_true_random=False))
def test_planning_twice_gives_identical_output(
    specs: list[ScheduleSpec],
    quiet: dict[str, tuple[time, time]],
    offset: int,
    hours: int,
    rnd: random.Random,
) -> None:
    first, _, _ = run(specs, quiet, offset, hours)
    shuffled = list(specs)
    rnd.shuffle(shuffled)
    again, _, _ = run(shuffled, quiet, offset, hours)
    assert again.occurrences == first.occurrences
    assert again.skipped == first.skipped


@PROPS
@given(schedules(), quiet_hours(), offsets, horizons)
def test_occurrences_respect_range_exceptions_quiet_hours_and_horizon(
    specs: list[ScheduleSpec], quiet: dict[str, tuple[time, time]], offset: int, hours: int
) -> None:
    result, zones, devices = run(specs, quiet, offset, hours)
    by_id = {s.id: s for s in specs}
    zone_of = {d.id: d.zone_path for d in devices}
    for occ in result.occurrences:
        spec = by_id[occ.schedule_id]
        assert spec.start <= occ.planned_at <= occ.play_at
        assert spec.end is None or occ.planned_at <= spec.end
        local = occ.planned_at.astimezone(LOCAL)
        for ex in spec.exdates:
            if isinstance(ex, datetime):
                assert local.replace(tzinfo=None) != ex.astimezone(LOCAL).replace(tzinfo=None)
            else:
                assert local.date() != ex
        assert occ.planned_at < result.now + result.horizon
        assert occ.play_at + timedelta(seconds=occ.max_late_s) >= result.now
        if occ.priority == 100:
            assert occ.play_at == occ.planned_at
            continue
        last = occ.play_at + timedelta(milliseconds=occ.duration_ms - 1000)
        for target in occ.targets:
            kind, name = target.split(":", 1)
            bounds = quiet_of(name if kind == "zone" else zone_of[name], zones)
            if bounds is not None:
                # quiet windows here last ≥ 30 min and plays ≤ 10 min: both ends tell overlap
                assert not in_quiet(occ.play_at, bounds) and not in_quiet(last, bounds), target


@PROPS
@given(schedules(), quiet_hours(), offsets, horizons)
def test_every_target_of_an_occurrence_is_played_or_reported(
    specs: list[ScheduleSpec], quiet: dict[str, tuple[time, time]], offset: int, hours: int
) -> None:
    result, _, _ = run(specs, quiet, offset, hours)
    by_id = {s.id: s for s in specs}
    for occ in result.occurrences:
        reported = {s.target for s in result.skipped if s.occurrence_id == occ.id}
        assert set(occ.targets) | reported == set(by_id[occ.schedule_id].targets)
        assert not set(occ.targets) & reported
    assert not any(o.targets == () for o in result.occurrences)
    assert all("zone:d/c3" not in o.targets for o in result.occurrences)


def test_strategies_reach_shifts_and_skips() -> None:
    """Guard against vacuous properties: the generator does produce shifts and quiet skips."""
    specs = [sched(id=f"x{i}", created=i, targets=("zone:d",)) for i in range(3)]
    specs.append(sched("FREQ=DAILY;BYHOUR=23", id="late"))
    result = plan_result(specs, *tree(), now=NOW, horizon=timedelta(hours=24))
    assert sum(o.play_at != o.planned_at for o in result.occurrences) == 2
    assert [s.reason for s in result.skipped] == ["quiet_hours"]
    assert NOW.tzinfo is UTC
