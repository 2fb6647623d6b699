"""Fixtures of the live-audio tests: a real managed snapserver and snapclient file players."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from audio.store import MediaStore
from devices.live import LiveTarget, SnapclientRunner, player_args
from pa_server.live.engine import SnapcastEngine
from tests.live_support import require_snapcast


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SnapcastEngine]:
    """A started engine on its own snapserver (free ports, 2 streams, buffer 400 ms)."""
    require_snapcast()
    eng = SnapcastEngine.managed(
        tmp_path / "live", streams=2, buffer_ms=400, media_store=MediaStore(tmp_path / "media")
    )
    with eng:
        yield eng


ClientsFactory = Callable[[list[str]], dict[str, Path]]


@pytest.fixture
def clients(engine: SnapcastEngine, tmp_path: Path) -> Iterator[ClientsFactory]:
    """Start snapclients (file players) for device ids; returns id → output file."""
    runners: list[SnapclientRunner] = []

    def start(ids: list[str]) -> dict[str, Path]:
        out = {}
        for device_id in ids:
            path = tmp_path / f"{device_id}.raw"
            runner = SnapclientRunner(device_id, player_args("file", output=path))
            runner.start(LiveTarget(engine.stream_host, engine.stream_port, "any"))
            runners.append(runner)
            out[device_id] = path
        return out

    yield start
    for r in runners:
        r.close()
