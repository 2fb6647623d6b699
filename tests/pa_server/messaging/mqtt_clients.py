"""A recording paho client for broker access tests (Mosquitto's and the embedded broker's)."""

from __future__ import annotations

import queue
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

#: Bounded waits for things that must happen (connect, a message) — generous, never asserted on.
WAIT_S = 10.0
#: After a barrier message has arrived, how much longer a forbidden message gets to show up.
#: The barrier already proves ordering (see `Client.collect_until`); this only guards broker quirks.
GRACE_S = 0.3


class Client:
    """A paho client that records what it receives; connect errors come back as reason codes."""

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
        *,
        client_id: str | None = None,
        clean_session: bool | None = None,
    ) -> None:
        self.port = port
        self.client_id = client_id or f"t-{uuid.uuid4().hex[:12]}"
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.pubacks: dict[int, ReasonCode] = {}
        self._puback = threading.Condition()
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=protocol,
            clean_session=clean_session,
            reconnect_on_failure=False,
        )
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc)
        self.c.on_message = lambda _c, _u, m: self.received.put((m.topic, bytes(m.payload)))
        self.c.on_subscribe = lambda _c, _u, _mid, rcs, _p: self.subacks.put(list(rcs))
        self.c.on_publish = self._on_publish

    def _on_publish(self, _c: object, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self._puback:
            self.pubacks[mid] = rc
            self._puback.notify_all()

    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK reason code (success or the broker's refusal)."""
        self.c.connect("127.0.0.1", self.port)
        self.c.loop_start()
        return self.connack.get(timeout=WAIT_S)

    def subscribe(self, topic: str) -> list[ReasonCode]:
        self.c.subscribe(topic, qos=1)
        return self.subacks.get(timeout=WAIT_S)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and wait for the PUBACK: the broker has then routed the message."""
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        with self._puback:
            assert self._puback.wait_for(lambda: info.mid in self.pubacks, timeout=WAIT_S)
            return self.pubacks[info.mid]

    def collect_until(self, barrier: tuple[str, bytes]) -> list[tuple[str, bytes]]:
        """Everything received up to and including `barrier`, plus a short grace period.

        Mosquitto routes one message at a time and PUBACKs after routing, so a message
        published (and acked) before the barrier was published reaches this client first.
        """
        got: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + WAIT_S
        while barrier not in got:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"barrier {barrier} never arrived; got {got}"
            got.append(self.received.get(timeout=remaining))
        end = time.monotonic() + GRACE_S
        while (left := end - time.monotonic()) > 0:
            try:
                got.append(self.received.get(timeout=left))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()
