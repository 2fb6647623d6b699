"""The agent's merged plan: timelines per target and commanded items → the item to play next.

Pure state; its owner (the scheduler) holds the lock and passes the clock in. What is ready is
the caller's verdict (`ready`: the media is in the cache): an item whose media is not in hand is
never chosen, so it cannot hold up another whose media is (a "play now" whose file answered
404 once made every later timed item miss its minute).

A live item (a stream, PROTOCOL v2) is due from its `play_at` to its `until`; it may first start
until `play_at + max_late_s`. Once started it stays `live` (resumable) until it ends: an item
that outranks it may interrupt it, and it is chosen again afterwards while before `until`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from devices.protocol import EMERGENCY_PRIORITY, Item, TimelineBody, require_media
from devices.timeline import deadline, merge, too_far_ahead, triage


@dataclass(frozen=True, slots=True)
class Asap:
    """A `play` without `play_at`: as soon as its media is in hand, until `max_late_s`."""

    item: Item
    received_at: datetime

    @property
    def deadline(self) -> datetime:
        return self.received_at + timedelta(seconds=self.item.max_late_s)


@dataclass(frozen=True, slots=True)
class Choice:
    """The item to start next, and when (`asap` set for an as-soon-as-possible play)."""

    item: Item
    start_at: datetime
    asap: Asap | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the plan says at one instant."""

    choice: Choice | None
    #: Items whose window has passed: reported `missed` and marked done by the caller.
    missed: tuple[Item, ...]
    #: The earliest deadline of an item still waiting for its media (to report it missed).
    next_deadline: datetime | None
    #: Interrupted live items whose `until` passed, or that were withdrawn, before they could
    #: resume (`finished`).
    ended: tuple[Item, ...] = ()


def is_emergency(item: Item) -> bool:
    return item.priority >= EMERGENCY_PRIORITY


def interrupts(item: Item, current: Item) -> bool:
    """`item` may stop `current` to start: an emergency stops anything but an emergency, and
    any item of a higher priority stops a live item (which resumes afterwards)."""
    if is_emergency(item) and not is_emergency(current):
        return True
    return current.is_live and item.priority > current.priority


class Plan:
    """Timelines by target, commanded timed items, as-soon-as-possible plays, what is done."""

    def __init__(self, done: dict[str, datetime] | None = None, live: Collection[str] = ()) -> None:
        self.timelines: dict[str, TimelineBody] = {}
        self.commanded: dict[str, Item] = {}
        self.asap: list[Asap] = []
        #: occurrence id → its play_at (or when it was handled): never played again.
        self.done: dict[str, datetime] = dict(done or {})
        self.items: tuple[Item, ...] = ()
        #: Live items started and not ended (they resume after an interruption), by occurrence.
        self.live: dict[str, Item] = {}
        #: Live items started before a restart, taken into `live` once a timeline holds them.
        self._resume = set(live)

    # ------------------------------------------------------------------ changes

    def set_timeline(self, body: TimelineBody, now: datetime) -> list[Item]:
        """Hold `body` as its target's timeline; returns the items dropped as unplayable.

        Dropped: a `play_at` absurdly far ahead.
        """
        dropped = [i for i in body.items if too_far_ahead(i, now)]
        kept = tuple(i for i in body.items if i not in dropped)
        self.timelines[body.target] = body.model_copy(update={"items": kept})
        self._rebuild()
        return dropped

    def forget_timeline(self, target: str) -> None:
        self.timelines.pop(target, None)
        self._rebuild()

    def command(self, item: Item, now: datetime) -> bool:
        """Add a commanded play; False when that occurrence was already handled."""
        if item.occurrence_id in self.done:
            if item.occurrence_id in self._resume and item.play_at is not None:
                self.commanded[item.occurrence_id] = item  # restored: it resumes
                self._rebuild()
            return False
        if item.is_live and item.play_at is None:
            # A stream "as soon as possible" is a stream from now on, until its `until`.
            item = item.model_copy(update={"play_at": now})
        if item.play_at is None:
            if all(a.item.occurrence_id != item.occurrence_id for a in self.asap):
                self.asap.append(Asap(item, now))
        else:
            self.commanded[item.occurrence_id] = item
            self._rebuild()
        return True

    def withdraw(self, occurrence_id: str, now: datetime) -> list[Item]:
        """Mark a pending occurrence done without playing it; returns what was skipped."""
        pending = [i for i in self.items if i.occurrence_id == occurrence_id]
        pending += [a.item for a in self.asap if a.item.occurrence_id == occurrence_id]
        self.asap = [a for a in self.asap if a.item.occurrence_id != occurrence_id]
        self.live.pop(occurrence_id, None)
        skipped = []
        for item in pending:
            if item.occurrence_id not in self.done:
                self.mark_done(item, now)
                skipped.append(item)
        return skipped

    def mark_done(self, item: Item, now: datetime) -> None:
        self.done[item.occurrence_id] = item.play_at or now
        self.asap = [a for a in self.asap if a.item.occurrence_id != item.occurrence_id]

    def live_started(self, item: Item, now: datetime) -> bool:
        """A live item starts (or resumes); True the first time (its `started` receipt)."""
        first = item.occurrence_id not in self.live
        self.mark_done(item, now)
        self.live[item.occurrence_id] = item
        return first

    def live_ended(self, occurrence_id: str) -> None:
        """A live item ended for good (`until`, `stop`, withdrawn, failed): it never resumes."""
        self.live.pop(occurrence_id, None)
        self._resume.discard(occurrence_id)

    def live_ids(self) -> list[str]:
        """The live items started and not ended (saved: they resume after a restart)."""
        return sorted({*self.live, *self._resume})

    def still_held(self, item: Item) -> bool:
        """The item is still on a held timeline or commanded (not withdrawn by a newer one)."""
        return self.contains(item.occurrence_id)

    def _rebuild(self) -> None:
        merged = merge(self.timelines)
        held = {m.occurrence_id for m in merged}
        extra = [i for i in self.commanded.values() if i.occurrence_id not in held]
        self.items = tuple(sorted((*merged, *extra), key=lambda i: (i.play_at, -i.priority)))
        for i in self.items:
            if i.is_live and (i.occurrence_id in self._resume or i.occurrence_id in self.live):
                # restored after a restart, or a newer copy (another `until` or stream)
                self._resume.discard(i.occurrence_id)
                self.live[i.occurrence_id] = i

    # ------------------------------------------------------------------ questions

    def contains(self, occurrence_id: str) -> bool:
        return any(i.occurrence_id == occurrence_id for i in self.items)

    def upcoming(self, now: datetime) -> tuple[Item, ...]:
        """Timed items not handled whose window is still open."""
        return triage(self.items, self.done, now).upcoming

    def pending(self) -> list[Item]:
        """Every item not yet handled (timed and as soon as possible)."""
        items = [i for i in self.items if i.occurrence_id not in self.done]
        return items + [a.item for a in self.asap]

    def pinned(self) -> set[str]:
        """The media the cache must not evict: that of every pending item."""
        return {require_media(i).sha256 for i in self.pending() if i.media is not None}

    def decide(
        self,
        now: datetime,
        *,
        synced: bool,
        ready: Callable[[Item], bool],
        warm_at: datetime,
        current: Item | None = None,
    ) -> Decision:
        """Choose what to play next; expire what can no longer play.

        `synced`: the clock can be trusted, so timed items may play (as-soon-as-possible ones
        do not need it). `warm_at`: the earliest an as-soon-as-possible item (or a live one
        joined late) may start (the amplifier's pre-roll). Emergencies go first among what is
        due. `current`: what plays now; a live item playing is not chosen again, and an
        interrupted one is chosen again while due (`ended`: those whose `until` passed).
        """
        missed: list[Item] = []
        upcoming: tuple[Item, ...] = ()
        if synced:
            tri = triage(self.items, self.done, now)
            missed = list(tri.missed)
            upcoming = tri.upcoming
        expired = [a for a in self.asap if a.deadline < now]
        missed += [a.item for a in expired]
        self.asap = [a for a in self.asap if a not in expired]

        waiting = [deadline(i) for i in upcoming if not ready(i)]
        waiting += [a.deadline for a in self.asap if not ready(a.item)]
        next_deadline = min(waiting) if waiting else None

        candidates = [i for i in upcoming if ready(i)]
        due = [i for i in candidates if i.play_at is not None and i.play_at <= now]
        current_id = current.occurrence_id if current is not None else None
        # Interrupted live items that may not resume: `until` passed, or withdrawn meanwhile.
        ended = tuple(
            i
            for i in self.live.values()
            if i.occurrence_id != current_id
            and ((i.until is not None and i.until <= now) or not self.contains(i.occurrence_id))
        )
        for gone in ended:
            del self.live[gone.occurrence_id]
        # Interrupted live items resume while due (they are `done`: triage skips them).
        due += [i for i in self.live.values() if i.occurrence_id != current_id]
        ready_asap = [a for a in self.asap if ready(a.item)]
        choice: Choice | None = None
        if ready_asap:
            asap = min(ready_asap, key=lambda a: (-a.item.priority, a.received_at))
            if not due or asap.item.priority >= max(i.priority for i in due):
                choice = Choice(asap.item, max(now, warm_at), asap)
        if choice is None and due:
            item = min(due, key=lambda i: (not is_emergency(i), i.play_at))
            assert item.play_at is not None
            # A stream joined late plays from "now": give the amplifier its pre-roll first.
            choice = Choice(item, max(item.play_at, warm_at) if item.is_live else item.play_at)
        if choice is None and candidates:
            first = candidates[0]
            assert first.play_at is not None
            choice = Choice(first, first.play_at)
        return Decision(choice, tuple(missed), next_deadline, ended)
