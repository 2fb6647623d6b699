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

A plan is always whole: the server replans every schedule on each change (10,000 schedules
over 48 h take about a second of CPU, bench/planner.py), so no incremental path exists to
drift from the full one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from pa_server.planning.model import (
    DEFAULT_HORIZON,
    EMERGENCY_PRIORITY,
    OCCURRENCE_NAMESPACE,
    DeviceSpec,
    PlannedOccurrence,
    PlanResult,
    ScheduleSpec,
    Skipped,
    SkipReason,
    ZoneSpec,
)
from pa_server.planning.recurrence import expand
from pa_server.planning.sequencing import Occupancy
from pa_server.planning.zones import Resolved, ZoneIndex

GAP: Final = timedelta(seconds=5)
LOOKBACK: Final = timedelta(hours=6)
LOOKAHEAD: Final = timedelta(hours=1)
_GAP_MS: Final = int(GAP.total_seconds() * 1000)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
_NAMESPACE_BYTES: Final = OCCURRENCE_NAMESPACE.bytes


def _ms(dt: datetime) -> int:
    return (dt - _EPOCH) // _ONE_MS


def plan_window(now: datetime, horizon: timedelta) -> tuple[datetime, datetime]:
    """The UTC window whose rule instants a plan at `now` considers (see rule 1 above)."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour - LOOKBACK, hour + timedelta(hours=1) + horizon + LOOKAHEAD


def _fast_id(schedule_id: str, planned_iso: str) -> str:
    """`occurrence_id` for an instant given as its UTC ISO text, without a `uuid.UUID`."""
    digest = bytearray(
        hashlib.sha1(  # uuid5 is SHA-1 by definition (RFC 4122), not a security use
            _NAMESPACE_BYTES + f"{schedule_id}|{planned_iso}".encode(),
            usedforsecurity=False,
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


Expansions = dict[str, tuple[ScheduleSpec, tuple[datetime, ...]]]


class _Prepared:
    """What the placement loop needs of one schedule, worked out once per plan."""

    __slots__ = (
        "emergency",
        "late_ms",
        "length",
        "lineages",
        "quiet",
        "resolved",
        "spec",
        "unknown",
    )

    def __init__(self, spec: ScheduleSpec, index: ZoneIndex) -> None:
        self.spec = spec
        self.unknown: list[tuple[str, SkipReason]] = []
        resolved: list[Resolved] = []
        for target in spec.targets:
            where = index.resolve(target)
            if isinstance(where, str):
                self.unknown.append((target, where))
            else:
                resolved.append(where)
        self.resolved = tuple(resolved)
        self.lineages = tuple(r.lineage for r in resolved)
        self.emergency = spec.priority >= EMERGENCY_PRIORITY
        self.quiet = not self.emergency and any(r.quiet is not None for r in resolved)
        self.late_ms = spec.max_late_s * 1000
        self.length = spec.duration_ms + _GAP_MS


def _outside_quiet(
    kept: tuple[Resolved, ...], at_ms: int, duration_ms: int
) -> tuple[Resolved, ...]:
    return tuple(r for r in kept if r.quiet is None or not r.quiet.overlaps_ms(at_ms, duration_ms))


def _run(
    schedules: Iterable[ScheduleSpec],
    index: ZoneIndex,
    now: datetime,
    horizon: timedelta,
    window: tuple[datetime, datetime],
    cache: Expansions,
) -> tuple[list[PlannedOccurrence], list[Skipped], Expansions]:
    expansions: Expansions = {}
    candidates: list[tuple[int, int, int, str, datetime, _Prepared]] = []
    targeted: dict[str, tuple[str, ...]] = {}
    for spec in schedules:
        if not spec.enabled:
            continue
        hit = cache.get(spec.id)
        if hit is not None and (hit[0] is spec or hit[0] == spec):
            instants = hit[1]
        else:
            instants = expand(spec, window[0], window[1])
        expansions[spec.id] = (spec, instants)
        if not instants:
            continue
        prepared = _Prepared(spec, index)
        for r in prepared.resolved:
            targeted[r.target] = r.lineage
        created, prio, sid = _ms(spec.created_at), -spec.priority, spec.id
        candidates += [(prio, created, _ms(t), sid, t, prepared) for t in instants]
    candidates.sort(key=lambda c: c[:4])

    until_ms, now_ms = _ms(now + horizon), _ms(now)
    occupancy = Occupancy(targeted.values())
    iso: dict[datetime, str] = {}  # many occurrences share an instant

    def make_id(schedule_id: str, planned: datetime) -> str:
        text = iso.get(planned)
        if text is None:
            text = iso[planned] = planned.isoformat()
        return _fast_id(schedule_id, text)

    occurrences: list[PlannedOccurrence] = []
    skipped: list[Skipped] = []
    for _, _, planned_ms, sid, planned, prep in candidates:
        spec = prep.spec
        # Only what the caller will see needs an id; the rest still occupies speakers.
        visible = planned_ms < until_ms
        kept, lineages = prep.resolved, prep.lineages
        dropped = prep.unknown
        if prep.quiet:
            in_time = _outside_quiet(kept, planned_ms, spec.duration_ms)
            if len(in_time) < len(kept):
                dropped = dropped + [(r.target, "quiet_hours") for r in kept if r not in in_time]
                kept = in_time
                lineages = tuple(r.lineage for r in kept)
        oid = ""
        if dropped and visible and planned_ms + prep.late_ms >= now_ms:
            oid = make_id(sid, planned)
            skipped += [Skipped(sid, oid, planned, t, why) for t, why in dropped]
        if not kept:
            continue
        start = planned_ms
        if not prep.emergency:
            start = occupancy.earliest(lineages, planned_ms, prep.length)
        play_at = planned
        if start != planned_ms:
            play_at = planned + timedelta(milliseconds=start - planned_ms)
            still = _outside_quiet(kept, start, spec.duration_ms)
            if len(still) < len(kept):
                if visible and start + prep.late_ms >= now_ms:
                    oid = oid or make_id(sid, planned)
                    skipped += [
                        Skipped(sid, oid, planned, r.target, "shifted_into_quiet_hours", play_at)
                        for r in kept
                        if r not in still
                    ]
                kept = still
                if not kept:
                    continue
                lineages = tuple(r.lineage for r in kept)
        occupancy.add(lineages, start, start + prep.length)
        if not visible or start + prep.late_ms < now_ms:
            continue
        occurrences.append(
            PlannedOccurrence(
                id=oid or make_id(sid, planned),
                schedule_id=sid,
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
    return occurrences, skipped, expansions


def _result(
    now: datetime,
    horizon: timedelta,
    window: tuple[datetime, datetime],
    occurrences: Iterable[PlannedOccurrence],
    skipped: Iterable[Skipped],
    expansions: Expansions,
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
) -> list[PlannedOccurrence]:
    """Occurrences to broadcast in [now, now + horizon), plus any still inside their play window."""
    return list(plan_result(schedules, zones, devices, now=now, horizon=horizon).occurrences)
