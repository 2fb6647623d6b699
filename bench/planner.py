"""Planner speed: 10,000 schedules over a district tree, 48 h (the server always plans whole).

Run: .venv/bin/python bench/planner.py  (target: full plan ≤ 1 s on one core)
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from pa_server.planning import (
    DeviceSpec,
    Level,
    ScheduleSpec,
    ZoneSpec,
    plan_result,
    recurrence,
)

NOW = datetime(2026, 8, 10, 0, 0, 17, tzinfo=UTC)
N_SCHEDULES = 10_000
WALLS: list[float] = []


def tree() -> tuple[list[ZoneSpec], list[DeviceSpec]]:
    """1 district, 20 communes, 10 villages each, 2 loudspeaker agents per village."""
    zones = [ZoneSpec("vinh-tuong")]
    devices = []
    for c in range(20):
        commune = f"vinh-tuong/xa-{c:02d}"
        zones.append(ZoneSpec(commune))
        for v in range(10):
            village = f"{commune}/thon-{v:02d}"
            zones.append(ZoneSpec(village))
            devices += [DeviceSpec(f"loa-{c:02d}-{v:02d}-{k}", village) for k in range(2)]
    return zones, devices


def schedules(
    rng: random.Random, zones: list[ZoneSpec], devices: list[DeviceSpec]
) -> list[ScheduleSpec]:
    """A realistic mix: mostly village bulletins, some commune-wide, a few district-wide."""
    communes = [z.path for z in zones if z.path.count("/") == 1]
    villages = [z.path for z in zones if z.path.count("/") == 2]
    out = []
    for i in range(N_SCHEDULES):
        roll = rng.random()
        if roll < 0.002:
            targets: tuple[str, ...] = ("zone:vinh-tuong",)
        elif roll < 0.10:
            targets = (f"zone:{rng.choice(communes)}",)
        elif roll < 0.95:
            # one village, or two of the same commune (an operator works in their commune)
            first = rng.choice(villages)
            pair = [v for v in villages if v.rsplit("/", 1)[0] == first.rsplit("/", 1)[0]]
            targets = tuple(sorted({f"zone:{first}", f"zone:{rng.choice(pair)}"}))
        else:
            targets = (f"device:{rng.choice(devices).id}",)
        hour, minute = rng.randint(5, 20), rng.choice((0, 15, 30, 45))
        start = NOW - timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
        end = None
        kind = rng.random()
        if kind < 0.45:
            hours = ",".join(sorted({str(hour), str(rng.randint(5, 20))}))
            rule: str | None = f"FREQ=DAILY;BYHOUR={hours};BYMINUTE={minute}"
        elif kind < 0.65:
            days = ",".join(rng.sample(["MO", "TU", "WE", "TH", "FR", "SA", "SU"], 3))
            rule = f"FREQ=WEEKLY;BYDAY={days};BYHOUR={hour};BYMINUTE={minute}"
        elif kind < 0.72:
            rule = f"FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;BYHOUR={hour};BYMINUTE={minute}"
        elif kind < 0.77:
            rule = f"FREQ=MONTHLY;BYMONTHDAY=10,11;BYHOUR={hour};BYMINUTE={minute}"
        elif kind < 0.85:  # a campaign: daily over a date range
            rule = f"FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}"
            end = NOW + timedelta(days=rng.randint(0, 20))
        elif kind < 0.90:
            rule = f"FREQ=DAILY;COUNT={rng.randint(5, 90)};BYHOUR={hour};BYMINUTE={minute}"
        else:  # one-off within the horizon
            rule = None
            start = NOW + timedelta(minutes=15 * rng.randint(0, 4 * 48))
        level: Level = rng.choices(("normal", "priority", "emergency"), (900, 95, 5))[0]
        out.append(
            ScheduleSpec(
                id=f"s{i:05d}",
                announcement_id=f"a{i % 300}",
                title=f"Bản tin {i}",
                rrule=rule,
                start=start,
                end=end,
                exdates=(),
                timezone="Asia/Ho_Chi_Minh",
                level=level,
                targets=targets,
                duration_ms=rng.randint(30, 180) * 1000,
                volume=None,
                max_late_s=120,
                created_at=start - timedelta(days=1, seconds=i),
                enabled=True,
            )
        )
    return out


def parse_all(specs: list[ScheduleSpec]) -> None:
    """Parse and validate every rule afresh (what building the specs costs a new process)."""
    recurrence.parse_rule.cache_clear()
    for spec in specs:
        if spec.rrule is not None:
            recurrence.parse_rule(spec.rrule)


def timed(fn, repeat: int = 5):  # type: ignore[no-untyped-def]
    """Median CPU time of `fn` on this process's one core (and its last result).

    CPU time, not wall time: the 2-core machine is shared and wall time swings with the
    neighbours' load. The wall median is printed beside it once per figure in `main`.
    """
    times, walls, result = [], [], None
    for _ in range(repeat):
        t0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        times.append(time.process_time() - t0)
        walls.append(time.perf_counter() - w0)
    WALLS.append(statistics.median(walls))
    return statistics.median(times), result


def main() -> None:
    """Print the figures."""
    rng = random.Random(20260810)
    zones, devices = tree()
    specs = schedules(rng, zones, devices)

    def cold():  # type: ignore[no-untyped-def]
        # A new clock hour: rules are parsed (cached since the specs were built), expansions not.
        recurrence._instants.cache_clear()
        return plan_result(specs, zones, devices, now=NOW)

    t_parse, _ = timed(lambda: parse_all(specs), repeat=1)
    t_cold, full = timed(cold)
    t_warm, _ = timed(lambda: plan_result(specs, zones, devices, now=NOW))
    t_prev, _ = timed(lambda: plan_result(specs, zones, devices, now=NOW, previous=full))
    shifted = sum(o.play_at != o.planned_at for o in full.occurrences)
    print(f"schedules={len(specs)} zones={len(zones)} devices={len(devices)} horizon=48h")
    print(f"occurrences={len(full.occurrences)} shifted={shifted} skipped={len(full.skipped)}")
    distinct = len({s.rrule for s in specs})

    def baseline() -> int:
        total = 0
        for i in range(10_000_000):
            total += i
        return total

    t_base, _ = timed(baseline, repeat=1)
    print(f"machine yardstick: 10M Python integer additions take {t_base * 1000:.0f} ms CPU")
    print("CPU ms (wall ms), median of 5:")
    print(f"parse+validate {distinct} distinct rules (once per process): {t_parse * 1000:7.1f}")
    print(f"full plan, expansions cold (new hour): {t_cold * 1000:7.1f} ({WALLS[1] * 1000:.0f})")
    print(f"full plan, warm                      : {t_warm * 1000:7.1f} ({WALLS[2] * 1000:.0f})")
    print(f"full plan, previous= same hour       : {t_prev * 1000:7.1f} ({WALLS[3] * 1000:.0f})")


if __name__ == "__main__":
    main()
