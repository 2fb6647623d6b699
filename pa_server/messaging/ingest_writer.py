"""One thread that stores the agents' state and receipts in batches, fed through a bounded queue.

The bus's handlers run on paho's network thread; storing each message there in its own
transaction held ingest to ~300 msg/s on SQLite and ~100 on PostgreSQL, and Mosquitto drops
what it queues past `max_queued_messages` for a slow subscriber (a broadcast's receipts were
lost). `IngestWriter.submit` only enqueues; the writer takes up to `max_batch` messages, or
what arrived within `max_delay_s` of the first, and stores them in one transaction
(`pa_server.services.ingest.ingest_batch`). If that transaction fails, each message of the
batch is retried in its own, so one bad message is logged and dropped alone.

**A full queue blocks the caller** (paho's thread) until there is room, instead of dropping:
a dropped receipt is lost for good (the agent's journal counts it delivered once the broker
acked it), while a blocked paho thread stops reading its socket, so the broker keeps the
messages (up to its own queue limit) and TCP slows it down: back-pressure, not loss. A warning
is logged each time the queue fills. `stop()` drains the queue before the thread ends; call it
after the bus has stopped delivering.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import Receipt, utc_now
from pa_server.services.ingest import Message, ingest_batch

log = logging.getLogger(__name__)

#: Called after a commit with the receipts that were new and the `now` they were stored with.
StoredHook = Callable[[Sequence[Receipt], datetime], None]

_STOP = object()  # the sentinel `stop()` enqueues behind everything already queued


class IngestWriter:
    """Bounded queue + one writer thread; `submit` from any thread, `start`/`stop` once."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = utc_now,
        on_stored: StoredHook | None = None,
        max_batch: int = 500,
        max_delay_s: float = 0.05,
        max_queued: int = 10_000,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.on_stored = on_stored
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._queue: queue.Queue[Message | object] = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Messages taken off the queue and handled (stored, duplicate or dropped).
        self.processed = 0
        #: Batches committed in one transaction, and messages dropped by a failed write.
        self.batches = 0
        self.failed = 0

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pa-ingest", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Store everything queued so far, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            log.error("ingest writer still storing after %.0f s; %d queued", timeout, self.queued)

    @property
    def queued(self) -> int:
        """Messages waiting to be stored."""
        return self._queue.qsize()

    def submit(self, message: Message) -> None:
        """Queue a message for the writer; blocks while the queue is full (back-pressure).

        Without a running writer (not started, or stopped) the message is stored at once.
        """
        if self._thread is None:
            self._write([message])
            return
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            log.warning("ingest queue full (%d): holding the bus until it drains", self.queued)
            self._queue.put(message)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[Message] = [first]  # type: ignore[list-item]
            deadline = time.monotonic() + self.max_delay_s
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[Message]) -> None:
        try:
            self._commit(batch)
        except Exception:
            if len(batch) == 1:
                self._dropped(batch[0])
            else:
                log.warning("storing a batch of %d failed; storing one by one", len(batch))
                for message in batch:
                    try:
                        self._commit([message])
                    except Exception:
                        self._dropped(message)
        with self._lock:
            self.processed += len(batch)

    def _commit(self, batch: list[Message]) -> None:
        now = self.clock()
        with self.sessions() as session:
            new = ingest_batch(session, batch, now=now)
            session.commit()
        with self._lock:
            self.batches += 1
        if new and self.on_stored is not None:
            try:
                self.on_stored(new, now)
            except Exception:
                log.exception("ingest hook failed")

    def _dropped(self, message: Message) -> None:
        with self._lock:
            self.failed += 1
        kind = "receipt" if isinstance(message, Receipt) else "state"
        log.exception("storing %s of %s failed; dropped", kind, message.device_id)
