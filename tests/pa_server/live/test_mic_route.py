"""The microphone WebSocket route, on a FakeLiveEngine (no snapserver needed)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from pa_server.api.live import CLOSE_BAD_AUDIO, CLOSE_REFUSED, install
from pa_server.live.engine import FakeLiveEngine, SessionEnd
from pa_server.live.sources import MicRegistry, MicSource
from tests.live_support import tone


@pytest.fixture
def setup() -> tuple[TestClient, FakeLiveEngine, MicRegistry]:
    app = FastAPI()
    registry = MicRegistry()
    install(app, registry)
    return TestClient(app), FakeLiveEngine(), registry


def test_chunks_reach_the_session(setup: tuple[TestClient, FakeLiveEngine, MicRegistry]) -> None:
    client, engine, registry = setup
    ends: list[SessionEnd] = []
    mic = MicSource(rate=48_000, channels=1)
    session = engine.start_session(["loa-1"], mic, on_end=lambda _s, e: ends.append(e))
    token = registry.register(session.id, mic)
    pcm = tone(440, 0.5).astype("<i2").tobytes()
    with client.websocket_connect(f"/api/v1/live/{session.id}/mic") as ws:
        ws.send_text(token)
        for i in range(0, len(pcm), 1920):  # 20 ms
            ws.send_bytes(pcm[i : i + 1920])
        ws.send_text("end")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1000
    got = np.frombuffer(bytes(engine.all[session.id].pcm), dtype="<i2").reshape(-1, 2)
    assert got.shape[0] == 24_000
    assert (got[:, 0] == np.frombuffer(pcm, dtype="<i2")).all()
    assert [e.outcome for e in ends] == ["finished"]


@pytest.mark.parametrize("token", ["", "wrong"])
def test_wrong_token_refused(
    setup: tuple[TestClient, FakeLiveEngine, MicRegistry], token: str
) -> None:
    client, engine, registry = setup
    mic = MicSource()
    session = engine.start_session(["loa-1"], mic)
    registry.register(session.id, mic)
    with client.websocket_connect(f"/api/v1/live/{session.id}/mic") as ws:
        ws.send_text(token)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == CLOSE_REFUSED
    assert len(engine.all[session.id].pcm) == 0


def test_one_connection_at_a_time_and_bad_audio(
    setup: tuple[TestClient, FakeLiveEngine, MicRegistry],
) -> None:
    client, engine, registry = setup
    mic = MicSource()
    session = engine.start_session(["loa-1"], mic)
    token = registry.register(session.id, mic)
    url = f"/api/v1/live/{session.id}/mic"
    with client.websocket_connect(url) as first:
        first.send_text(token)
        first.send_bytes(b"\x00\x00" * 480)
        with client.websocket_connect(url) as second:
            second.send_text(token)
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_text()
            assert closed.value.code == CLOSE_REFUSED
        first.send_bytes(b"\x00\x00\x00")  # half a sample
        with pytest.raises(WebSocketDisconnect) as bad:
            first.receive_text()
        assert bad.value.code == CLOSE_BAD_AUDIO
    # released: a reloaded page may claim it again
    with client.websocket_connect(url) as again:
        again.send_text(token)
        again.send_bytes(b"\x00\x00" * 480)
        again.send_text("end")
        with pytest.raises(WebSocketDisconnect):
            again.receive_text()
    assert len(engine.all[session.id].pcm) == 2 * 480 * 4
