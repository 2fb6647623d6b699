"""Shared test configuration: which real services this run may use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Any]:
    """The worker's one Playwright: its sync API runs an event loop on this thread, so a second
    `sync_playwright()` in the same worker is refused. Tests that need a Chromium with other
    flags (a fake microphone) launch it from this one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


# MQTT broker fixtures (`mqtt_broker`, `plain_client`) for every test package.
pytest_plugins = ["tests.mqtt_fixtures"]
