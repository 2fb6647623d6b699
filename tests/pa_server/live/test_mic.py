"""A microphone session on a real snapserver: its chunks reach the target loudspeakers only."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from audio.store import MediaStore
from pa_server.live.engine import SnapcastEngine
from pa_server.live.sources import MicSource
from tests.live_support import band_energy, loud_seconds, read_mono, tone, wait_for

from .conftest import ClientsFactory

pytestmark = [pytest.mark.network, pytest.mark.slow]


def connected(engine: SnapcastEngine, ids: list[str]) -> bool:
    return set(ids) <= engine.control.status().connected


def push_realtime(mic: MicSource, pcm: bytes, chunk: int) -> None:
    """Push `pcm` in `chunk`-byte pieces at the pace a browser would."""
    start = time.monotonic()
    step = chunk / 2 / mic.rate / mic.channels
    for n, i in enumerate(range(0, len(pcm), chunk)):
        mic.push(pcm[i : i + chunk])
        time.sleep(max(0.0, start + (n + 1) * step - time.monotonic()))


def test_mic_reaches_targets_only_and_is_recorded(
    engine: SnapcastEngine, clients: ClientsFactory, tmp_path: Path
) -> None:
    outs = clients(["loa-a", "loa-b", "loa-x"])
    assert wait_for(lambda: connected(engine, list(outs)), 10)
    ends = []
    mic = MicSource(rate=16_000, channels=1, label="test")
    session = engine.start_session(
        ["loa-a", "loa-b"], mic, title="Thông báo", on_end=lambda s, e: ends.append(e)
    )
    assert session.live_ref() == {
        "engine": "snapcast",
        "host": engine.stream_host,
        "port": engine.stream_port,
        "stream": session.stream,
    }
    # groups: the two targets on the session's stream, the bystander on idle
    assert wait_for(
        lambda: (
            {c.id: c.stream_id for c in engine.control.status().clients.values()}
            == {"loa-a": session.stream, "loa-b": session.stream, "loa-x": "idle"}
        ),
        5,
    )
    sent = tone(660, 2.0, rate=16_000)
    push_realtime(mic, sent.astype("<i2").tobytes(), chunk=640)  # 20 ms chunks
    # On a busy machine the microphone queue may drop a little (it keeps latency bounded):
    # what counts is that the loudspeakers play what went into the stream.
    assert wait_for(lambda: engine.streamed_s(session.id) >= 1.0, 5)
    time.sleep(0.1)  # the feed thread's last chunks
    streamed = engine.streamed_s(session.id)
    # the clients play what they receive 400 ms (the buffer) later
    for target in ("loa-a", "loa-b"):
        assert wait_for(lambda t=target: loud_seconds(read_mono(outs[t])) >= streamed - 0.3, 10)
    end = engine.stop_session(session.id)

    for target in ("loa-a", "loa-b"):
        got = read_mono(outs[target])
        assert band_energy(got, 660) > 0.9, target
    bystander = read_mono(outs["loa-x"])
    assert bystander.size > 48_000  # it was playing (silence) all along
    assert np.abs(bystander).max() == 0.0

    assert ends == [end]
    assert end.outcome == "stopped"
    # The feed may still drain queued chunks between the look above and the stop: the count at
    # the end is at least what was streamed then, and never more than what was sent (2.0 s).
    assert streamed - 0.05 <= end.seconds_streamed <= 2.0 + 0.05
    assert 1.0 <= streamed <= 2.0
    assert end.recording_sha256 is not None
    store = MediaStore(tmp_path / "media")
    meta = store.meta(end.recording_sha256)
    assert meta is not None and meta["kind"] == "live-recording"
    assert meta["targets"] == ["loa-a", "loa-b"]
    assert meta["duration_s"] == pytest.approx(end.seconds_streamed, abs=0.01)
    # after the stop the targets are back on the silent stream
    assert wait_for(
        lambda: {c.stream_id for c in engine.control.status().clients.values()} == {"idle"}, 5
    )
