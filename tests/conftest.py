"""Shared test configuration: which real services this run may use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def pg_url() -> str | None:
    """PostgreSQL URL from PA_TEST_DATABASE_URL (set by `make test` when PostgreSQL answers)."""
    return os.environ.get("PA_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def mqtt_url() -> str | None:
    """External broker URL from PA_TEST_MQTT_URL (Mosquitto on this machine)."""
    return os.environ.get("PA_TEST_MQTT_URL") or None


# MQTT broker fixtures (`mqtt_broker`, `plain_client`) for every test package.
pytest_plugins = ["tests.mqtt_fixtures"]
