"""What the agent tells the server: receipts (journaled until the broker has them) and state.

Receipts go to disk first (`ReceiptJournal`) and leave the journal at their PUBACK, so a power
cut or an outage loses none. State is retained; a flood of refused messages republishes it at
most once a second. Reporting never raises into what called it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from devices import protocol
from devices.link import Link
from devices.protocol import ReceiptType, Topics
from devices.storage import ReceiptJournal

log = logging.getLogger(__name__)

#: After a rejection, the state is republished at most this often.
REJECT_STATE_INTERVAL_S = 1.0


class Reporter:
    """Receipts and the retained state of one agent, over its link."""

    def __init__(
        self,
        *,
        device_id: str,
        topics: Topics,
        link: Link,
        journal: ReceiptJournal,
        now: Callable[[], datetime],
        state: Callable[[], protocol.State],
    ) -> None:
        self.device_id = device_id
        self.topics = topics
        self.link = link
        self.journal = journal
        self.now = now
        self.state = state
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._last_throttled = -1e9

    def error(self, detail: str) -> None:
        """Remember the last error, for the state."""
        with self._lock:
            self.last_error = detail[:1000]

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
            at=self.now(),
            late_ms=late_ms,
            detail=detail[:1000] if detail else None,
        )
        seq = self.journal.append(receipt)
        self._send(seq, receipt)

    def resend_pending(self) -> None:
        """Send again what the broker never acknowledged (after a restart)."""
        for seq, receipt in self.journal.pending():
            self._send(seq, receipt)

    def _send(self, seq: int, receipt: protocol.Receipt) -> None:
        self.link.publish(
            self.topics.event(self.device_id),
            protocol.dumps(receipt),
            retain=False,
            on_ack=lambda: self.journal.ack(seq),
        )

    def publish_state(self) -> None:
        """Publish the retained state (also the answer to `ping`)."""
        try:
            payload = protocol.dumps(self.state())
            self.link.publish(self.topics.state(self.device_id), payload, retain=True)
        except Exception:  # reporting must never break what called it
            log.exception("could not publish state")

    def publish_state_throttled(self) -> None:
        """Publish the state unless it went out less than a second ago for the same reason:
        a flood of garbage must not become a flood of state messages."""
        with self._lock:
            if time.monotonic() - self._last_throttled < REJECT_STATE_INTERVAL_S:
                return
            self._last_throttled = time.monotonic()
        self.publish_state()

    def say_offline(self, wait_s: float = 2.0) -> None:
        """A clean disconnect sends no LWT: say "offline" ourselves, and wait for its ack."""
        acked = threading.Event()
        self.link.publish(
            self.topics.state(self.device_id),
            protocol.offline_state(self.device_id),
            retain=True,
            on_ack=acked.set,
        )
        if self.link.connected:
            acked.wait(wait_s)


def free_bytes(folder: Path) -> int:
    """Bytes free for the agent on the filesystem of `folder` (0 when unknown)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def cpu_temperature() -> float | None:
    """The SoC's temperature in °C (Raspberry Pi), or None elsewhere."""
    try:
        raw = Path("/sys/class/thermal/thermal_zone0/temp").read_text()
        return round(int(raw.strip()) / 1000, 1)
    except (OSError, ValueError):
        return None
