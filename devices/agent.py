"""The loudspeaker agent: the parts below, composed; `with Agent(config) as agent: agent.run()`.

- `Intake` (devices/intake.py): what arrives and whether to believe it (signature, expiry,
  target binding, replay, versions), with the rejection counters;
- `Scheduler` (devices/scheduler.py) over a `Plan` (devices/plan.py): the merged timelines and
  commands, and the thread that drives the relay and starts and pre-empts items on time;
- `Fetcher` (devices/media.py): media downloads on a small pool, each held to a minimum rate;
- `Reporter` (devices/reporter.py): receipts (journaled) and the retained state;
- `LiveClient` (devices/live.py): `snapclient`, run by the scheduler only while a verified live
  item is due;
- `ClockWatch` (devices/clock.py): whether the clock may be played by.

Threads: paho's network loop (messages in), one job thread (clock checks, timeline pulls,
periodic state), the fetch pool, and the scheduler. No callback ever raises.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from devices import __version__, protocol
from devices.clock import (
    Clock,
    ClockWatch,
    CorrectedClock,
    SkewedClock,
    SystemClock,
    kernel_synced,
)
from devices.config import AgentConfig
from devices.errors import HttpError
from devices.http import Http, UrlHttp, get_json
from devices.intake import Intake
from devices.jobs import JobThread
from devices.link import Link, PahoLink
from devices.live import LiveClient, LiveState, SnapclientRunner, player_args
from devices.media import Fetcher, MediaCache
from devices.plan import Plan
from devices.players import Player, make_player
from devices.protocol import Envelope, Item, PlayBody, StopBody, TimelineBody, Topics, VolumeBody
from devices.relay import Relay, make_relay
from devices.reporter import Reporter, cpu_temperature, free_bytes
from devices.scheduler import Scheduler
from devices.storage import AgentStore, ReceiptJournal, Saver, Snapshot
from devices.timeline import too_far_ahead

log = logging.getLogger(__name__)

#: While the clock is untrusted, how often it is measured again.
UNSYNCED_RECHECK_S = 10.0


def timelines_url(server_url: str, device_id: str) -> str:
    """Where the agent pulls its current timelines (PROTOCOL.md v2)."""
    return f"{server_url}/api/v1/agents/{protocol.validate_device_id(device_id)}/timelines"


class Agent:
    """One loudspeaker agent; `with Agent(config) as agent: agent.run()`."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        link: Link | None = None,
        player: Player | None = None,
        relay: Relay | None = None,
        live: LiveClient | None = None,
        clock: Clock | None = None,
        http: Http | None = None,
        kernel_check: Callable[[], bool | None] = kernel_synced,
    ) -> None:
        self.config = config
        self.device_id = config.device.id
        self.topics = Topics(config.topic_prefix)
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
        self.http: Http = http or UrlHttp(timeout_s=config.fetch.timeout_s)
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
        self.live: LiveClient = live or make_live_client(config, self._on_live_state)
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
        self.intake = Intake(
            device_id=self.device_id,
            zone=config.device.zone,
            topics=self.topics,
            keys=config.public_keys(),
        )
        self.reporter = Reporter(
            device_id=self.device_id,
            topics=self.topics,
            link=self.link,
            journal=ReceiptJournal(self.store.journal_path),
            now=self.clock.now,
            state=self.state,
        )
        snap = self.store.load()
        commands = self.intake.restore(
            timelines=snap.timelines, commands=snap.commands, seen=snap.seen
        )
        self.scheduler = Scheduler(
            plan=Plan(snap.done, snap.live),
            player=self.player,
            relay=self.relay,
            cache=self.cache,
            clock=self.clock,
            synced=lambda: self.clock_watch.status.synced,
            player_settings=config.player,
            relay_settings=config.relay,
            events=self,
            volume=snap.volume,
            live=self.live,
            name=f"pa-sched-{self.device_id}",
        )
        self.fetcher = Fetcher(
            cache=self.cache,
            client=self.http,
            settings=config.fetch,
            clock=self.clock,
            jobs=self.jobs,
            pinned=self.scheduler.pinned,
            on_fetched=self._on_fetched,
            on_failed=self._on_fetch_failed,
        )
        self._commands: dict[str, bytes] = {}
        self.saver = Saver(self.store, self._snapshot, self.clock.now)
        for held in self.intake.timelines.values():
            self.scheduler.set_timeline(held.body)
        for name, env in commands.items():
            if isinstance(env.body, PlayBody):
                self._commands[name] = snap.commands[name]
                self.scheduler.command(env.body.item())
        self._fetched_sent: set[str] = set()
        self._fetched_lock = threading.Lock()
        self._stopping = threading.Event()
        self._started_mono = time.monotonic()
        # What did not verify any more is gone from disk too.
        self.saver.save(timelines=True, seen=True, commands=True)

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
        self.jobs.after(0, self._periodic_pull)
        self.jobs.after(self.config.state_interval_s, self._periodic_state)
        self.link.start(self._on_message, self._on_connected)
        self.reporter.resend_pending()
        self.fetcher.want(self.scheduler.upcoming())
        self.scheduler.start()
        log.info("agent %s started in zone %s", self.device_id, self.config.device.zone)

    def run(self) -> None:
        """Block until `stop()` (or a signal handler calling it)."""
        self._stopping.wait()

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        """Stop playing, switch the amplifier off, say goodbye to the broker, close files."""
        self.stop()
        self.scheduler.close()
        self.live.close()
        self.relay.close()
        self.jobs.stop()
        self.fetcher.close()
        try:
            self.reporter.say_offline()
        finally:
            self.link.close()
            self.player.close()
            self.reporter.journal.close()
            self.http.close()

    # ------------------------------------------------------------------ inbound

    def _on_connected(self) -> None:
        self.publish_state()
        # What the broker retained may be stale or gone (a restart without persistence):
        # the server's copy is the truth.
        self.jobs.after(0, self.pull)

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
        self.intake.count(reason)
        self.reporter.error(detail)
        self.reporter.publish_state_throttled()

    def handle(self, topic: str, payload: bytes) -> None:
        """Verify and apply one message; raises `ProtocolError` for what must be refused."""
        env = self.intake.receive(topic, payload, self.clock.now())
        if env is not None:
            self._apply(env, payload)

    def pull(self) -> None:
        """Fetch the current timelines from the server; each goes through the same checks."""
        url = timelines_url(self.config.server.url, self.device_id)
        try:
            listed = get_json(self.http, url)
        except HttpError as exc:
            log.info("timeline pull failed (the broker's copies serve meanwhile): %s", exc)
            return
        if not isinstance(listed, list):
            self._reject("malformed", f"{url}: not a JSON list")
            return
        for obj in listed:
            try:
                env = self.intake.receive_pulled(obj, self.clock.now())
                if env is not None:
                    self._apply(env, protocol.canonical_json(obj))
            except protocol.ProtocolError as exc:
                self._reject(exc.reason, f"{url}: {exc}")

    def _periodic_pull(self) -> None:
        self.pull()
        if not self._stopping.is_set():
            self.jobs.after(self.config.pull_interval_s, self._periodic_pull)

    def _apply(self, env: Envelope, payload: bytes) -> None:
        body = env.body
        if isinstance(body, TimelineBody):
            dropped, upcoming = self.scheduler.set_timeline(body)
            self.saver.save(timelines=True, seen=True)
            log.info("timeline %s v%d: %d items", body.target, body.version, len(body.items))
            for item in dropped:
                self._reject("malformed", f"item {item.occurrence_id}: play_at too far ahead")
            self.fetcher.want(upcoming)
        elif isinstance(body, PlayBody):
            self._play(body.item(), payload)
        elif isinstance(body, StopBody):
            self.saver.save(seen=True)
            self.scheduler.stop(body.occurrence_id)
        elif isinstance(body, VolumeBody):
            self.scheduler.set_volume(body.volume)
            self.saver.save(seen=True, settings=True)
        # ping: nothing to do but answer with the state, below.
        self.publish_state()

    def _play(self, item: Item, payload: bytes) -> None:
        if too_far_ahead(item, self.clock.now()):
            raise protocol.MalformedMessage(f"play {item.occurrence_id}: play_at too far ahead")
        if item.play_at is not None:
            with self.scheduler.lock:
                self._commands[item.occurrence_id] = payload
        self.saver.save(seen=True, commands=True)
        if self.scheduler.command(item):
            self.fetcher.want([item])

    # ------------------------------------------------------------------ media

    def _on_fetched(self, item: Item) -> None:
        with self._fetched_lock:
            first = item.occurrence_id not in self._fetched_sent
            self._fetched_sent.add(item.occurrence_id)
        if first:
            self.emit(item.occurrence_id, "fetched")
        self.scheduler.kick()

    def _on_fetch_failed(self, item: Item, detail: str) -> None:
        self.reporter.error(detail)
        self.emit(item.occurrence_id, "failed", detail=detail)
        self.scheduler.kick()

    def _on_live_state(self, state: LiveState) -> None:
        # Called from the live client's threads, which exist only after the scheduler.
        self.scheduler.live_state(state)

    # ------------------------------------------------------------------ scheduler events

    def emit(
        self,
        occurrence_id: str,
        kind: protocol.ReceiptType,
        *,
        late_ms: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Send a receipt (journaled until the broker has it)."""
        self.reporter.emit(occurrence_id, kind, late_ms=late_ms, detail=detail)

    def handled(self) -> None:
        self.saver.save(settings=True, commands=True)
        self.publish_state()

    def error(self, detail: str) -> None:
        self.reporter.error(detail)

    # ------------------------------------------------------------------ disk

    def _snapshot(self) -> Snapshot:
        """What the agent saves, as it is now (called by the saver, one at a time)."""
        timelines, seen = self.intake.snapshot()
        volume, done, live = self.scheduler.settings()
        with self.scheduler.lock:
            for occ in [o for o in self._commands if o in done and o not in live]:
                del self._commands[occ]  # handled: nothing left to revoke or replay
            commands = dict(self._commands)
        return Snapshot(timelines, commands, seen, volume, done, live)

    # ------------------------------------------------------------------ state

    def state(self) -> protocol.State:
        """The state as it would be published now."""
        items, size = self.cache.stats()
        playing = self.scheduler.playing()
        status = self.clock_watch.status
        return protocol.State(
            device_id=self.device_id,
            online=True,
            at=self.clock.now(),
            agent_version=__version__,
            volume=self.scheduler.volume,
            playing=(
                protocol.Playing(occurrence_id=playing[0].occurrence_id, started_at=playing[1])
                if playing is not None
                else None
            ),
            timelines=self.intake.versions(),
            cache=protocol.CacheInfo(
                items=items, bytes=size, free_bytes=free_bytes(self.store.dir)
            ),
            clock_offset_ms=status.offset_ms,
            clock_synced=status.synced,
            uptime_s=int(time.monotonic() - self._started_mono),
            temp_c=cpu_temperature(),
            rejected=protocol.Rejected(**self.intake.counters()),
            last_error=self.reporter.last_error,
        )

    def publish_state(self) -> None:
        """Publish the retained state (also the answer to `ping`)."""
        self.reporter.publish_state()

    def _periodic_state(self) -> None:
        self.publish_state()
        if not self._stopping.is_set():
            self.jobs.after(self.config.state_interval_s, self._periodic_state)

    def _check_clock(self) -> None:
        before = self.clock_watch.status.synced, self.clock_watch.status.correction_ms
        status = self.clock_watch.check()
        if (status.synced, status.correction_ms) != before:
            log.info("clock %s", "synchronised" if status.synced else "NOT synchronised")
            self.scheduler.kick()
            self.publish_state()
        if not self._stopping.is_set():
            interval = self.config.clock.check_interval_s if status.synced else UNSYNCED_RECHECK_S
            self.jobs.after(interval, self._check_clock)


def make_live_client(config: AgentConfig, on_state: Callable[[LiveState], None]) -> LiveClient:
    """The agent's `snapclient`, playing to the player's output (not started: the scheduler
    starts it only while a live item is due)."""
    output_dir = config.player.output_dir
    return SnapclientRunner(
        config.device.id,
        player_args(
            config.player.kind,
            device=config.player.device,
            output=output_dir / "live.raw" if output_dir is not None else None,
        ),
        binary=config.live.binary,
        latency_ms=config.live.latency_ms,
        on_state=on_state,
    )


def _kernel_unknown() -> bool | None:
    return None
