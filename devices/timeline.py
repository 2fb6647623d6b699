"""The agent's plan: merging the timelines it receives, and deciding what is due. Pure code."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from devices import protocol
from devices.protocol import Item, TimelineBody


def target_rank(target: str) -> int:
    """How specific a target is: a device beats a deeper zone, which beats a shallower one."""
    kind, name = protocol.parse_target(target)
    return 100 if kind == "device" else name.count("/") + 1


def relevant_targets(device_id: str, zone: str) -> list[str]:
    """The timeline targets an agent listens to: its zone's ancestors and itself."""
    zones = [protocol.zone_target(z) for z in protocol.zone_ancestors(zone)]
    return [*zones, protocol.device_target(device_id)]


def merge(timelines: Mapping[str, TimelineBody]) -> tuple[Item, ...]:
    """All items of the given timelines, one per occurrence, ordered by `play_at`.

    The same occurrence on two targets (a zone and the device itself) is taken from the most
    specific one, which is where the server would put an override.
    """
    chosen: dict[str, tuple[int, Item]] = {}
    for target, body in timelines.items():
        rank = target_rank(target)
        for item in body.items:
            held = chosen.get(item.occurrence_id)
            if held is None or rank > held[0]:
                chosen[item.occurrence_id] = (rank, item)
    return tuple(sorted((it for _, it in chosen.values()), key=sort_key))


def sort_key(item: Item) -> tuple[datetime, int, str]:
    """Earlier first; at the same instant the higher priority first."""
    assert item.play_at is not None
    return (item.play_at, -item.priority, item.occurrence_id)


def too_far_ahead(item: Item, now: datetime) -> bool:
    """A `play_at` further ahead than the protocol allows is refused as absurd."""
    return item.play_at is not None and item.play_at - now > protocol.MAX_PLAY_AHEAD


def deadline(item: Item) -> datetime:
    """The last instant at which the item may still start (a live item: never after `until`)."""
    assert item.play_at is not None
    late = item.play_at + timedelta(seconds=item.max_late_s)
    return min(late, item.until) if item.until is not None else late


@dataclass(frozen=True, slots=True)
class Triage:
    """What a plan means at one instant: items to report missed, and those still to play."""

    missed: tuple[Item, ...]
    upcoming: tuple[Item, ...]


def triage(plan: tuple[Item, ...], done: Collection[str], now: datetime) -> Triage:
    """Split the not-yet-handled items of `plan` into missed (window passed) and upcoming."""
    missed: list[Item] = []
    upcoming: list[Item] = []
    for item in plan:
        if item.occurrence_id in done:
            continue
        (missed if deadline(item) < now else upcoming).append(item)
    return Triage(tuple(missed), tuple(upcoming))


def relay_wanted(
    now: datetime,
    *,
    playing: bool,
    next_start: datetime | None,
    last_end: datetime | None,
    pre_roll: timedelta,
    post_roll: timedelta,
) -> bool:
    """The amplifier is on while playing, `pre_roll` before a start and `post_roll` after an end."""
    if playing:
        return True
    if next_start is not None and next_start - pre_roll <= now:
        return True
    return last_end is not None and now < last_end + post_roll


def relay_next_change(
    now: datetime,
    *,
    next_start: datetime | None,
    last_end: datetime | None,
    pre_roll: timedelta,
    post_roll: timedelta,
) -> datetime | None:
    """The next instant (after `now`) at which `relay_wanted` may change while nothing plays."""
    candidates = []
    if next_start is not None and next_start - pre_roll > now:
        candidates.append(next_start - pre_roll)
    if last_end is not None and last_end + post_roll > now:
        candidates.append(last_end + post_roll)
    return min(candidates) if candidates else None
