"""The agent's MQTT session (paho-mqtt 2.x), and a fake with the same face for unit tests."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.errors import LinkError

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes], None]
OnConnected = Callable[[], None]
OnAck = Callable[[], None]


class Link(Protocol):
    """What the agent needs from its broker session."""

    def start(self, on_message: OnMessage, on_connected: OnConnected) -> None: ...

    def publish(
        self, topic: str, payload: bytes, *, retain: bool, on_ack: OnAck | None = None
    ) -> None: ...

    @property
    def connected(self) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is, from `mqtt://host:port` or `mqtts://host:port`."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise LinkError(f"broker url {url!r}: expected mqtt://host[:port] or mqtts://…")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls)


class PahoLink:
    """One paho client: LWT before connect, resubscribe and `on_connected` on every connect.

    paho reconnects by itself (`loop_start` + `connect_async`) and keeps QoS 1 messages queued
    across a disconnection, resending them once connected; `on_ack` runs at their PUBACK.
    """

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        subscriptions: Sequence[str],
        will_topic: str,
        will_payload: bytes,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        keepalive: int = 30,
    ) -> None:
        self.address = BrokerAddress.parse(url)
        self.subscriptions = list(subscriptions)
        self.keepalive = keepalive
        self._on_message: OnMessage = lambda _t, _p: None
        self._on_connected: OnConnected = lambda: None
        self._acks: dict[int, OnAck] = {}
        self._early: set[int] = set()
        self._ack_lock = threading.Lock()
        self._connected = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        if username:
            client.username_pw_set(username, password)
        if self.address.tls:
            try:
                client.tls_set(ca_certs=str(ca_file) if ca_file else None)
            except (OSError, ssl.SSLError) as exc:
                raise LinkError(f"cannot set up TLS with CA file {ca_file}: {exc}") from exc
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        self.client = client

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def start(self, on_message: OnMessage, on_connected: OnConnected) -> None:
        self._on_message = on_message
        self._on_connected = on_connected
        # connect_async: the agent runs (and plays from disk) even when the broker is away.
        self.client.connect_async(self.address.host, self.address.port, self.keepalive)
        self.client.loop_start()

    def publish(
        self, topic: str, payload: bytes, *, retain: bool, on_ack: OnAck | None = None
    ) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if on_ack is None:
            return
        # Not under our lock during publish(): paho's thread holds its own lock when it calls
        # on_publish, which takes ours. An ack that beat us here is waiting in `_early`.
        with self._ack_lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                run = True
            else:
                self._acks[info.mid] = on_ack
                run = False
        if run:
            on_ack()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # paho callbacks: run in paho's thread and must never raise.
    def _handle_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        self._connected.set()
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        try:
            self._on_connected()
        except Exception:
            log.exception("on_connected failed")

    def _handle_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        self._connected.clear()
        log.info("disconnected from the broker (%s); paho reconnects", reason)

    def _handle_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._on_message(msg.topic, bytes(msg.payload))
        except Exception:
            log.exception("message handler failed on %s", msg.topic)

    def _handle_publish(self, _c: Any, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        with self._ack_lock:
            cb = self._acks.pop(mid, None)
            if cb is None:
                self._early.add(mid)
        if cb is not None:
            try:
                cb()
            except Exception:
                log.exception("ack handler failed")


@dataclass
class FakeLink:
    """Records publishes; `deliver` injects messages; acks at once unless `hold_acks`."""

    connected: bool = True
    hold_acks: bool = False
    published: list[tuple[str, bytes, bool]] = field(default_factory=list)
    held: list[OnAck] = field(default_factory=list)
    _on_message: OnMessage | None = None
    _on_connected: OnConnected | None = None

    def start(self, on_message: OnMessage, on_connected: OnConnected) -> None:
        self._on_message = on_message
        self._on_connected = on_connected
        if self.connected:
            on_connected()

    def publish(
        self, topic: str, payload: bytes, *, retain: bool, on_ack: OnAck | None = None
    ) -> None:
        self.published.append((topic, payload, retain))
        if on_ack is not None:
            if self.hold_acks:
                self.held.append(on_ack)
            else:
                on_ack()

    def deliver(self, topic: str, payload: bytes) -> None:
        assert self._on_message is not None
        self._on_message(topic, payload)

    def release_acks(self) -> None:
        held, self.held = self.held, []
        for cb in held:
            cb()

    def close(self) -> None:
        self.connected = False
