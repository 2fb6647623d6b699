"""End-to-end fixtures: a whole installation of real processes per test (see `harness`).

A failed test prints the tail of every process's log (broker, server, each agent).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import BIN, MOSQUITTO, StateWatch, System, system
from tests.live_support import LOCAL_NETWORKS, require_ffmpeg, require_snapcast


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"e2e_{report.when}", report)
    return report


def _failed(node: pytest.Item) -> bool:
    return any(
        getattr(getattr(node, f"e2e_{when}", None), "failed", False) for when in ("setup", "call")
    )


@pytest.fixture
def server_env() -> dict[str, str]:
    """Settings of the server's own (`PA_…`); a test module overrides this fixture.

    By default the server runs with live audio switched off (`PA_LIVE=false`): these tests
    play files, and starting a snapserver in every `pa-server run` of a fault test costs
    seconds each time. `test_live_stack.py` overrides it.
    """
    return {"PA_LIVE": "false"}


@pytest.fixture
def snapcast_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings for a server that runs its own snapserver on free ports (tests side by side
    never collide); a live-audio module returns it from its `server_env`.

    Skipped without snapserver, snapclient or ffmpeg; failed under PA_REQUIRE_SNAPCAST=1.
    """
    require_snapcast()
    require_ffmpeg()
    yield {
        "PA_SNAPSERVER_STREAM_PORT": "0",
        "PA_SNAPSERVER_BUFFER_MS": "400",
        "PA_RELAY_ALLOWED_NETWORKS": LOCAL_NETWORKS,  # the test radio is on loopback
    }
    # snapserver runs in a process session of its own: a server that did not stop cleanly
    # leaves it behind, named by its pid file.
    pid_file = tmp_path / "server" / "live" / "snapserver" / "snapserver.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text("ascii").strip())
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"snapserver" in cmdline.read_bytes():
            os.kill(pid, 9)


@pytest.fixture
def e2e(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_url: str | None,
    server_env: dict[str, str],
) -> Iterator[System]:
    """Mosquitto (private) + `pa-server run`; the test provisions and starts its agents."""
    if not MOSQUITTO.exists():
        pytest.skip(f"{MOSQUITTO} not installed (apt-get install mosquitto)")
    if not (BIN / "pa-server").exists():
        pytest.skip("pa-server not installed in this venv (make venv)")
    with system(tmp_path, pg_url=pg_url, env=server_env) as sys_:
        try:
            yield sys_
        finally:
            if _failed(request.node):
                print(f"\n---- logs of the failed test ({tmp_path}) ----\n{sys_.logs()}")


@pytest.fixture
def watch(e2e: System) -> Iterator[StateWatch]:
    """A plain MQTT client watching every agent's retained state and receipts."""
    w = StateWatch(e2e.broker.url, e2e.topics)
    yield w
    w.close()


@pytest.fixture
def fleet(e2e: System, watch: StateWatch) -> Callable[..., System]:
    """`fleet(n, zone=…)`: provision `n` agents in one zone and start them (online)."""

    def make(n: int = 3, *, zone: str = "e2e/xa/thon-1") -> System:
        e2e.add_zone(zone)
        e2e.provision(zone, *(f"loa-{i:02d}" for i in range(1, n + 1)))
        e2e.start_agents(watch)
        return e2e

    return make
