"""Planning: schedules → occurrences over a horizon, out of quiet hours, sequenced per speaker.

Rules, in order:

1. Window. Rule instants are expanded over [hour(now) − 6 h, hour(now) + 1 h + horizon + 1 h):
   the look-back lets an occurrence that is due right now (or was shifted) survive a restart,
   the look-ahead lets one just past the horizon push a lower one inside it, and hour
   alignment makes every plan within one clock hour see the same input (stable `play_at`s).
   Returned: occurrences with planned_at < now + horizon whose play window
   (play_at + max_late_s) has not passed.
2. Quiet hours. A target whose quiet hours (see `ZoneSpec`) overlap any part of the play
   [play_at, play_at + duration) is dropped from that occurrence — not moved — unless the
   level is emergency. Zone targets use that zone's quiet hours, device targets their zone's.
   Each dropped target is reported in `PlanResult.skipped` with its reason.
3. Sequencing. Occurrences are placed in order (level desc, created_at asc, planned_at asc,
   schedule id). Two conflict when their targets reach a common loudspeaker by ancestry,
   whatever devices exist today. An emergency is never shifted (two emergencies may overlap:
   the later one interrupts on the agent); any other starts at the earliest instant
   ≥ planned_at that leaves `GAP` after every conflicting one placed before it. A shift that
   would carry a target into its quiet hours drops that target (`shifted_into_quiet_hours`);
   a shift is otherwise unbounded, and `play_at − planned_at` shows it to the UI.
4. Ids. `occurrence_id(schedule id, planned_at)`: replanning keeps ids even when play_at moves.

Incremental replanning: `replan(previous, …, changed_targets=affected_targets(old, new))`
replans only the schedules connected to the changed targets through conflicts (a fixpoint
over ancestry), keeps every other occurrence of `previous`, and gives exactly what
`plan_result` would at `previous.now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from pa_server.planning.model import (
    DEFAULT_HORIZON,
    EMERGENCY_PRIORITY,
    DeviceSpec,
    Occurrence,
    PlanResult,
    ScheduleSpec,
    Skipped,
    ZoneSpec,
    occurrence_id,
)
from pa_server.planning.recurrence import expand
from pa_server.planning.sequencing import Occupancy
from pa_server.planning.zones import Resolved, ZoneIndex

GAP: Final = timedelta(seconds=5)
LOOKBACK: Final = timedelta(hours=6)
LOOKAHEAD: Final = timedelta(hours=1)
_GAP_MS: Final = int(GAP.total_seconds() * 1000)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def plan_window(now: datetime, horizon: timedelta) -> tuple[datetime, datetime]:
    """The UTC window whose rule instants a plan at `now` considers (see rule 1 above)."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour - LOOKBACK, hour + timedelta(hours=1) + horizon + LOOKAHEAD


@dataclass(slots=True)
class _Candidate:
    key: tuple[int, int, int, str]
    spec: ScheduleSpec
    planned_at: datetime


def _run(
    schedules: Iterable[ScheduleSpec],
    index: ZoneIndex,
    now: datetime,
    horizon: timedelta,
    window: tuple[datetime, datetime],
    cache: Mapping[ScheduleSpec, tuple[datetime, ...]],
) -> tuple[list[Occurrence], list[Skipped], dict[ScheduleSpec, tuple[datetime, ...]]]:
    expansions: dict[ScheduleSpec, tuple[datetime, ...]] = {}
    candidates: list[_Candidate] = []
    for spec in schedules:
        if not spec.enabled:
            continue
        instants = cache.get(spec)
        if instants is None:
            instants = expand(spec, window[0], window[1])
        expansions[spec] = instants
        created = _ms(spec.created_at)
        for planned in instants:
            candidates.append(
                _Candidate((-spec.priority, created, _ms(planned), spec.id), spec, planned)
            )
    candidates.sort(key=lambda c: c.key)

    occupancy = Occupancy()
    occurrences: list[Occurrence] = []
    skipped: list[Skipped] = []
    for cand in candidates:
        spec, planned = cand.spec, cand.planned_at
        oid = occurrence_id(spec.id, planned)
        kept: list[Resolved] = []
        for target in spec.targets:
            where = index.resolve(target)
            if isinstance(where, str):
                skipped.append(Skipped(spec.id, oid, planned, target, where))
            elif (
                spec.priority < EMERGENCY_PRIORITY
                and where.quiet is not None
                and (where.quiet.overlaps(planned, spec.duration_ms))
            ):
                skipped.append(Skipped(spec.id, oid, planned, target, "quiet_hours"))
            else:
                kept.append(where)
        if not kept:
            continue
        planned_ms = cand.key[2]
        length = spec.duration_ms + _GAP_MS
        start = planned_ms
        if spec.priority < EMERGENCY_PRIORITY:
            start = occupancy.earliest([r.lineage for r in kept], planned_ms, length)
        play_at = planned
        if start != planned_ms:
            play_at = planned + timedelta(milliseconds=start - planned_ms)
            still: list[Resolved] = []
            for where in kept:
                if where.quiet is not None and where.quiet.overlaps(play_at, spec.duration_ms):
                    skipped.append(
                        Skipped(
                            spec.id, oid, planned, where.target, "shifted_into_quiet_hours", play_at
                        )
                    )
                else:
                    still.append(where)
            kept = still
            if not kept:
                continue
        occupancy.add([r.lineage for r in kept], start, start + length)
        occurrences.append(
            Occurrence(
                id=oid,
                schedule_id=spec.id,
                announcement_id=spec.announcement_id,
                title=spec.title,
                planned_at=planned,
                play_at=play_at,
                targets=tuple(r.target for r in kept),
                priority=spec.priority,
                volume=spec.volume,
                max_late_s=spec.max_late_s,
                duration_ms=spec.duration_ms,
            )
        )

    until = now + horizon
    late = {spec.id: timedelta(seconds=spec.max_late_s) for spec in expansions}
    occurrences = [
        o for o in occurrences if o.planned_at < until and o.play_at + late[o.schedule_id] >= now
    ]
    skipped = [
        s
        for s in skipped
        if s.planned_at < until and (s.play_at or s.planned_at) + late[s.schedule_id] >= now
    ]
    return occurrences, skipped, expansions


def _result(
    now: datetime,
    horizon: timedelta,
    window: tuple[datetime, datetime],
    occurrences: Iterable[Occurrence],
    skipped: Iterable[Skipped],
    expansions: dict[ScheduleSpec, tuple[datetime, ...]],
) -> PlanResult:
    return PlanResult(
        now=now,
        horizon=horizon,
        occurrences=tuple(sorted(occurrences, key=lambda o: (o.play_at, -o.priority, o.id))),
        skipped=tuple(
            sorted(skipped, key=lambda s: (s.planned_at, s.schedule_id, s.target, s.reason))
        ),
        window=window,
        expansions=expansions,
    )


def plan_result(
    schedules: Iterable[ScheduleSpec],
    zones: Iterable[ZoneSpec],
    devices: Iterable[DeviceSpec],
    *,
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
    previous: PlanResult | None = None,
) -> PlanResult:
    """Plan every enabled schedule; `previous` (same clock hour) lends its rule expansions."""
    window = plan_window(now, horizon)
    cache = previous.expansions if previous is not None and previous.window == window else {}
    occurrences, skipped, expansions = _run(
        schedules, ZoneIndex(zones, devices), now, horizon, window, cache
    )
    return _result(now, horizon, window, occurrences, skipped, expansions)


def plan(
    schedules: Iterable[ScheduleSpec],
    zones: Iterable[ZoneSpec],
    devices: Iterable[DeviceSpec],
    *,
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
) -> list[Occurrence]:
    """Occurrences to broadcast in [now, now + horizon), plus any still inside their play window."""
    return list(plan_result(schedules, zones, devices, now=now, horizon=horizon).occurrences)


def affected_targets(old: ScheduleSpec | None, new: ScheduleSpec | None) -> frozenset[str]:
    """Targets a schedule change can alter: the old and the new schedule's (None: absent)."""
    return frozenset((old.targets if old else ()) + (new.targets if new else ()))


def _closure(
    schedules: list[ScheduleSpec], index: ZoneIndex, changed: Iterable[str]
) -> list[ScheduleSpec]:
    """Schedules linked to `changed` through chains of conflicting targets."""
    touched_nodes: set[str] = set()
    touched_all: set[str] = set()

    def touch(lineages: Iterable[tuple[str, ...]]) -> None:
        for lin in lineages:
            touched_nodes.add(lin[-1])
            touched_all.update(lin)

    touch(index.lineage(t) for t in changed)
    lineages = {s.id: [index.lineage(t) for t in s.targets] for s in schedules}
    inside: list[ScheduleSpec] = []
    rest = schedules
    grew = True
    while grew:
        grew = False
        outside: list[ScheduleSpec] = []
        for spec in rest:
            lins = lineages[spec.id]
            if any(lin[-1] in touched_all or touched_nodes.intersection(lin) for lin in lins):
                inside.append(spec)
                touch(lins)
                grew = True
            else:
                outside.append(spec)
        rest = outside
    return inside


def replan(
    previous: PlanResult,
    schedules: Iterable[ScheduleSpec],
    zones: Iterable[ZoneSpec],
    devices: Iterable[DeviceSpec],
    *,
    changed_targets: Iterable[str],
) -> PlanResult:
    """`previous` updated after a change that touched only `changed_targets`.

    Pass the new schedules, zones and devices. For a schedule edit use `affected_targets`;
    for a zone change its `zone:` target; for a device added, moved or removed its `device:`
    target and, when moved or removed, its old `zone:` target. Everything not linked to those
    targets by conflicts must be unchanged since `previous`; the result equals `plan_result`
    at `previous.now`.
    """
    index = ZoneIndex(zones, devices)
    current = [s for s in schedules if s.enabled]
    inside = _closure(current, index, changed_targets)
    inside_ids = {s.id for s in inside}
    current_ids = {s.id for s in current}
    occurrences, skipped, expansions = _run(
        inside, index, previous.now, previous.horizon, previous.window, previous.expansions
    )

    def kept(schedule_id: str) -> bool:
        return schedule_id in current_ids and schedule_id not in inside_ids

    occurrences += [o for o in previous.occurrences if kept(o.schedule_id)]
    skipped += [s for s in previous.skipped if kept(s.schedule_id)]
    for spec, instants in previous.expansions.items():
        if kept(spec.id):
            expansions[spec] = instants
    return _result(
        previous.now, previous.horizon, previous.window, occurrences, skipped, expansions
    )
