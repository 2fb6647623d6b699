"""Our snapserver child process: an orphan left by a killed pa-server is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from pa_server.live.snapserver import Snapserver, SnapserverConfig, free_port
from tests.live_support import require_snapcast

pytestmark = [pytest.mark.network]


def test_orphaned_snapserver_is_replaced(tmp_path: Path) -> None:
    """A pa-server killed outright leaves its snapserver; the next start stops it first."""
    require_snapcast()
    config = SnapserverConfig(
        tmp_path / "snap", stream_port=free_port(), control_port=free_port(), streams=1
    )
    first = Snapserver(config)
    first.start()
    assert first._proc is not None
    old = first._proc
    second = Snapserver(config)  # the new process knows nothing of the first object
    try:
        second.start()  # would fail on the taken audio port without the pid file
        assert old.wait(5) is not None
        assert second.running and second.pid != old.pid
    finally:
        second.stop()
        first.stop()
