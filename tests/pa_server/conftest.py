"""Fixtures for the server's tests: the shared MQTT broker fixtures."""

from tests.mqtt_fixtures import mqtt_broker, plain_client

__all__ = ["mqtt_broker", "plain_client"]
