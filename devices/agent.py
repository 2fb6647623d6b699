"""The loudspeaker agent: checks what arrives, keeps the plan on disk, fetches, plays, reports.

`with Agent(config) as agent: agent.run()`. Threads: paho's network loop (messages in),
one job thread (media fetches, clock checks, periodic state), one scheduler thread (relay and
playback on the instant). Shared state sits behind one lock; no callback ever raises.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from devices import __version__, protocol
from devices.clock import (
    Clock,
    ClockWatch,
    CorrectedClock,
    SkewedClock,
    SystemClock,
    gc_hold,
    kernel_synced,
    monotonic_at,
    wait_until,
)
from devices.config import AgentConfig
from devices.errors import PlayerError
from devices.jobs import JobThread
from devices.link import Link, PahoLink
from devices.media import Fetcher, MediaCache
from devices.players import Playback, Player, Prepared, make_player
from devices.protocol import (
    Envelope,
    Item,
    PingBody,
    PlayBody,
    ReceiptType,
    ReplayWindow,
    StopBody,
    TimelineBody,
    Topics,
    VolumeBody,
    require_media,
)
from devices.relay import Relay, make_relay
from devices.storage import AgentStore, KnownTimeline, ReceiptJournal
from devices.timeline import (
    deadline,
    merge,
    relay_next_change,
    relay_wanted,
    relevant_targets,
    too_far_ahead,
    triage,
)

log = logging.getLogger(__name__)

#: The scheduler starts its precise final wait this long before the instant.
FINAL_WAIT_S = 0.5
#: Longest the scheduler sleeps with nothing to do (it re-reads the clock status then).
IDLE_WAKE_S = 30.0
#: While something plays, how often the scheduler looks whether it ended.
PLAYING_POLL_S = 0.1
#: Receipts and state for a start go out this long after it.
REPORT_DELAY_S = 0.3
#: After a rejection, the state is republished at most this often.
REJECT_STATE_INTERVAL_S = 1.0
#: While the clock is untrusted, how often it is measured again.
UNSYNCED_RECHECK_S = 10.0


@dataclass(slots=True)
class _Current:
    item: Item
    playback: Playback
    started_at: datetime
    stopped_by: str | None = None


@dataclass(frozen=True, slots=True)
class _Asap:
    """A `play` without `play_at`: as soon as its media is in hand, until `max_late_s`."""

    item: Item
    received_at: datetime

    @property
    def deadline(self) -> datetime:
        return self.received_at + timedelta(seconds=self.item.max_late_s)


class Agent:
    """One loudspeaker agent; `with Agent(config) as agent: agent.run()`."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        link: Link | None = None,
        player: Player | None = None,
        relay: Relay | None = None,
        clock: Clock | None = None,
        http: httpx.Client | None = None,
        kernel_check: Callable[[], bool | None] = kernel_synced,
    ) -> None:
        self.config = config
        self.device_id = config.device.id
        self.topics = Topics(config.topic_prefix)
        self.keys = config.public_keys()
        raw: Clock = clock or SystemClock()
        if config.clock.simulate_skew_s:
            log.warning(
                "clock skew of %+.3f s SIMULATED (tests only)", config.clock.simulate_skew_s
            )
            raw = SkewedClock(raw, config.clock.simulate_skew_s)
            kernel_check = _kernel_unknown  # the kernel's verdict is about the real clock
        #: The clock played by: the system's, plus a correction measured against the server.
        self.clock = CorrectedClock(raw)
        self.store = AgentStore(config.paths.state_dir)
        self.http = http or httpx.Client(timeout=config.fetch.timeout_s, follow_redirects=True)
        self.link: Link = link or PahoLink(
            config.mqtt.url,
            client_id=f"pa-device-{self.device_id}",
            subscriptions=self.topics.agent_subscriptions(self.device_id, config.device.zone),
            will_topic=self.topics.state(self.device_id),
            will_payload=protocol.offline_state(self.device_id),
            username=config.mqtt.username,
            password=config.mqtt.password,
            ca_file=config.mqtt.ca_file,
            keepalive=config.mqtt.keepalive,
        )
        self.player: Player = player or make_player(config.player, self.device_id)
        self.relay: Relay = relay or make_relay(config.relay)
        self.cache = MediaCache(self.store.media_dir, config.cache.max_bytes)
        self.jobs = JobThread(f"pa-jobs-{self.device_id}", self.clock.monotonic)
        self.clock_watch = ClockWatch(
            clock=raw,
            client=self.http,
            url=config.server.url,
            max_offset_s=config.clock.max_offset_s,
            max_error_s=config.clock.max_error_s,
            corrected=self.clock,
            kernel_check=kernel_check,
            # Only the system's monotonic clock compares across processes of one boot.
            memory=self.store.dir / "clock.json" if clock is None else None,
        )
        self.fetcher = Fetcher(
            cache=self.cache,
            client=self.http,
            settings=config.fetch,
            clock=self.clock,
            jobs=self.jobs,
            pinned=self._pinned,
            on_fetched=self._on_fetched,
            on_failed=self._on_fetch_failed,
        )
        self._targets = set(relevant_targets(self.device_id, config.device.zone))
        self._lock = threading.RLock()
        self._kick = threading.Event()
        self._stopping = threading.Event()
        self._started_mono = time.monotonic()
        snap = self.store.load()
        self._timelines: dict[str, KnownTimeline] = {
            t: k for t, k in snap.timelines.items() if t in self._targets
        }
        self._replay = snap.replay
        self._volume = snap.volume
        self._done = snap.done
        self._commanded: dict[str, Item] = {}
        self._asap: list[_Asap] = []
        self._plan: tuple[Item, ...] = ()
        self._prepared: dict[str, Prepared] = {}
        self._current: _Current | None = None
        self._starting: str | None = None
        self._cancel_start = False
        self._reports: list[Callable[[], None]] = []
        self._relay_on_at: datetime | None = None
        self._persist_lock = threading.Lock()
        self._generation = 0
        self._written: Counter[str] = Counter()
        self._last_reject_state = -1e9
        self._last_end: datetime | None = None
        self._fetched_sent: set[str] = set()
        self.rejected: Counter[str] = Counter()
        self.last_error: str | None = None
        self._journal = ReceiptJournal(self.store.journal_path)
        self._scheduler = threading.Thread(
            target=self._schedule_loop, name=f"pa-sched-{self.device_id}", daemon=True
        )
        self._rebuild_plan()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the threads and the broker session; plays from disk even with no network."""
        self.jobs.start()
        self.jobs.after(0, self._check_clock)
        self.jobs.after(self.config.state_interval_s, self._periodic_state)
        self.link.start(self._on_message, self._on_connected)
        for seq, receipt in self._journal.pending():
            self._send_receipt(seq, receipt)
        with self._lock:
            upcoming = triage(self._plan, self._done, self.clock.now()).upcoming
        self.fetcher.want(upcoming)
        self._scheduler.start()
        log.info("agent %s started in zone %s", self.device_id, self.config.device.zone)

    def run(self) -> None:
        """Block until `stop()` (or a signal handler calling it)."""
        self._stopping.wait()

    def stop(self) -> None:
        self._stopping.set()
        self._kick.set()

    def close(self) -> None:
        """Stop playing, switch the amplifier off, say goodbye to the broker, close files."""
        self.stop()
        if self._scheduler.is_alive():
            self._scheduler.join(timeout=5)
        with self._lock:
            if self._current is not None:
                self._current.playback.stop()
        self.relay.set(False)
        self.relay.close()
        self.jobs.stop()
        try:
            # A clean disconnect sends no LWT: say "offline" ourselves, and wait for its ack.
            acked = threading.Event()
            self.link.publish(
                self.topics.state(self.device_id),
                protocol.offline_state(self.device_id),
                retain=True,
                on_ack=acked.set,
            )
            if self.link.connected:
                acked.wait(2.0)
        finally:
            self.link.close()
            self.player.close()
            self._journal.close()
            self.http.close()

    # ------------------------------------------------------------------ inbound

    def _on_connected(self) -> None:
        self.publish_state()

    def _on_message(self, topic: str, payload: bytes) -> None:
        """Check one message and act on it; anything wrong is counted, nothing raises."""
        try:
            self.handle(topic, payload)
        except protocol.ProtocolError as exc:
            self._reject(exc.reason, f"{topic}: {exc}")
        except Exception as exc:  # a bug must not take the agent down; it is counted and logged
            log.exception("unexpected error handling %s", topic)
            self._reject("malformed", f"{topic}: internal error {type(exc).__name__}")

    def _reject(self, reason: str, detail: str) -> None:
        log.warning("rejected (%s): %s", reason, detail)
        with self._lock:
            self.rejected[reason] += 1
            self.last_error = detail[:1000]
            # A flood of garbage must not become a flood of state messages.
            quiet = time.monotonic() - self._last_reject_state < REJECT_STATE_INTERVAL_S
            if not quiet:
                self._last_reject_state = time.monotonic()
        if not quiet:
            self.publish_state()

    def handle(self, topic: str, payload: bytes) -> None:
        """Verify and apply one message; raises `ProtocolError` for what must be refused."""
        where = self.topics.parse(topic)
        if not payload and where.channel == "timeline":
            log.info("retained timeline on %s cleared", topic)  # an admin clean-up, not an attack
            return
        now = self.clock.now()
        env = protocol.open_envelope(payload, keys=self.keys, now=now)
        if where.channel not in ("cmd", "timeline") or where.target not in self._targets:
            raise protocol.MalformedMessage(f"not a topic this agent listens to: {topic}")
        if (where.channel == "timeline") != (env.kind == "timeline"):
            raise protocol.MalformedMessage(f"a {env.kind} envelope on {where.channel} topic")
        if isinstance(env.body, TimelineBody):
            if env.body.target != where.target:
                raise protocol.MalformedMessage(
                    f"timeline for {env.body.target} published on {where.target}'s topic"
                )
            self._accept_timeline(env, env.body, now)
            return
        with self._lock:
            self._replay.check_and_add(env, now)
        self._persist(replay=True)
        self._command(env, now)

    def _accept_timeline(self, env: Envelope, body: TimelineBody, now: datetime) -> None:
        with self._lock:
            known = self._timelines.get(body.target)
            # Same id and version: the retained copy again. A different version under a known
            # id is no retained copy: it falls through and is refused as a replay, counted.
            if known is not None and (known.envelope_id, known.version) == (env.id, body.version):
                log.debug("timeline %s v%d already known", body.target, body.version)
                return
            if known is not None and body.version <= known.version:
                raise protocol.Replayed(
                    f"timeline {body.target} v{body.version} is not newer than v{known.version}"
                )
            self._replay.check_and_add(env, now)
            # v2 live items are not played by this agent yet: dropped like absurd ones.
            absurd = [i for i in body.items if too_far_ahead(i, now) or i.is_live]
            if absurd:
                body = body.model_copy(
                    update={"items": tuple(i for i in body.items if i not in absurd)}
                )
            self._timelines[body.target] = KnownTimeline(body.version, env.id, body)
            self._rebuild_plan()
            upcoming = triage(self._plan, self._done, now).upcoming
        self._persist(timelines=True, replay=True)
        log.info("timeline %s v%d: %d items", body.target, body.version, len(body.items))
        for item in absurd:
            why = "live not supported" if item.is_live else "play_at too far ahead"
            self._reject("malformed", f"item {item.occurrence_id}: {why}")
        self.fetcher.want(upcoming)
        self._kick.set()
        self.publish_state()

    def _command(self, env: Envelope, now: datetime) -> None:
        body: Item | StopBody | VolumeBody | PingBody | TimelineBody = env.body
        if isinstance(body, PlayBody):
            body = body.item()  # the address was for delivery; the plan holds plain items
            if body.is_live:  # v2 live items: not played by this agent yet
                raise protocol.MalformedMessage(f"play {body.occurrence_id}: live not supported")
        if isinstance(body, Item):
            if too_far_ahead(body, now):
                raise protocol.MalformedMessage(f"play {body.occurrence_id}: play_at too far ahead")
            with self._lock:
                if body.occurrence_id in self._done:
                    return
                if body.play_at is None:
                    self._asap.append(_Asap(body, now))
                else:
                    self._commanded[body.occurrence_id] = body
                    self._rebuild_plan()
            self.fetcher.want([body])
        elif isinstance(body, StopBody):
            self._stop(body.occurrence_id)
        elif isinstance(body, VolumeBody):
            with self._lock:
                self._volume = body.volume
                if self._current is not None and self._current.item.volume is None:
                    self._current.playback.set_volume(body.volume)
            self._persist(settings=True)
        elif isinstance(body, PingBody):
            pass
        self._kick.set()
        self.publish_state()

    def _stop(self, occurrence_id: str | None) -> None:
        skipped: list[Item] = []
        with self._lock:
            cur = self._current
            if cur is not None and occurrence_id in (None, cur.item.occurrence_id):
                cur.stopped_by = "stopped by command"
                cur.playback.stop()
            if self._starting is not None and occurrence_id in (None, self._starting):
                self._cancel_start = True
                skipped += [i for i in self._plan if i.occurrence_id == self._starting]
            if occurrence_id is not None:
                pending = [i for i in self._plan if i.occurrence_id == occurrence_id]
                pending += [a.item for a in self._asap if a.item.occurrence_id == occurrence_id]
                self._asap = [a for a in self._asap if a.item.occurrence_id != occurrence_id]
                for item in pending:
                    if item.occurrence_id not in self._done:
                        self._mark_done(item)
                        skipped.append(item)
        for item in skipped:
            self.emit(item.occurrence_id, "skipped", detail="stopped by command")
        self._persist(settings=True)

    # ------------------------------------------------------------------ plan and media

    def _rebuild_plan(self) -> None:
        merged = merge({t: k.body for t, k in self._timelines.items()})
        extra = [
            i
            for i in self._commanded.values()
            if i.occurrence_id not in {m.occurrence_id for m in merged}
        ]
        self._plan = tuple(sorted((*merged, *extra), key=lambda i: (i.play_at, -i.priority)))
        if self._starting is not None and all(
            i.occurrence_id != self._starting for i in self._plan
        ):
            self._cancel_start = True  # withdrawn by a newer timeline during the final wait

    def _pinned(self) -> set[str]:
        with self._lock:
            items = [i for i in self._plan if i.occurrence_id not in self._done]
            items += [a.item for a in self._asap]
            return {require_media(i).sha256 for i in items}

    def _on_fetched(self, item: Item) -> None:
        with self._lock:
            first = item.occurrence_id not in self._fetched_sent
            self._fetched_sent.add(item.occurrence_id)
        if first:
            self.emit(item.occurrence_id, "fetched")
        self._kick.set()

    def _on_fetch_failed(self, item: Item, detail: str) -> None:
        with self._lock:
            self.last_error = detail[:1000]
        self.emit(item.occurrence_id, "failed", detail=detail)

    # ------------------------------------------------------------------ scheduler

    def _mark_done(self, item: Item) -> None:
        self._done[item.occurrence_id] = item.play_at or self.clock.now()
        self._prepared.pop(item.occurrence_id, None)

    def _persist(
        self, *, timelines: bool = False, replay: bool = False, settings: bool = False
    ) -> None:
        """Write the named files from a snapshot taken now. Never call it holding `_lock`:
        an fsync on an SD card can take a tenth of a second, and must not delay a start."""
        with self._lock:
            self._generation += 1
            gen = self._generation
            snap_timelines = dict(self._timelines) if timelines else None
            snap_replay = ReplayWindow.from_json(self._replay.to_json()) if replay else None
            snap_settings = (self._volume, dict(self._done)) if settings else None
        with self._persist_lock:
            # Two threads may snapshot in one order and write in the other: keep the newest.
            if snap_timelines is not None and self._written["timelines"] < gen:
                self._written["timelines"] = gen
                self.store.save_timelines(snap_timelines)
            if snap_replay is not None and self._written["replay"] < gen:
                self._written["replay"] = gen
                self.store.save_replay(snap_replay)
            if snap_settings is not None and self._written["settings"] < gen:
                self._written["settings"] = gen
                volume, done = snap_settings
                self.store.save_settings(volume=volume, done=done, now=self.clock.now())

    def _schedule_loop(self) -> None:
        while not self._stopping.is_set():
            self._kick.clear()
            try:
                wake = self._schedule_step()
            except Exception as exc:  # the scheduler must outlive any bug in one step
                log.exception("scheduler step failed")
                with self._lock:
                    self.last_error = f"scheduler: {type(exc).__name__}: {exc}"[:1000]
                wake = 1.0
            if wake > 0:
                self._kick.wait(wake)

    def _choose(
        self, now: datetime, synced: bool
    ) -> tuple[Item | None, datetime | None, _Asap | None, list[Item]]:
        """(item to play next, its start instant, its asap entry, items now missed)."""
        missed: list[Item] = []
        upcoming: tuple[Item, ...] = ()
        if synced:
            tri = triage(self._plan, self._done, now)
            missed = list(tri.missed)
            upcoming = tri.upcoming
        expired = [a for a in self._asap if a.deadline < now]
        missed += [a.item for a in expired]
        self._asap = [a for a in self._asap if a not in expired]
        due = [i for i in upcoming if i.play_at is not None and i.play_at <= now]
        if self._asap:
            asap = min(self._asap, key=lambda a: (-a.item.priority, a.received_at))
            if not due or asap.item.priority >= max(i.priority for i in due):
                # The amplifier gets its pre-roll here too, or the first seconds are lost.
                pre = timedelta(seconds=self.config.relay.pre_roll_s)
                warm = now + pre if self._relay_on_at is None else self._relay_on_at + pre
                return asap.item, max(now, warm), asap, missed
        if due:
            item = min(due, key=lambda i: (i.priority < 100, i.play_at))
            return item, item.play_at, None, missed
        if upcoming:
            return upcoming[0], upcoming[0].play_at, None, missed
        return None, None, None, missed

    def _schedule_step(self) -> float:
        """One pass: report misses, drive the relay, prepare and start; returns seconds to sleep."""
        reports, self._reports = self._reports, []
        for report in reports:
            report()
        receipts: list[tuple[str, ReceiptType, int | None, str | None]] = []
        to_start: tuple[Item, datetime, _Asap | None, Prepared] | None = None
        to_prepare: tuple[Item, Path] | None = None
        with self._lock:
            now = self.clock.now()
            synced = self.clock_watch.status.synced
            cur = self._current
            if cur is not None and cur.playback.wait(0):
                receipts.append((cur.item.occurrence_id, "finished", None, cur.stopped_by))
                self._current = cur = None
                self._last_end = now
            item, start_at, asap, missed = self._choose(now, synced)
            for m in missed:
                self._mark_done(m)
                why = (
                    "too late to play"
                    if self.cache.has(require_media(m))
                    else "media not available"
                )
                receipts.append((m.occurrence_id, "missed", None, why))
            wakes: list[float] = [IDLE_WAKE_S]
            busy = cur is not None
            if item is not None and start_at is not None:
                lead = (start_at - now).total_seconds()
                interrupts = cur is not None and item.priority == 100 and cur.item.priority < 100
                blocked = busy and not interrupts
                prepared = self._prepared.get(item.occurrence_id)
                if prepared is None and lead <= self.config.player.prepare_s and not blocked:
                    path = self.cache.verified_path(require_media(item))
                    if path is not None:
                        to_prepare = (item, path)
                    else:
                        # Media not (yet) in hand: wait for the fetcher's kick or the deadline.
                        end = asap.deadline if asap else deadline(item)
                        wakes.append(max(0.0, (end - now).total_seconds()) + 0.001)
                elif prepared is not None and lead <= FINAL_WAIT_S and not blocked:
                    to_start = (item, start_at, asap, prepared)
                elif prepared is not None and not blocked:
                    wakes.append(lead - FINAL_WAIT_S)
                elif not blocked:
                    wakes.append(lead - self.config.player.prepare_s)
            if busy:
                wakes.append(PLAYING_POLL_S)
            self._drive_relay(now, busy or to_start is not None, item, start_at, wakes)
        for occ, kind, late, detail in receipts:
            self.emit(occ, kind, late_ms=late, detail=detail)
        if receipts:
            self._persist(settings=True)
            self.publish_state()
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
        item: Item | None,
        start_at: datetime | None,
        wakes: list[float],
    ) -> None:
        pre = timedelta(seconds=self.config.relay.pre_roll_s)
        post = timedelta(seconds=self.config.relay.post_roll_s)
        on = relay_wanted(
            now,
            playing=playing,
            next_start=start_at,
            last_end=self._last_end,
            pre_roll=pre,
            post_roll=post,
        )
        if on and self._relay_on_at is None:
            self._relay_on_at = now
        elif not on:
            self._relay_on_at = None
        self.relay.set(on)
        change = relay_next_change(
            now, next_start=start_at, last_end=self._last_end, pre_roll=pre, post_roll=post
        )
        if change is not None:
            wakes.append((change - now).total_seconds())

    def _prepare(self, item: Item, path: Path) -> None:
        try:
            prepared = self.player.prepare(item, path)
        except PlayerError as exc:
            with self._lock:
                self._mark_done(item)
                self.last_error = str(exc)[:1000]
            self.emit(item.occurrence_id, "failed", detail=str(exc))
            self._persist(settings=True)
            return
        with self._lock:
            self._prepared[item.occurrence_id] = prepared

    def _start(
        self, item: Item, start_at: datetime, asap: _Asap | None, prepared: Prepared
    ) -> None:
        target = monotonic_at(self.clock, start_at)
        with self._lock:
            # Handled from here on (in memory; saved to disk right after the start, where an
            # fsync on a slow SD card cannot delay it).
            self._asap = [a for a in self._asap if a is not asap]
            self._mark_done(item)
            self._starting = item.occurrence_id
            self._cancel_start = False
        spin = self.config.player.spin_s
        error = None
        playback: Playback | None = None
        # No lock across the instant: a message being saved must not delay the start.
        with gc_hold:
            reached = wait_until(self.clock, target, spin_s=spin, cancel=self._stopping)
            if not reached or self._cancel_start:
                self._starting = None
                return
            volume = item.volume if item.volume is not None else self._volume
            try:
                playback = self.player.start(prepared, volume, self.clock)
            except PlayerError as exc:
                error = str(exc)
        with self._lock:
            self._starting = None
            interrupted = self._current if playback is not None else None
            if interrupted is not None:
                interrupted.stopped_by = f"interrupted by {item.occurrence_id}"
                interrupted.playback.stop()
            if playback is not None:
                self._current = _Current(item, playback, playback.started_at)
        # Receipts and state go out on the scheduler's next pass, a moment later: in a
        # simulated fleet all agents of a zone start on one instant in one process, and must
        # not queue behind each other's disk and network work.
        self._reports.append(partial(self._report_start, item, playback, interrupted, error))

    def _report_start(
        self,
        item: Item,
        playback: Playback | None,
        interrupted: _Current | None,
        error: str | None,
    ) -> None:
        self._persist(settings=True)
        if interrupted is not None:
            self.emit(interrupted.item.occurrence_id, "failed", detail=interrupted.stopped_by)
        if playback is None:
            with self._lock:
                self.last_error = error
            self.emit(item.occurrence_id, "failed", detail=error)
        else:
            late_ms = None
            if item.play_at is not None:
                late_ms = round((playback.started_at - item.play_at).total_seconds() * 1000)
            log.info("started %s (late %s ms)", item.occurrence_id, late_ms)
            self.emit(item.occurrence_id, "started", late_ms=late_ms)
        self.publish_state()

    # ------------------------------------------------------------------ outbound

    def emit(
        self,
        occurrence_id: str,
        kind: ReceiptType,
        *,
        late_ms: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Journal a receipt on disk, then hand it to the broker; its PUBACK unjournals it."""
        receipt = protocol.Receipt(
            device_id=self.device_id,
            occurrence_id=occurrence_id,
            type=kind,
            at=self.clock.now(),
            late_ms=late_ms,
            detail=detail[:1000] if detail else None,
        )
        seq = self._journal.append(receipt)
        self._send_receipt(seq, receipt)

    def _send_receipt(self, seq: int, receipt: protocol.Receipt) -> None:
        self.link.publish(
            self.topics.event(self.device_id),
            protocol.dumps(receipt),
            retain=False,
            on_ack=lambda: self._journal.ack(seq),
        )

    def state(self) -> protocol.State:
        """The state as it would be published now."""
        items, size = self.cache.stats()
        try:
            free = os.statvfs(self.store.dir)
            free_bytes = free.f_bavail * free.f_frsize
        except OSError:
            free_bytes = 0
        with self._lock:
            cur = self._current
            playing = (
                protocol.Playing(occurrence_id=cur.item.occurrence_id, started_at=cur.started_at)
                if cur is not None
                else None
            )
            status = self.clock_watch.status
            return protocol.State(
                device_id=self.device_id,
                online=True,
                at=self.clock.now(),
                agent_version=__version__,
                volume=self._volume,
                playing=playing,
                timelines={t: k.version for t, k in sorted(self._timelines.items())},
                cache=protocol.CacheInfo(items=items, bytes=size, free_bytes=free_bytes),
                clock_offset_ms=status.offset_ms,
                clock_synced=status.synced,
                uptime_s=int(time.monotonic() - self._started_mono),
                temp_c=_cpu_temperature(),
                rejected=protocol.Rejected(
                    **{r: self.rejected[r] for r in protocol.REJECTION_REASONS}
                ),
                last_error=self.last_error,
            )

    def publish_state(self) -> None:
        """Publish the retained state (also the answer to `ping`)."""
        try:
            payload = protocol.dumps(self.state())
            self.link.publish(self.topics.state(self.device_id), payload, retain=True)
        except Exception:  # reporting must never break what called it
            log.exception("could not publish state")

    def _periodic_state(self) -> None:
        self.publish_state()
        if not self._stopping.is_set():
            self.jobs.after(self.config.state_interval_s, self._periodic_state)

    def _check_clock(self) -> None:
        before = self.clock_watch.status.synced, self.clock_watch.status.correction_ms
        status = self.clock_watch.check()
        if (status.synced, status.correction_ms) != before:
            log.info("clock %s", "synchronised" if status.synced else "NOT synchronised")
            self._kick.set()
            self.publish_state()
        if not self._stopping.is_set():
            interval = self.config.clock.check_interval_s if status.synced else UNSYNCED_RECHECK_S
            self.jobs.after(interval, self._check_clock)


def _kernel_unknown() -> bool | None:
    return None


def _cpu_temperature() -> float | None:
    try:
        raw = Path("/sys/class/thermal/thermal_zone0/temp").read_text()
        return round(int(raw.strip()) / 1000, 1)
    except (OSError, ValueError):
        return None
