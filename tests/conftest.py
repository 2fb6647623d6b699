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


#: Fixture scopes shared by several tests of one module: those tests run on one xdist worker.
_SHARED_SCOPES = frozenset({"module", "class", "package"})


def _weight(item: pytest.Item) -> int:
    """How early a test should start: whole systems and relays (`slow`) first, then browsers
    and real brokers/subprocesses (`browser`, `network`), then the many quick ones."""
    if item.get_closest_marker("slow") is not None:
        return 0
    if item.get_closest_marker("browser") or item.get_closest_marker("network"):
        return 1
    return 2


def _shares_module_state(item: pytest.Item) -> bool:
    """True when the test uses a fixture set up once per module (a demo server, a broker)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs and defs[-1].scope in _SHARED_SCOPES for defs in info.name2fixturedefs.values())


@pytest.hookimpl(tryfirst=True)  # before xdist's hook, which reads the `xdist_group` marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the suite for `-n N --dist loadgroup` (see the Makefile): the slowest first.

    xdist then hands out tests one by one from this order, so a two-minute relay or a fault
    test starts at once instead of at the end, while the many short tests fill the other
    workers; none is left running alone at the end of the run. A module whose tests share a
    module-scoped fixture (a demo server rendered once, a broker) is one xdist group: its tests
    run on one worker, and the fixture is set up once, as before. Whole modules move, in the
    order they were collected: a module's tests stay together and in their order.
    """
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    for name, module_items in modules.items():
        if any(_shares_module_state(item) for item in module_items):
            for item in module_items:
                item.add_marker(pytest.mark.xdist_group(name))
    order = sorted(modules.values(), key=lambda group: min(_weight(i) for i in group))
    items[:] = [item for group in order for item in group]


# MQTT broker fixtures (`mqtt_broker`, `plain_client`) for every test package.
pytest_plugins = ["tests.mqtt_fixtures"]
