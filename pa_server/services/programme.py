"""What plays where and when, and how it went: the programme, live counts, proof of broadcast.

Read-only queries for the pages. The programme of a zone or a loudspeaker is the stored
occurrences (what the planner wrote and one-off broadcasts) plus, for the part of the window
the planner has not stored yet, what the planner makes of the schedules now
(`pa_server.planning.plan`, the same code that will store them): recurrence is never
recomputed here.

A broadcast's state for people ("chờ", "đang phát", "đã phát", "lỗi", "đã dừng") is decided
once, here (`broadcast_state`), from each loudspeaker's latest receipt (`device_state`) and,
for live audio, how its session ended (`failed_live`), so every page and the live counts say
the same thing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.protocol import parse_target, zone_ancestors
from pa_server import planning
from pa_server.db.models import Device, DeviceState, LiveSessionRow, Occurrence, Receipt
from pa_server.services.audience import Audience, device_zones
from pa_server.services.errors import NotFound
from pa_server.services.timelines import load_specs
from pa_server.services.zones import require_zone

#: One loudspeaker's receipts for one broadcast, from most to least final: the first one it
#: has is its state ("finished" wins over "started": a loudspeaker that finished is never
#: "playing").
RECEIPT_ORDER = ("finished", "failed", "missed", "skipped", "started", "fetched")

#: What a loudspeaker can be for one broadcast: its most final receipt, or "none".
DeviceStateKey = Literal["finished", "failed", "missed", "skipped", "started", "fetched", "none"]

#: A broadcast as a whole, for people.
BroadcastState = Literal[
    "waiting", "playing", "played", "failed", "stopped", "cancelled", "no_devices"
]

#: Grace after the planned end before a broadcast with no report counts as failed.
REPORT_GRACE = timedelta(seconds=30)

#: The longest window a programme or calendar may ask for (a month view with its edges).
MAX_WINDOW = timedelta(days=45)

LEVEL_OF_PRIORITY = {p: level for level, p in planning.LEVEL_PRIORITY.items()}


def device_state(types: Iterable[str]) -> DeviceStateKey:
    """One loudspeaker's state for one broadcast from the types of the receipts it sent."""
    have = set(types)
    for kind in RECEIPT_ORDER:
        if kind in have:
            return kind  # type: ignore[return-value]
    return "none"


@dataclass(frozen=True)
class DeviceTally:
    """Loudspeakers of one broadcast by state; each counted once, in its latest state."""

    expected: int = 0
    finished: int = 0
    playing: int = 0
    fetched: int = 0
    failed: int = 0
    missed: int = 0
    skipped: int = 0
    silent: int = 0

    @property
    def ended(self) -> int:
        """Loudspeakers that are done with it, one way or another."""
        return self.finished + self.failed + self.missed + self.skipped


def tally_states(states: Mapping[str, str], expected: Iterable[str]) -> DeviceTally:
    """Count loudspeakers by state: `states` is device → state key, `expected` the audience.

    A loudspeaker that reported but was not expected (moved in since) counts as well, so the
    parts always add up to `expected`.
    """
    everyone = set(expected) | set(states)
    counts = Counter(states.get(d, "none") for d in everyone)
    return DeviceTally(
        expected=len(everyone),
        finished=counts["finished"],
        playing=counts["started"],
        fetched=counts["fetched"],
        failed=counts["failed"],
        missed=counts["missed"],
        skipped=counts["skipped"],
        silent=counts["none"],
    )


def broadcast_state(
    *,
    status: str,
    play_at: datetime,
    duration_ms: int,
    max_late_s: int,
    tally: DeviceTally,
    now: datetime,
    source_failed: bool = False,
) -> BroadcastState:
    """The state of a broadcast as a whole (its status, its time and its loudspeakers' states).

    Never contradicts the tally: "đang phát" only while a loudspeaker plays it or its planned
    minutes are running with loudspeakers still to report; "đã phát" once one finished and none
    plays; "lỗi" when none finished and the last chance to play it has passed. A live
    broadcast cut short because its source died (`source_failed`: a dead radio station, a
    server restart) is "lỗi" too, not "đã dừng": nobody stopped it.
    """
    if status == "stopped":
        return "failed" if source_failed else "stopped"
    if status == "cancelled":  # the planner dropped it: nothing of its tally still counts
        return "cancelled"
    if tally.playing:
        return "playing"
    if now < play_at:
        return "waiting"
    if tally.expected == 0:
        return "no_devices"
    waiting_for = tally.expected - tally.ended
    end = play_at + timedelta(milliseconds=duration_ms)
    if waiting_for and now < end + REPORT_GRACE:
        return "playing"
    if tally.finished:
        return "played"
    if waiting_for and now < play_at + timedelta(seconds=max_late_s) + REPORT_GRACE:
        return "waiting"  # late loudspeakers may still play it within its window
    return "failed"


def state_of(
    occ: Occurrence, tally: DeviceTally, *, now: datetime, source_failed: bool = False
) -> BroadcastState:
    """`broadcast_state` of a stored occurrence."""
    return broadcast_state(
        status=occ.status,
        play_at=occ.play_at,
        duration_ms=occ.duration_ms,
        max_late_s=occ.max_late_s,
        tally=tally,
        now=now,
        source_failed=source_failed,
    )


class StoredBroadcast(Protocol):
    """A stored occurrence or its public form: what `failed_live` reads of it."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...


def failed_live(session: Session, broadcasts: Iterable[StoredBroadcast]) -> set[str]:
    """The ids of the stopped broadcasts among these whose live session (microphone or relay)
    ended failed: `broadcast_state`'s `source_failed`. Only stopped ones are looked up."""
    ids = list(dict.fromkeys(b.id for b in broadcasts if b.status == "stopped"))
    return {
        occ_id
        for chunk in _chunks(ids)
        for occ_id in session.scalars(
            select(LiveSessionRow.occurrence_id).where(
                LiveSessionRow.occurrence_id.in_(chunk), LiveSessionRow.outcome == "failed"
            )
        )
        if occ_id is not None
    }


# --------------------------------------------------------------------------- receipts


def receipt_states(session: Session, occurrence_ids: list[str]) -> dict[str, dict[str, str]]:
    """occurrence id → device id → that loudspeaker's state (its most final receipt)."""
    types: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for chunk in _chunks(occurrence_ids):
        rows = session.execute(
            select(Receipt.occurrence_id, Receipt.device_id, Receipt.type).where(
                Receipt.occurrence_id.in_(chunk)
            )
        )
        for occ_id, device_id, kind in rows:
            types[occ_id][device_id].add(kind)
    return {
        occ_id: {d: device_state(kinds) for d, kinds in by_device.items()}
        for occ_id, by_device in types.items()
    }


def _chunks(ids: list[str], size: int = 500) -> Iterable[list[str]]:
    # Bound the IN list (SQLite's parameter limit; PostgreSQL plans long lists poorly).
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def delivery_tallies(session: Session, occurrence_ids: Iterable[str]) -> dict[str, DeviceTally]:
    """Each occurrence's loudspeakers by state (the overview's and the lists' progress)."""
    ids = list(dict.fromkeys(occurrence_ids))
    occs = [
        o
        for chunk in _chunks(ids)
        for o in session.scalars(select(Occurrence).where(Occurrence.id.in_(chunk)))
    ]
    audience = Audience(device_zones(session))
    states = receipt_states(session, [o.id for o in occs])
    return {o.id: tally_states(states.get(o.id, {}), audience.of(o)) for o in occs}


# --------------------------------------------------------------------------- the programme


@dataclass(frozen=True)
class ProgrammeEntry:
    """One broadcast in a programme: when, what, how urgent, and how it is going."""

    id: str
    title: str
    play_at: datetime
    duration_ms: int
    level: str
    targets: tuple[str, ...]
    state: BroadcastState
    tally: DeviceTally
    stored: bool
    """False for a broadcast the planner will store later (beyond its horizon today)."""
    schedule_id: str | None = None
    immediate: bool = False

    @property
    def ends_at(self) -> datetime:
        """When it should be over."""
        return self.play_at + timedelta(milliseconds=self.duration_ms)


@dataclass(frozen=True)
class Place:
    """Whose programme: a zone (and everything below it) or one loudspeaker; None: everywhere."""

    zone: str | None = None
    device: str | None = None
    devices: frozenset[str] = field(default_factory=frozenset)
    """The loudspeakers of the place (for counting who an occurrence reaches)."""

    def reaches(self, targets: Iterable[str], zone_of: Mapping[str, str]) -> bool:
        """True if any of `targets` makes a loudspeaker of this place play."""
        if self.zone is None and self.device is None:
            return True
        for target in targets:
            kind, name = parse_target(target)
            if self.device is not None:
                if kind == "device" and name == self.device:
                    return True
                if kind == "zone" and name in zone_ancestors(zone_of.get(self.device, "")):
                    return True
                continue
            assert self.zone is not None
            if kind == "zone" and (
                name in zone_ancestors(self.zone) or name.startswith(self.zone + "/")
            ):
                return True
            if kind == "device" and name in self.devices:
                return True
        return False


def place_of(session: Session, *, zone: str | None = None, device: str | None = None) -> Place:
    """The `Place` for a zone path or a device id (`NotFound` if it does not exist)."""
    if device is not None:
        row = session.get(Device, device)
        if row is None:
            raise NotFound("device_not_found", f"no device {device!r}")
        return Place(device=row.id, devices=frozenset({row.id}))
    if zone is not None:
        found = require_zone(session, zone)
        ids = session.scalars(
            select(Device.id).where(
                (Device.zone_path == found.path) | Device.zone_path.startswith(found.path + "/")
            )
        )
        return Place(zone=found.path, devices=frozenset(ids))
    return Place()


def programme(
    session: Session, place: Place, *, start: datetime, end: datetime, now: datetime
) -> list[ProgrammeEntry]:
    """Every broadcast that plays at `place` in `[start, end)`, in time order, with its state.

    Stored occurrences first; for the part of the window from `now` on, the planner's view of
    the schedules adds what it has not stored yet (same ids, so nothing is counted twice).
    Cancelled occurrences are left out (they will not play).
    """
    if end <= start:
        return []
    end = min(end, start + MAX_WINDOW)
    audience = Audience(device_zones(session))
    zone_of = audience.zone_of
    stored = [
        o
        for o in session.scalars(
            select(Occurrence)
            .where(
                Occurrence.status != "cancelled",
                Occurrence.play_at >= start,
                Occurrence.play_at < end,
            )
            .order_by(Occurrence.play_at, Occurrence.id)
        )
        if place.reaches(o.targets, zone_of)
    ]
    states = receipt_states(session, [o.id for o in stored])
    failed = failed_live(session, stored)
    entries: dict[str, ProgrammeEntry] = {}
    for o in stored:
        tally = tally_states(states.get(o.id, {}), _expected_here(audience.of(o), place))
        entries[o.id] = ProgrammeEntry(
            id=o.id,
            title=o.title,
            play_at=o.play_at,
            duration_ms=o.duration_ms,
            level=LEVEL_OF_PRIORITY.get(o.priority, "normal"),
            targets=tuple(o.targets),
            state=state_of(o, tally, now=now, source_failed=o.id in failed),
            tally=tally,
            stored=True,
            schedule_id=o.schedule_id,
            immediate=o.immediate,
        )
    ahead_from = max(start, now)
    if ahead_from < end:
        for p in _planned(session, ahead_from, end):
            if p.id in entries or not place.reaches(p.targets, zone_of):
                continue
            if not start <= p.play_at < end:
                continue
            tally = tally_states({}, _expected_here(audience.expected(p.targets), place))
            entries[p.id] = ProgrammeEntry(
                id=p.id,
                title=p.title,
                play_at=p.play_at,
                duration_ms=p.duration_ms,
                level=LEVEL_OF_PRIORITY.get(p.priority, "normal"),
                targets=p.targets,
                state="waiting",
                tally=tally,
                stored=False,
                schedule_id=p.schedule_id,
            )
    return sorted(entries.values(), key=lambda e: (e.play_at, e.title, e.id))


def _expected_here(expected: Mapping[str, str], place: Place) -> dict[str, str]:
    # The loudspeakers of this place among those the broadcast reaches (all of them if no place).
    if place.zone is None and place.device is None:
        return dict(expected)
    return {d: z for d, z in expected.items() if d in place.devices}


def _planned(session: Session, start: datetime, end: datetime) -> list[planning.PlannedOccurrence]:
    schedules, zones, devices = load_specs(session)
    return planning.plan(schedules, zones, devices, now=start, horizon=end - start)


# --------------------------------------------------------------------------- live counts


@dataclass(frozen=True)
class LoudspeakerCounts:
    """The loudspeakers a broadcast targets: online, offline, reached, and how it went."""

    targeted: int
    online: int
    offline: int
    """Connected before, not now (the device page's "mất kết nối")."""
    never: int
    """Never connected at all (the device page's "chưa kết nối lần nào")."""
    reached: int
    """Loudspeakers that started it (a "started" or later "finished" receipt)."""
    tally: DeviceTally
    state: BroadcastState


def loudspeaker_counts(session: Session, occurrence_id: str, *, now: datetime) -> LoudspeakerCounts:
    """Live counts for one broadcast (the emergency page polls these)."""
    occ = session.get(Occurrence, occurrence_id)
    if occ is None:
        raise NotFound("broadcast_not_found", f"no broadcast {occurrence_id!r}")
    expected = Audience(device_zones(session)).of(occ)
    links = dict(
        session.execute(
            select(DeviceState.device_id, DeviceState.online).where(
                DeviceState.device_id.in_(list(expected) or [""])
            )
        ).all()
    )
    online = sum(1 for up in links.values() if up)
    types: dict[str, set[str]] = defaultdict(set)
    for device_id, kind in session.execute(
        select(Receipt.device_id, Receipt.type).where(Receipt.occurrence_id == occ.id)
    ):
        types[device_id].add(kind)
    states = {d: device_state(kinds) for d, kinds in types.items()}
    tally = tally_states(states, expected)
    reached = sum(1 for kinds in types.values() if kinds & {"started", "finished"})
    return LoudspeakerCounts(
        targeted=len(expected),
        online=online,
        offline=len(links) - online,
        never=len(expected) - len(links),
        reached=reached,
        tally=tally,
        state=state_of(occ, tally, now=now, source_failed=occ.id in failed_live(session, [occ])),
    )


def recent_emergencies(session: Session, *, now: datetime, within: timedelta) -> list[Occurrence]:
    """Emergency broadcasts played in the last `within` (newest first), for the emergency page."""
    from devices.protocol import EMERGENCY_PRIORITY

    return list(
        session.scalars(
            select(Occurrence)
            .where(
                Occurrence.priority >= EMERGENCY_PRIORITY,
                Occurrence.status != "cancelled",
                Occurrence.play_at >= now - within,
            )
            .order_by(Occurrence.play_at.desc(), Occurrence.id)
            .limit(20)
        )
    )


def zone_loudspeakers(session: Session) -> dict[str, tuple[int, int]]:
    """Zone path → (loudspeakers in it and below, of which online): what an emergency reaches."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows = session.execute(
        select(Device.zone_path, DeviceState.online).outerjoin(
            DeviceState, DeviceState.device_id == Device.id
        )
    )
    for zone, online in rows:
        for ancestor in zone_ancestors(zone):
            out[ancestor][0] += 1
            out[ancestor][1] += bool(online)
    return {path: (n, up) for path, (n, up) in out.items()}
