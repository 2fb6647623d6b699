"""Fixtures for the agent's tests: a broker (Mosquitto or embedded amqtt), media, a signer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.devices.support import EmbeddedAmqtt, MediaServer, Signer, clear_retained


@pytest.fixture(scope="session")
def broker_url(mqtt_url: str | None) -> Iterator[str]:
    """PA_TEST_MQTT_URL when set (Mosquitto), else an embedded amqtt on a free port."""
    if mqtt_url:
        yield mqtt_url
        return
    broker = EmbeddedAmqtt()
    broker.start()
    try:
        yield broker.url
    finally:
        broker.close()


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A topic prefix of this test's own (Mosquitto keeps retained messages across runs).

    What the test left retained under it is cleared afterwards when it used the broker.
    """
    name = f"test-{uuid.uuid4().hex[:10]}/v1"
    yield name
    if "broker_url" in request.fixturenames:
        clear_retained(request.getfixturevalue("broker_url"), name)


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    server = MediaServer()
    yield server
    server.close()


@pytest.fixture
def signer() -> Signer:
    return Signer()
