"""The server's MQTT bus: signed envelopes out, agents' state and receipts in.

`Bus` is the small interface the rest of the server uses; `PahoBus` implements it on
paho-mqtt 2.x and `FakeBus` records publishes for tests. Handlers run on the bus's network
thread (paho's): a handler that needs an asyncio loop must hop over with
`loop.call_soon_threadsafe`. A malformed message is logged and dropped; a handler that raises
is logged and the bus carries on.

MQTT 3.1.1 is used on purpose: the embedded amqtt broker speaks nothing newer, Mosquitto and
EMQX speak it too, and the protocol needs nothing v5 adds (QoS 1, retain, LWT are all 3.1.1).

Exceptions (all subclasses of `BusError`):

- `BusConfigError` — an unusable broker URL or TLS option.
- `PublishTimeout` — the broker did not acknowledge (PUBACK) a publish in time, or the bus is
  not connected.
- `pa_server.messaging.broker.BrokerStartError` — the embedded broker could not start.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices.protocol import (
    MalformedMessage,
    ProtocolError,
    Receipt,
    State,
    Topics,
    parse_receipt,
    parse_state,
)

log = logging.getLogger(__name__)

StateHandler = Callable[[State], None]
ReceiptHandler = Callable[[Receipt], None]


class BusError(Exception):
    """Base of every error of the MQTT bus and the embedded broker."""


class BusConfigError(BusError):
    """The broker URL or a TLS option cannot be used."""


class PublishTimeout(BusError):
    """A publish was not acknowledged by the broker in time (or the bus is disconnected)."""


class Bus(Protocol):
    """What the server needs from MQTT: publish, and be told of state and receipts."""

    def publish(self, topic: str, payload: bytes, *, retain: bool) -> None: ...

    def set_handlers(self, on_state: StateHandler, on_receipt: ReceiptHandler) -> None: ...


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """A broker URL taken apart: `mqtt://host:port` or `mqtts://host:port` (TLS)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse a broker URL; raise `BusConfigError` saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise BusConfigError(
                f"broker URL {url!r} must start with mqtt:// or mqtts:// (TLS), "
                "e.g. mqtt://127.0.0.1:1883"
            )
        try:
            port = parts.port
        except ValueError as exc:
            raise BusConfigError(f"broker URL {url!r} has an invalid port") from exc
        if not parts.hostname:
            raise BusConfigError(f"broker URL {url!r} names no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise BusConfigError(f"broker URL {url!r} must be just scheme://host:port")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class _Counters:
    """Plain counters for metrics; updated from paho's thread and publishers' threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {
            "connects": 0,
            "messages_in": 0,
            "messages_out": 0,
            "dropped": 0,
            "handler_errors": 0,
        }

    def add(self, name: str) -> None:
        with self._lock:
            self.values[name] += 1


def _no_state(state: State) -> None:
    log.debug("no state handler set; dropped state of %s", state.device_id)


def _no_receipt(receipt: Receipt) -> None:
    log.debug("no receipt handler set; dropped receipt of %s", receipt.device_id)


class PahoBus:
    """The MQTT bus on paho-mqtt: QoS 1, its own reconnect, re-subscribes on every connect."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        client_id: str | None = None,
        topics: Topics | None = None,
        clean_session: bool = False,
        keepalive_s: int = 30,
        publish_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
    ) -> None:
        address = BrokerAddress.parse(url)
        if ca_file is not None and not address.tls:
            raise BusConfigError(f"a CA file was given but {url!r} is not mqtts://")
        self.url = url
        self.topics = topics or Topics()
        # A stable client id with a persistent session (clean_session=False) lets the broker
        # queue receipts (QoS 1) while the server restarts; a random id would lose them.
        self.client_id = client_id or f"pa-server-{socket.gethostname()}"[:64]
        self._address = address
        self._publish_timeout_s = publish_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._on_state: StateHandler = _no_state
        self._on_receipt: ReceiptHandler = _no_receipt
        self._counters = _Counters()
        # Subscribing waits for the handlers: retained states arrive right after the SUBACK
        # and would otherwise reach no handler. `_lock` orders on_connect / set_handlers /
        # on_subscribe between paho's thread and the caller's.
        self._lock = threading.Lock()
        self._has_handlers = False
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._answered = threading.Event()  # the broker answered a CONNECT (either way)
        self._sub_mid: int | None = None
        self._last_refusal: str | None = None

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=clean_session,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        user = username if username is not None else address.username
        secret = password if password is not None else address.password
        if user is not None:
            client.username_pw_set(user, secret)
        if address.tls:
            try:
                client.tls_set(ca_certs=str(ca_file) if ca_file else None)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise BusConfigError(f"cannot use CA file {ca_file}: {exc}") from exc
        client.reconnect_delay_set(min_delay=reconnect_min_s, max_delay=reconnect_max_s)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_subscribe = self._handle_subscribe
        client.on_message = self._handle_message
        self._keepalive_s = keepalive_s
        self._client = client
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> PahoBus:
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
        """Connect in the background and wait (bounded) for the first connection.

        A broker that is down is not fatal: paho keeps retrying and a warning is logged.
        A broker that refuses our credentials is a `BusError` (it would never get better).
        """
        if self._started:
            return
        self._client.connect_async(self._address.host, self._address.port, self._keepalive_s)
        self._client.loop_start()
        self._started = True
        deadline = time.monotonic() + self._connect_timeout_s
        self._answered.wait(self._connect_timeout_s)
        if self._last_refusal is None and self.wait_ready(max(0.0, deadline - time.monotonic())):
            return
        if self._last_refusal is not None:
            refusal = self._last_refusal
            self.close()
            raise BusError(f"MQTT broker {self.url} refused the connection: {refusal}")
        log.warning(
            "MQTT broker %s not reachable after %s s; retrying in the background",
            self.url,
            self._connect_timeout_s,
        )

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        if not self._started:
            return
        self._started = False
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        self._subscribed.clear()

    def wait_ready(self, timeout: float) -> bool:
        """Block (at most `timeout` s) until connected, and subscribed if handlers are set."""
        deadline = time.monotonic() + timeout
        if not self._connected.wait(timeout):
            return False
        if not self._has_handlers:
            return True
        return self._subscribed.wait(max(0.0, deadline - time.monotonic()))

    @property
    def connected(self) -> bool:
        """Connected now (publishing is possible)."""
        return self._connected.is_set()

    # ------------------------------------------------------------------ metrics

    @property
    def connects(self) -> int:
        """Successful connections, the first one included."""
        return self._counters.values["connects"]

    @property
    def reconnects(self) -> int:
        """Successful connections after the first one."""
        return max(0, self.connects - 1)

    @property
    def messages_in(self) -> int:
        """Messages received (valid or not)."""
        return self._counters.values["messages_in"]

    @property
    def messages_out(self) -> int:
        """Publishes the broker acknowledged."""
        return self._counters.values["messages_out"]

    @property
    def dropped(self) -> int:
        """Received messages dropped as malformed."""
        return self._counters.values["dropped"]

    @property
    def handler_errors(self) -> int:
        """Handler calls that raised (logged, then ignored)."""
        return self._counters.values["handler_errors"]

    # ------------------------------------------------------------------ Bus

    def set_handlers(self, on_state: StateHandler, on_receipt: ReceiptHandler) -> None:
        """Route parsed state and receipts to these callables (called on the network thread).

        The bus subscribes only once it has handlers, so nothing retained is missed.
        """
        with self._lock:
            self._on_state = on_state
            self._on_receipt = on_receipt
            first = not self._has_handlers
            self._has_handlers = True
            if first and self._connected.is_set():
                self._subscribe_locked()

    def publish(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK; `PublishTimeout` if none comes."""
        if not self._connected.is_set():
            # Refuse rather than let paho queue it: a command reported as failed must not
            # go out minutes later when the connection comes back.
            raise PublishTimeout(f"not connected to MQTT broker {self.url}; {topic} not sent")
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(self._publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise PublishTimeout(f"publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise PublishTimeout(
                f"MQTT broker {self.url} did not acknowledge {topic} "
                f"within {self._publish_timeout_s} s"
            )
        self._counters.add("messages_out")

    # ------------------------------------------------------------------ paho callbacks

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self._last_refusal = str(reason_code)
            self._answered.set()
            log.error("MQTT broker %s refused connection: %s", self.url, reason_code)
            return
        self._last_refusal = None
        self._counters.add("connects")
        log.info(
            "connected to MQTT broker %s (session present: %s)", self.url, flags.session_present
        )
        with self._lock:
            self._connected.set()
            if self._has_handlers:
                self._subscribe_locked()
        self._answered.set()

    def _subscribe_locked(self) -> None:
        # Called with `_lock` held, once per connection, after the handlers are known.
        result, mid = self._client.subscribe(
            [(self.topics.state_wildcard(), 1), (self.topics.event_wildcard(), 1)]
        )
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.error("subscribe to %s failed: %s", self.topics.prefix, mqtt.error_string(result))
        self._sub_mid = mid

    def _handle_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        with self._lock:
            if mid != self._sub_mid:
                return
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("MQTT broker %s refused our subscriptions: %s", self.url, failed)
            return
        self._subscribed.set()

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        was_connected = self._connected.is_set()
        with self._lock:
            self._connected.clear()
            self._subscribed.clear()
            self._sub_mid = None
        if self._started and was_connected:
            log.warning("lost MQTT broker %s (%s); reconnecting", self.url, reason_code)

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._counters.add("messages_in")
        try:
            self._dispatch(msg.topic, bytes(msg.payload))
        except ProtocolError as exc:
            self._counters.add("dropped")
            log.warning("dropped message on %s: %s", msg.topic, exc)
        except Exception:
            # A handler bug must never kill paho's network thread (and with it the bus).
            self._counters.add("handler_errors")
            log.exception("handler failed for message on %s", msg.topic)

    def _dispatch(self, topic: str, payload: bytes) -> None:
        parsed = self.topics.parse(topic)
        if not payload:
            # An empty retained payload is someone clearing a retained state: nothing to parse.
            log.debug("ignored empty message on %s", topic)
            return
        if parsed.channel == "state":
            state = parse_state(payload)
            _check_sender(parsed.target, state.device_id, topic)
            self._on_state(state)
        elif parsed.channel == "event":
            receipt = parse_receipt(payload)
            _check_sender(parsed.target, receipt.device_id, topic)
            self._on_receipt(receipt)
        else:
            raise MalformedMessage(f"unexpected {parsed.channel} message on {topic}")


def _check_sender(target: str, device_id: str, topic: str) -> None:
    # ACLs let an agent publish only under its own id; a payload naming another device is
    # either a bug or one agent speaking for another, and is not believed.
    if target != f"device:{device_id}":
        raise MalformedMessage(f"payload of device {device_id!r} on topic {topic}")


class FakeBus:
    """A `Bus` for tests: records publishes, lets a test inject state and receipts."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, bool]] = []
        self.fail_next: BusError | None = None
        self._on_state: StateHandler = _no_state
        self._on_receipt: ReceiptHandler = _no_receipt

    def publish(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Record the publish (or raise `fail_next` once, to test error paths)."""
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        self.published.append((topic, payload, retain))

    def set_handlers(self, on_state: StateHandler, on_receipt: ReceiptHandler) -> None:
        self._on_state = on_state
        self._on_receipt = on_receipt

    def inject_state(self, state: State | bytes) -> None:
        """Deliver a state as if an agent had published it (bytes are parsed like PahoBus)."""
        self._on_state(parse_state(state) if isinstance(state, bytes) else state)

    def inject_receipt(self, receipt: Receipt | bytes) -> None:
        """Deliver a receipt as if an agent had published it."""
        self._on_receipt(parse_receipt(receipt) if isinstance(receipt, bytes) else receipt)

    def retained(self) -> dict[str, bytes]:
        """What a broker would now retain: the last retained payload of each topic."""
        return {topic: payload for topic, payload, retain in self.published if retain}
