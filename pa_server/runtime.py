"""The server's moving parts: embedded broker, MQTT bus, dispatcher and the planner loop.

`Runtime` is a context manager started and stopped by the app's lifespan. The planner loop runs
on `schedule` in a background thread every `planner_interval_s`, and at once when
`request_replan()` is called (after any change to schedules, announcements, zones or devices).
Only the replica holding the dispatch lease (`pa_server.messaging.lease`) plans and publishes; every
replica stores the state and receipts its bus receives (idempotently), in batches, through
`pa_server.messaging.ingest_writer` (started before the bus, drained after it stops).

The server is the source of truth for timelines, the broker's retained messages a cache: at
start the first cycle signs every timeline afresh (the database may have been restored to an
older copy: new versions, taken from the clock, still supersede whatever agents hold); after
every later broker reconnect the leader republishes every current timeline as stored; and
every `retained_check_interval_s` it reads back what the broker retains and republishes what is
missing or differs (`Runtime.check_retained`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType

import schedule
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import Receipt, State, Topics, utc_now
from pa_server.config import Settings
from pa_server.db.broker_accounts import DbDeviceLookup
from pa_server.db.published import DbPublishedStore
from pa_server.messaging.broker import EmbeddedBroker, embedded_access
from pa_server.messaging.bus import BusError, PahoBus
from pa_server.messaging.dispatch import Dispatcher
from pa_server.messaging.ingest_writer import IngestWriter
from pa_server.messaging.lease import DispatchLease, LeaderLoop
from pa_server.messaging.signing import ServerKeys
from pa_server.metrics import PaMetrics
from pa_server.services.live import LiveHub, end_stopped, run_due_relays
from pa_server.services.provisioning import broker_url
from pa_server.services.timelines import DispatcherLike, ReplanCounts, replan, sync_timelines

log = logging.getLogger(__name__)


def plan_and_publish(
    sessions: sessionmaker[Session],
    dispatcher: DispatcherLike,
    settings: Settings,
    *,
    now: datetime,
) -> tuple[ReplanCounts, list[str]]:
    """One planner cycle: replan and commit, then publish the timelines that changed."""
    horizon = timedelta(hours=settings.planner_horizon_h)
    with sessions() as session:
        result = replan(session, now=now, horizon=horizon)
        session.commit()
        if settings.test_kill_after_plan and result.created:
            # Fault injection (PA_TEST_KILL_AFTER_PLAN, off by default): a power cut between
            # planning and dispatch, which a restart must survive without a double broadcast.
            log.critical("PA_TEST_KILL_AFTER_PLAN: killing this process before dispatch")
            os.kill(os.getpid(), signal.SIGKILL)
        published = sync_timelines(
            session,
            dispatcher,
            now=now,
            horizon=horizon,
            base_url=settings.resolved_public_url,
        )
    return result, published


class Runtime:
    """Broker (if embedded), bus, dispatcher and the planner thread, as one lifecycle."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = utc_now,
        metrics: PaMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.metrics = metrics
        self.keys = ServerKeys.load_or_create(settings.data_dir)
        self.topics = Topics(settings.topic_prefix)
        self.broker: EmbeddedBroker | None = None
        self.bus: PahoBus | None = None
        self.dispatcher: Dispatcher | None = None
        #: Stores the bus's state and receipts in batches, off paho's thread.
        self.writer = IngestWriter(sessions, clock=clock, on_stored=self._record_receipts)
        self.lease = DispatchLease(settings.resolved_database_url)
        #: Live audio (`pa_server.services.live.LiveHub`), set by the app once started: the
        #: leader's cycle starts scheduled relays shortly before their occurrences.
        self.live: LiveHub | None = None
        self.leader = LeaderLoop(self.lease, on_elected=self.request_replan, on_lost=lambda: None)
        #: Planner cycles completed by this process (tests wait on it; never a speed check).
        self.cycles = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Broker connections seen, and the count the last republish covered: a connect during
        # a republish is not lost (a flag cleared afterwards would lose it).
        self._connects = 0
        self._republished_for = 0
        self._next_check = 0.0

    def __enter__(self) -> Runtime:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the broker (when no `PA_MQTT_URL`), connect the bus, start the planner loop."""
        s = self.settings
        username, password = s.mqtt_username, s.mqtt_password
        if s.mqtt_url is None:
            # Devices log in with what `device add` printed, looked up in the database at
            # each connect; the server with its own account (made at first start).
            access, username, password = embedded_access(s, DbDeviceLookup(self.sessions))
            self.broker = EmbeddedBroker(s.broker_host, s.broker_port, access=access)
            self.broker.start()
            log.info("embedded MQTT broker on %s", self.broker.url)
        url = self.broker.url if self.broker is not None else broker_url(s)
        self.bus = PahoBus(
            url,
            username=username,
            password=password,
            ca_file=s.mqtt_ca_file,
            client_id=s.resolved_mqtt_client_id,
            topics=self.topics,
        )
        self.writer.start()
        self.bus.set_handlers(self._on_state, self._on_receipt)
        # Every connect (the first too: amqtt keeps retained messages in memory only, and a
        # Mosquitto without persistence forgets them on restart) republishes the timelines.
        self.bus.add_connect_listener(self._on_connected)
        self.bus.start()
        metrics = self.metrics
        self.dispatcher = Dispatcher(
            self.bus,
            self.keys,
            self.topics,
            DbPublishedStore(self.sessions),
            on_cut=metrics.record_timeline_cut if metrics is not None else None,
            on_republish=metrics.record_republish if metrics is not None else None,
        )
        # The first sync signs and publishes every target: that covers the first connect.
        self.dispatcher.forget_published()
        self._republished_for = self._connects
        self._next_check = time.monotonic() + s.retained_check_interval_s
        self.leader.start()
        self._thread = threading.Thread(target=self._loop, name="pa-planner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the planner loop, then the bus, then store what it received, then the broker."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.leader.stop()
        if self.bus is not None:
            self.bus.close()
            self.bus = None
        self.writer.stop()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def request_replan(self) -> None:
        """Plan and publish as soon as possible (called after a change is committed)."""
        self._wake.set()

    def cycle(self) -> None:
        """One planner cycle; failures are logged, the loop goes on.

        Before planning, republish every current timeline if the broker connection (re)started
        since the last republish; after it, check what the broker retains when that is due.
        """
        dispatcher = self.dispatcher
        if dispatcher is None or not self.leader.is_leader:
            return  # another replica dispatches (or we are starting or stopping)
        try:
            connects = self._connects
            if connects != self._republished_for:
                dispatcher.republish_current(self.clock())
                self._republished_for = connects
            if self.live is not None:
                end_stopped(self.live)  # stopped as a broadcast: free the stream too
                run_due_relays(self.live, now=self.clock())
            plan_and_publish(self.sessions, dispatcher, self.settings, now=self.clock())
            if time.monotonic() >= self._next_check:
                try:
                    self.check_retained()
                except BusError as exc:  # e.g. an ACL that hides the timelines from us
                    log.warning("retained timeline check skipped: %s", exc)
        except Exception:
            log.exception("planner cycle failed; retrying at the next tick")
        self.cycles += 1

    def check_retained(self) -> list[str]:
        """Compare what the broker retains under the timeline topics with what was published;
        republish what is missing or differs. Returns the targets republished."""
        self._next_check = time.monotonic() + self.settings.retained_check_interval_s
        bus, dispatcher = self.bus, self.dispatcher
        if bus is None or dispatcher is None:
            return []
        held = bus.retained(f"{self.topics.prefix}/timeline/#")
        return dispatcher.check_retained(held, self.clock())

    def _on_connected(self) -> None:
        # On paho's thread: publishing here would wait for a PUBACK this very thread must
        # read. Count it and wake the planner thread, which republishes.
        self._connects += 1
        self._wake.set()

    def _loop(self) -> None:
        scheduler = schedule.Scheduler()
        # `schedule` counts whole units: sub-second intervals round up to one second.
        scheduler.every(max(1, round(self.settings.planner_interval_s))).seconds.do(self.cycle)
        self.cycle()
        while not self._stop.is_set():
            idle = scheduler.idle_seconds
            woke = self._wake.wait(timeout=max(0.0, idle if idle is not None else 1.0))
            if self._stop.is_set():
                break
            if woke:
                self._wake.clear()
                self.cycle()
            scheduler.run_pending()

    def _on_state(self, state: State) -> None:
        self.writer.submit(state)

    def _on_receipt(self, receipt: Receipt) -> None:
        self.writer.submit(receipt)

    def _record_receipts(self, receipts: Sequence[Receipt], now: datetime) -> None:
        if self.metrics is not None:
            for receipt in receipts:
                self.metrics.record_receipt(receipt.at, now)
