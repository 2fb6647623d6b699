"""The agent's scheduler: one thread that drives the amplifier relay, prepares and starts items
on their instant, lets an emergency interrupt whatever plays, and reports what it did.

Live items (streams) go through the same path: at their instant the `LiveClient` (snapclient)
is started, and it is stopped at `until`, on `stop`, when the item is withdrawn, or when an item
that outranks it starts (the live item resumes afterwards while before `until`). The client
runs only then: no stream sound can leave the device without a verified live item due. While
the client says its connection is lost the amplifier is off; it comes back on with the stream.

It owns the plan (`devices.plan.Plan`) behind its lock. No lock is held across the instant of a
start, nor while writing to disk: a message being saved must not delay a start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Protocol

from devices.clock import Clock, gc_hold, monotonic_at, wait_until
from devices.config import PlayerSection, RelaySection
from devices.errors import PlayerError
from devices.live import LiveClient, LivePlayback, LiveState
from devices.media import MediaCache
from devices.plan import Asap, Plan, interrupts
from devices.players import Playback, Player, Prepared
from devices.protocol import Item, ReceiptType, TimelineBody, require_media
from devices.relay import Relay
from devices.timeline import relay_next_change, relay_wanted

log = logging.getLogger(__name__)

#: The scheduler starts its precise final wait this long before the instant.
FINAL_WAIT_S = 0.5
#: Longest the scheduler sleeps with nothing to do (it re-reads the clock status then).
IDLE_WAKE_S = 30.0
#: While something plays, how often the scheduler looks whether it ended.
PLAYING_POLL_S = 0.1
#: Receipts and state for a start go out this long after it.
REPORT_DELAY_S = 0.3
#: The `finished` detail of a live item a newer timeline no longer holds.
WITHDRAWN = "withdrawn by a newer timeline"


class Events(Protocol):
    """What the scheduler tells the rest of the agent."""

    def emit(
        self,
        occurrence_id: str,
        kind: ReceiptType,
        *,
        late_ms: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Send a receipt."""

    def handled(self) -> None:
        """Something was started, finished, missed or skipped: save and republish state."""

    def error(self, detail: str) -> None:
        """Note the last error (for the state)."""


@dataclass(slots=True)
class Current:
    """What plays now."""

    item: Item
    playback: Playback
    started_at: datetime
    stopped_by: str | None = None


class Scheduler:
    """Plays the plan on time; `kick()` after any change to make it look again."""

    def __init__(
        self,
        *,
        plan: Plan,
        player: Player,
        relay: Relay,
        cache: MediaCache,
        clock: Clock,
        synced: Callable[[], bool],
        player_settings: PlayerSection,
        relay_settings: RelaySection,
        events: Events,
        volume: int,
        live: LiveClient | None = None,
        name: str = "pa-sched",
    ) -> None:
        self.plan = plan
        self.player = player
        self.live = live
        #: The live client reported its connection lost (amplifier off until it plays again).
        self._live_lost = False
        self.relay = relay
        self.cache = cache
        self.clock = clock
        self.synced = synced
        self.player_settings = player_settings
        self.pre_roll = timedelta(seconds=relay_settings.pre_roll_s)
        self.post_roll = timedelta(seconds=relay_settings.post_roll_s)
        self.events = events
        self.volume = volume
        self.lock = threading.RLock()
        self.current: Current | None = None
        self._prepared: dict[str, Prepared] = {}
        self._starting: str | None = None
        self._cancel_start = False
        self._reports: list[Callable[[], None]] = []
        self._relay_on_at: datetime | None = None
        self._last_end: datetime | None = None
        self._kick = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, silence what plays, switch the amplifier off."""
        self._stopping.set()
        self._kick.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self.lock:
            if self.current is not None:
                self.current.playback.stop()
        self.relay.set(False)

    def kick(self) -> None:
        self._kick.set()

    def live_state(self, state: LiveState) -> None:
        """The live client's `on_state`: a lost connection silences the amplifier at once."""
        if state == "disconnected":
            self._live_lost = True
        elif state == "playing":
            self._live_lost = False
        self.kick()

    # ------------------------------------------------------------------ changes from outside

    def set_timeline(self, body: TimelineBody) -> tuple[list[Item], tuple[Item, ...]]:
        """Hold a timeline; returns (items dropped as unplayable, items upcoming now)."""
        with self.lock:
            now = self.clock.now()
            dropped = self.plan.set_timeline(body, now)
            self._check_withdrawn()
            upcoming = self.plan.upcoming(now)
        self.kick()
        return dropped, upcoming

    def command(self, item: Item) -> bool:
        """A commanded play; False when the occurrence was already handled."""
        with self.lock:
            added = self.plan.command(item, self.clock.now())
        self.kick()
        return added

    def set_volume(self, volume: int) -> None:
        with self.lock:
            self.volume = volume
            cur = self.current
            # An item that names its volume (every emergency does) keeps it.
            if cur is not None and cur.item.volume is None:
                cur.playback.set_volume(volume)

    def stop(self, occurrence_id: str | None) -> None:
        """Stop what plays (or that occurrence), and skip that occurrence if still pending."""
        skipped: list[Item] = []
        finished: list[str] = []
        with self.lock:
            now = self.clock.now()
            cur = self.current
            if cur is not None and occurrence_id in (None, cur.item.occurrence_id):
                cur.stopped_by = "stopped by command"
                cur.playback.stop()
            elif occurrence_id in self.plan.live:  # an interrupted live item: ends now
                self.plan.live_ended(occurrence_id)
                finished.append(occurrence_id)
            if self._starting is not None and occurrence_id in (None, self._starting):
                self._cancel_start = True
                if self._starting in self.plan.live:  # a live item resuming: it ends here
                    self.plan.live_ended(self._starting)
                    finished.append(self._starting)
                elif self._starting not in finished:
                    skipped += [i for i in self.plan.items if i.occurrence_id == self._starting]
            if occurrence_id is not None:
                skipped += self.plan.withdraw(occurrence_id, now)
        for item in skipped:
            self.events.emit(item.occurrence_id, "skipped", detail="stopped by command")
        for occ in finished:
            self.events.emit(occ, "finished", detail="stopped by command")
        self.events.handled()
        self.kick()

    def _check_withdrawn(self) -> None:
        starting = self._starting
        # Withdrawn by a newer timeline during the final wait (asap plays are in no timeline).
        if (
            starting is not None
            and not self.plan.contains(starting)
            and all(a.item.occurrence_id != starting for a in self.plan.asap)
        ):
            self._cancel_start = True

    # ------------------------------------------------------------------ questions

    def playing(self) -> tuple[Item, datetime] | None:
        with self.lock:
            cur = self.current
            return (cur.item, cur.started_at) if cur is not None else None

    def pinned(self) -> set[str]:
        with self.lock:
            return self.plan.pinned()

    def upcoming(self) -> tuple[Item, ...]:
        with self.lock:
            return self.plan.upcoming(self.clock.now())

    def settings(self) -> tuple[int, dict[str, datetime], list[str]]:
        """(volume, done, live items started and not ended): what is saved to disk."""
        with self.lock:
            return self.volume, dict(self.plan.done), self.plan.live_ids()

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._kick.clear()
            try:
                wake = self.step()
            except Exception as exc:  # the scheduler must outlive any bug in one step
                log.exception("scheduler step failed")
                self.events.error(f"scheduler: {type(exc).__name__}: {exc}")
                wake = 1.0
            if wake > 0:
                self._kick.wait(wake)

    def _ready(self, item: Item) -> bool:
        if item.is_live:
            return self.live is not None
        return item.media is not None and self.cache.has(item.media)

    def step(self) -> float:
        """One pass: report misses, drive the relay, prepare and start; returns seconds to sleep."""
        reports, self._reports = self._reports, []
        for report in reports:
            report()
        receipts: list[tuple[str, ReceiptType, str | None]] = []
        to_start: tuple[Item, datetime, Asap | None, Prepared] | None = None
        to_prepare: tuple[Item, Path] | None = None
        with self.lock:
            now = self.clock.now()
            cur = self.current
            if cur is not None and isinstance(cur.playback, LivePlayback):
                latest = self.plan.live.get(cur.item.occurrence_id)
                if latest is None or not self.plan.still_held(cur.item):
                    cur.stopped_by = cur.stopped_by or WITHDRAWN
                    cur.playback.stop()
                elif latest != cur.item:  # a newer timeline moved its `until` or its stream
                    cur.item = latest
                    self._follow(cur.playback, latest)
            if cur is not None and cur.playback.wait(0):
                detail = cur.stopped_by
                if isinstance(cur.playback, LivePlayback):
                    cur.playback.stop()  # at `until`: silence now, the amplifier after post-roll
                    self.plan.live_ended(cur.item.occurrence_id)
                    if detail is None and not cur.playback.reached:
                        detail = "the live stream never played"
                receipts.append((cur.item.occurrence_id, "finished", detail))
                self.current = cur = None
                self._last_end = now
            warm = (self._relay_on_at or now) + self.pre_roll
            decision = self.plan.decide(
                now,
                synced=self.synced(),
                ready=self._ready,
                warm_at=warm,
                current=cur.item if cur is not None else None,
            )
            for gone in decision.ended:
                receipts.append((gone.occurrence_id, "finished", "ended while interrupted"))
            for m in decision.missed:
                self.plan.mark_done(m, now)
                self._prepared.pop(m.occurrence_id, None)
                why = "too late to play" if self._ready(m) else "media not available"
                receipts.append((m.occurrence_id, "missed", why))
            wakes: list[float] = [IDLE_WAKE_S]
            if decision.next_deadline is not None:
                wakes.append((decision.next_deadline - now).total_seconds() + 0.001)
            busy = cur is not None
            choice = decision.choice
            if choice is not None:
                item, start_at = choice.item, choice.start_at
                lead = (start_at - now).total_seconds()
                blocked = cur is not None and not interrupts(item, cur.item)
                prepared = self._prepared.get(item.occurrence_id)
                if item.is_live and prepared is None:
                    prepared = Prepared(item, Path())  # a stream: nothing to decode ahead
                prepare_s = self.player_settings.prepare_s
                if blocked:
                    pass
                elif prepared is None and lead <= prepare_s:
                    path = self.cache.verified_path(require_media(item))
                    if path is not None:
                        to_prepare = (item, path)
                    else:  # corrupt in the cache (removed): the fetcher's next kick
                        wakes.append(1.0)
                elif prepared is not None and lead <= FINAL_WAIT_S:
                    to_start = (item, start_at, choice.asap, prepared)
                elif prepared is not None:
                    wakes.append(lead - FINAL_WAIT_S)
                else:
                    wakes.append(lead - prepare_s)
            if busy:
                wakes.append(PLAYING_POLL_S)
            start_at_for_relay = choice.start_at if choice is not None else None
            # A live stream whose connection is lost: silence, whatever else the relay wants.
            lost = cur is not None and cur.item.is_live and self._live_lost
            self._drive_relay(
                now, busy or to_start is not None, start_at_for_relay, wakes, force_off=lost
            )
        for occ, kind, detail in receipts:
            self.events.emit(occ, kind, detail=detail)
        if receipts:
            self.events.handled()
        if to_prepare is not None:
            self._prepare(*to_prepare)
            return 0
        if to_start is not None:
            self._start(*to_start)
            return REPORT_DELAY_S
        return max(0.0, min(wakes))

    def _drive_relay(
        self,
        now: datetime,
        playing: bool,
        start_at: datetime | None,
        wakes: list[float],
        *,
        force_off: bool = False,
    ) -> None:
        on = not force_off and relay_wanted(
            now,
            playing=playing,
            next_start=start_at,
            last_end=self._last_end,
            pre_roll=self.pre_roll,
            post_roll=self.post_roll,
        )
        if on and self._relay_on_at is None:
            self._relay_on_at = now
        elif not on:
            self._relay_on_at = None
        self.relay.set(on)
        change = relay_next_change(
            now,
            next_start=start_at,
            last_end=self._last_end,
            pre_roll=self.pre_roll,
            post_roll=self.post_roll,
        )
        if change is not None:
            wakes.append((change - now).total_seconds())

    def _prepare(self, item: Item, path: Path) -> None:
        try:
            prepared = self.player.prepare(item, path)
        except PlayerError as exc:
            with self.lock:
                self.plan.mark_done(item, self.clock.now())
            self.events.error(str(exc))
            self.events.emit(item.occurrence_id, "failed", detail=str(exc))
            self.events.handled()
            return
        with self.lock:
            self._prepared[item.occurrence_id] = prepared

    def _start(self, item: Item, start_at: datetime, asap: Asap | None, prepared: Prepared) -> None:
        target = monotonic_at(self.clock, start_at)
        first = True
        stopped_early: Current | None = None
        with self.lock:
            # Handled from here on (in memory; saved to disk right after the start, where an
            # fsync on a slow SD card cannot delay it).
            # A live item is in `plan.live` once it has started (a resume: already there).
            first = item.occurrence_id not in self.plan.live
            self.plan.mark_done(item, self.clock.now())
            self._prepared.pop(item.occurrence_id, None)
            self._starting = item.occurrence_id
            self._cancel_start = False
            cur = self.current
            if cur is not None and (item.is_live or cur.item.is_live):
                # snapclient and the file player must not hold the sound card at once: what
                # plays stops before the instant. An interrupted live item resumes later.
                cur.stopped_by = f"interrupted by {item.occurrence_id}"
                cur.playback.stop()
                self.current = None
                stopped_early = None if cur.item.is_live else cur
        error = None
        playback: Playback | None = None
        # No lock across the instant: a message being saved must not delay the start.
        with gc_hold:
            reached = wait_until(
                self.clock, target, spin_s=self.player_settings.spin_s, cancel=self._stopping
            )
            if not reached or self._cancel_start:
                self._starting = None
                if reached:  # cancelled (a stop ended a resuming live item already)
                    with self.lock:
                        resuming = item.occurrence_id in self.plan.live
                        self.plan.live_ended(item.occurrence_id)
                    if resuming:  # withdrawn by a newer timeline during the final wait
                        self._reports.append(
                            partial(
                                self.events.emit, item.occurrence_id, "finished", detail=WITHDRAWN
                            )
                        )
                if stopped_early is not None:
                    self._reports.append(partial(self._report_interrupted, stopped_early))
                return
            volume = item.volume if item.volume is not None else self.volume
            try:
                if item.is_live:
                    playback = self._start_live(item)
                else:
                    playback = self.player.start(prepared, volume, self.clock)
            except PlayerError as exc:
                error = str(exc)
        with self.lock:
            self._starting = None
            if item.is_live and playback is not None:
                self.plan.live_started(item, self.clock.now())
            elif item.is_live:
                self.plan.live_ended(item.occurrence_id)
            interrupted = stopped_early or (self.current if playback is not None else None)
            if interrupted is not None:
                interrupted.stopped_by = f"interrupted by {item.occurrence_id}"
                interrupted.playback.stop()
            if playback is not None:
                self.current = Current(item, playback, playback.started_at)
        # Receipts and state go out on the next pass, a moment later: in a simulated fleet all
        # agents of a zone start on one instant in one process, and must not queue behind each
        # other's disk and network work.
        self._reports.append(
            partial(self._report_start, item, playback, interrupted, error, first=first)
        )

    def _report_interrupted(self, interrupted: Current) -> None:
        self.events.emit(interrupted.item.occurrence_id, "failed", detail=interrupted.stopped_by)
        self.events.handled()

    def _follow(self, playback: LivePlayback, item: Item) -> None:
        try:
            playback.follow(item)
        except PlayerError as exc:
            self.events.error(str(exc))

    def _start_live(self, item: Item) -> LivePlayback:
        if self.live is None:
            raise PlayerError("this agent has no live client")
        self._live_lost = False
        return LivePlayback(self.live, item, self.clock)

    def _report_start(
        self,
        item: Item,
        playback: Playback | None,
        interrupted: Current | None,
        error: str | None,
        *,
        first: bool = True,
    ) -> None:
        if interrupted is not None:
            self._report_interrupted(interrupted)
        if playback is not None and not first:
            log.info("resumed live item %s", item.occurrence_id)
        elif playback is None:
            self.events.error(error or "player failed")
            self.events.emit(item.occurrence_id, "failed", detail=error)
        else:
            late_ms = None
            if item.play_at is not None:
                late_ms = round((playback.started_at - item.play_at).total_seconds() * 1000)
            log.info("started %s (late %s ms)", item.occurrence_id, late_ms)
            self.events.emit(item.occurrence_id, "started", late_ms=late_ms)
        self.events.handled()
