"""The agent's snapclient runner against a real snapserver: start, stop, watchdog, drops."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.errors import PlayerError
from devices.live import (
    FakeLiveClient,
    LiveState,
    LiveTarget,
    SnapclientRunner,
    player_args,
)
from pa_server.live.snapserver import Snapserver, SnapserverConfig, free_port
from tests.live_support import require_snapcast, wait_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Snapserver]:
    require_snapcast()
    config = SnapserverConfig(
        tmp_path / "snap", stream_port=free_port(), control_port=free_port(), streams=1
    )
    with Snapserver(config) as srv:
        yield srv


def target_of(server: Snapserver) -> LiveTarget:
    return LiveTarget("127.0.0.1", server.config.stream_port, "live-1")


def test_target_from_live_item() -> None:
    live = {"engine": "snapcast", "host": "pa.example.vn", "port": 1704, "stream": "live-1"}
    assert LiveTarget.from_live(live) == LiveTarget("pa.example.vn", 1704, "live-1")
    with pytest.raises(PlayerError, match="engine"):
        LiveTarget.from_live({**live, "engine": "webrtc"})
    with pytest.raises(PlayerError, match="malformed"):
        LiveTarget.from_live({**live, "port": "1704"})


def test_player_args() -> None:
    assert player_args("alsa", device="hw:1") == ["--player", "alsa", "--soundcard", "hw:1"]
    assert player_args("null") == ["--player", "file:filename=null"]
    assert player_args("file", output=Path("/x/o.raw")) == [
        "--player",
        "file:filename=/x/o.raw,mode=a",
    ]
    with pytest.raises(PlayerError):
        player_args("file")


@pytest.mark.network
def test_runner_plays_only_between_start_and_stop(server: Snapserver, tmp_path: Path) -> None:
    states: list[LiveState] = []
    out = tmp_path / "out.raw"
    runner = SnapclientRunner("loa-01", player_args("file", output=out), on_state=states.append)
    assert "--hostID" in runner.command(target_of(server))
    runner.start(target_of(server))
    try:
        assert wait_for(lambda: runner.state == "playing", 10)
        pid = runner.pid
        runner.start(target_of(server))  # the same target again: nothing restarts
        assert runner.pid == pid
    finally:
        runner.stop()
    assert runner.pid is None and runner.state == "stopped"
    assert states[:2] == ["connecting", "playing"] and states[-1] == "stopped"
    size = out.stat().st_size
    assert not wait_for(lambda: out.stat().st_size != size, 0.5)  # nothing more is written


@pytest.mark.network
def test_watchdog_restarts_a_dead_client(server: Snapserver, tmp_path: Path) -> None:
    runner = SnapclientRunner("loa-02", player_args("null"), restart_backoff_s=0.1)
    runner.start(target_of(server))
    try:
        assert wait_for(lambda: runner.state == "playing", 10)
        first = runner.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: runner.pid not in (None, first), 10)
        assert wait_for(lambda: runner.state == "playing", 10)
        assert runner.restarts == 1
    finally:
        runner.close()


@pytest.mark.network
def test_server_drop_is_reported_and_rejoined(server: Snapserver, tmp_path: Path) -> None:
    states: list[LiveState] = []
    runner = SnapclientRunner("loa-03", player_args("null"), on_state=states.append)
    runner.start(target_of(server))
    try:
        assert wait_for(lambda: runner.state == "playing", 10)
        server.stop()  # the network (or the server) is gone
        assert wait_for(lambda: runner.state == "disconnected", 10)
        server.start()
        assert wait_for(lambda: runner.state == "playing", 15)  # snapclient retried by itself
    finally:
        runner.close()
    assert "disconnected" in states


def test_runner_without_snapclient_refuses() -> None:
    runner = SnapclientRunner("loa-04", player_args("null"), binary="snapclient-not-here")
    with pytest.raises(PlayerError, match="not installed"):
        runner.start(LiveTarget("127.0.0.1", 1704, "live-1"))


def test_fake_client_records() -> None:
    states: list[LiveState] = []
    fake = FakeLiveClient(on_state=states.append)
    t = LiveTarget("h", 1, "s")
    fake.start(t)
    fake.start(t)
    fake.set_state("disconnected")
    fake.stop()
    assert fake.calls == [("start", t), ("stop", None)]
    assert states == ["playing", "disconnected", "stopped"]
