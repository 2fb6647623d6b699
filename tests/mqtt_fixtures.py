"""Reusable MQTT test fixtures: a broker (embedded amqtt, and Mosquitto when configured).

Use from any test package's conftest:  `from tests.mqtt_fixtures import *  # noqa: F403`
or `pytest_plugins = ["tests.mqtt_fixtures"]` in the top-level conftest.

- `mqtt_broker` — parametrized: `embedded` (a fresh amqtt on a free port, per test) and, when
  `PA_TEST_MQTT_URL` is set, `mosquitto` (that broker). Yields a `TestBroker` with `.url`,
  `.topics` (a `Topics` with a prefix unique to the test: Mosquitto keeps retained messages
  across runs) and `.restart()` (embedded only).
- `plain_client` — a factory of bare paho clients (connected, loop running, closed after the
  test) with a `Collector` that records what they receive: what a third-party agent would do.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.protocol import Topics
from pa_server.messaging.broker import EmbeddedBroker
from pa_server.messaging.bus import BrokerAddress

WAIT_S = 15.0  # upper bound on any wait for the network; never an assertion of speed


def _broker_params() -> list[str]:
    return ["embedded", "mosquitto"] if os.environ.get("PA_TEST_MQTT_URL") else ["embedded"]


@dataclass
class TestBroker:
    """A broker a test talks to, with a topic prefix of its own."""

    __test__ = False  # not a test class, despite the name

    kind: str
    url: str
    topics: Topics
    embedded: EmbeddedBroker | None = None

    def restart(self) -> None:
        """Stop and start the embedded broker on the same port (clients see a disconnect)."""
        if self.embedded is None:
            pytest.skip("only the embedded broker can be restarted by a test")
        port = self.embedded.port
        self.embedded.stop()
        self.embedded = EmbeddedBroker("127.0.0.1", port, allow_anonymous=True)
        self.embedded.start()

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


@pytest.fixture(params=_broker_params())
def mqtt_broker(request: pytest.FixtureRequest) -> Iterator[TestBroker]:
    """A running broker (embedded amqtt, then Mosquitto if PA_TEST_MQTT_URL is set)."""
    topics = Topics(prefix=f"pa-test/{uuid.uuid4().hex[:12]}")
    if request.param == "mosquitto":
        url = os.environ["PA_TEST_MQTT_URL"]
        yield TestBroker("mosquitto", url, topics)
        clear_retained(url, topics.prefix)
        return
    broker = EmbeddedBroker("127.0.0.1", 0, allow_anonymous=True)
    broker.start()
    test_broker = TestBroker("embedded", broker.url, topics, broker)
    try:
        yield test_broker
    finally:
        test_broker.stop()


def clear_retained(url: str, prefix: str) -> None:
    """Delete every retained message under `prefix` (Mosquitto persists them across runs)."""
    address = BrokerAddress.parse(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"cleaner-{uuid.uuid4().hex[:10]}",
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    marker = f"{prefix}/_cleaner/{uuid.uuid4().hex}"
    retained: set[str] = set()
    done = threading.Event()

    def on_subscribe(c: mqtt.Client, u: object, mid: int, rcs: object, p: object) -> None:
        # The broker sends retained messages before anything published after the SUBACK,
        # so once our own marker comes back every retained message has arrived.
        c.publish(marker, b"x", qos=1)

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == marker:
            done.set()
        elif msg.retain and msg.payload:
            retained.add(msg.topic)

    client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{prefix}/#", 1)
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(address.host, address.port, 30)
    client.loop_start()
    try:
        done.wait(WAIT_S)
        for topic in retained:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()


@dataclass
class Collector:
    """Messages a plain client received, in order; `get()` waits for the next one."""

    client: mqtt.Client
    messages: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)
    subscribed: threading.Event = field(default_factory=threading.Event)

    def get(self, timeout: float = WAIT_S) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the broker's ack."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT_S)
        assert info.is_published(), f"no PUBACK for {topic}"


@pytest.fixture
def plain_client(mqtt_broker: TestBroker) -> Iterator[Callable[..., Collector]]:
    """Factory: `plain_client(*subscriptions)` → a connected bare paho client's `Collector`."""
    clients: list[mqtt.Client] = []

    def make(*subscriptions: str) -> Collector:
        address = BrokerAddress.parse(mqtt_broker.url)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"plain-{uuid.uuid4().hex[:10]}",
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        collector = Collector(client)
        connected = threading.Event()

        def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
            connected.set()
            if subscriptions:
                c.subscribe([(s, 1) for s in subscriptions])
            else:
                collector.subscribed.set()

        def on_subscribe(c: mqtt.Client, u: object, mid: int, rcs: object, p: object) -> None:
            collector.subscribed.set()

        def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
            collector.messages.put(msg)

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.connect(address.host, address.port, 30)
        client.loop_start()
        clients.append(client)
        assert connected.wait(WAIT_S), "plain client could not connect"
        assert collector.subscribed.wait(WAIT_S), "plain client subscriptions not acknowledged"
        return collector

    yield make
    for client in clients:
        client.disconnect()
        client.loop_stop()
