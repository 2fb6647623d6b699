"""The embedded amqtt broker: retained QoS-1 messages, clean stop, a clear error on a taken port.

Logins and topic rules: `test_broker_auth.py`.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from pa_server.messaging.broker import BrokerStartError, EmbeddedBroker
from pa_server.messaging.bus import BusError
from tests.mqtt_fixtures import WAIT_S, Collector, TestBroker


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A port some other program already listens on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


def _connect_result(
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
) -> str:
    """Connect a bare client and return the CONNACK reason as text."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}", protocol=protocol
    )
    if username is not None:
        client.username_pw_set(username, password)
    result: list[str] = []
    done = threading.Event()

    def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
        result.append(str(rc))
        done.set()

    def on_disconnect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
        result.append(f"disconnected: {rc}")
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    try:
        assert done.wait(WAIT_S), "no CONNACK"
        return result[0]
    finally:
        client.disconnect()
        client.loop_stop()


def test_start_accepts_connections_and_stop_releases_the_port() -> None:
    broker = EmbeddedBroker("127.0.0.1", 0, allow_anonymous=True)
    with broker:
        port = broker.port
        assert port != 0
        assert broker.url == f"mqtt://127.0.0.1:{port}"
        assert _connect_result(port) == "Success"
    assert not broker.running
    # The port is free again: a new broker can take it at once.
    with EmbeddedBroker("127.0.0.1", port, allow_anonymous=True) as again:
        assert again.port == port
    assert not [t for t in threading.enumerate() if t.name == "pa-embedded-broker"]


def test_taken_port_is_a_clear_error_naming_port_and_settings(
    listening_socket: socket.socket,
) -> None:
    port = listening_socket.getsockname()[1]
    broker = EmbeddedBroker("127.0.0.1", port, allow_anonymous=True)
    with pytest.raises(BrokerStartError) as info:
        broker.start()
    message = str(info.value)
    assert f"port {port}" in message
    assert "PA_BROKER_PORT" in message
    assert "PA_MQTT_URL" in message
    assert isinstance(info.value, BusError)
    assert not broker.running


def test_stop_and_start_on_the_same_object() -> None:
    broker = EmbeddedBroker("127.0.0.1", 0, allow_anonymous=True)
    broker.start()
    port = broker.port
    broker.stop()
    broker.stop()  # twice is harmless
    broker2 = EmbeddedBroker("127.0.0.1", port, allow_anonymous=True)
    broker2.start()
    try:
        assert _connect_result(port) == "Success"
    finally:
        broker2.stop()


def test_refuses_mqtt5_clients() -> None:
    """amqtt speaks MQTT 3.1.1 only: the reason the bus uses 3.1.1."""
    with EmbeddedBroker("127.0.0.1", 0, allow_anonymous=True) as broker:
        assert "Unsupported protocol version" in _connect_result(
            broker.port, protocol=MQTTProtocolVersion.MQTTv5
        )


def test_retained_qos1_message_reaches_a_later_subscriber(
    mqtt_broker: TestBroker, plain_client: Callable[..., Collector]
) -> None:
    topic = f"{mqtt_broker.topics.prefix}/timeline/zone/a"
    publisher = plain_client()
    publisher.publish(topic, b'{"x":1}', retain=True)
    publisher.publish(topic, b'{"x":2}', retain=True)  # the newer one replaces the older
    late = plain_client(topic)
    msg = late.get()
    assert (msg.topic, msg.payload, msg.retain, msg.qos) == (topic, b'{"x":2}', True, 1)


def test_password_file_requires_a_login(tmp_path: Path) -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    hashed = PasswordHash((Argon2Hasher(),)).hash("s3cret")
    password_file = tmp_path / "passwd"
    password_file.write_text(f"server:{hashed}\n")
    with EmbeddedBroker("127.0.0.1", 0, password_file=password_file) as broker:
        assert _connect_result(broker.port, username="server", password="s3cret") == "Success"
        assert _connect_result(broker.port, username="server", password="wrong") != "Success"
        assert _connect_result(broker.port) != "Success"


def test_an_anonymous_broker_must_be_asked_for() -> None:
    with pytest.raises(BrokerStartError, match="allow_anonymous"):
        EmbeddedBroker("127.0.0.1", 0)


def test_anonymous_broker_on_a_network_interface_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pa_server.messaging.broker"):
        with EmbeddedBroker("127.0.0.1", 0, allow_anonymous=True):
            pass
        assert "accepts anyone" not in caplog.text
        with EmbeddedBroker("0.0.0.0", 0, allow_anonymous=True):
            pass
    assert "accepts anyone" in caplog.text


def test_missing_password_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerStartError, match="not found"):
        EmbeddedBroker("127.0.0.1", 0, password_file=tmp_path / "nope").start()
