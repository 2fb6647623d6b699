"""Relays of a local HTTP radio through ffmpeg into a real snapserver and snapclients."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from audio.encode import open_encoder
from pa_server.live.engine import SessionEnd, SnapcastEngine
from pa_server.live.errors import UnknownSession
from pa_server.live.relay_guard import check_relay_syntax
from pa_server.live.sources import RelayPolicy, RelaySource
from tests.live_support import (
    LOCAL_RADIO,
    AudioHttpServer,
    band_energy,
    loud_seconds,
    read_mono,
    require_ffmpeg,
    tone,
    wait_for,
    wav_bytes,
)

from .conftest import ClientsFactory

pytestmark = [pytest.mark.network, pytest.mark.slow]

FAST = RelayPolicy(stall_s=3, backoff_s=0.1, backoff_max_s=0.2, give_up_s=10, max_attempts=3)


@pytest.fixture(autouse=True)
def _ffmpeg() -> None:
    require_ffmpeg()


def mp3_of(samples: bytes, rate: int) -> bytes:
    """16-bit mono samples as an MP3 file's bytes (the project's own streaming encoder)."""
    out = io.BytesIO()
    encoder = open_encoder("mp3", out, rate)  # type: ignore[arg-type]  # BytesIO has no fileno
    encoder.write(samples)
    encoder.finish()
    return out.getvalue()


def on_groups(engine: SnapcastEngine) -> dict[str, str]:
    return {c.id: c.stream_id for c in engine.control.status().clients.values()}


def test_relay_reaches_three_loudspeakers(engine: SnapcastEngine, clients: ClientsFactory) -> None:
    outs = clients(["loa-1", "loa-2", "loa-3"])
    assert wait_for(lambda: set(outs) <= engine.control.status().connected, 10)
    # an MP3 radio, as most relayed stations are
    mp3 = mp3_of(tone(440, 3.0, rate=24_000).astype("<i2").tobytes(), 24_000)
    with AudioHttpServer(mp3, content_type="audio/mpeg") as radio:
        relay = RelaySource(radio.url, guard=LOCAL_RADIO, policy=FAST)
        session = engine.start_session(list(outs), relay, title="Tiếp sóng VOV1")
        assert wait_for(lambda: all(loud_seconds(read_mono(p)) >= 2.5 for p in outs.values()), 15)
        end = engine.stop_session(session.id)
    assert end.outcome == "stopped"
    for device, path in outs.items():
        got = read_mono(path)
        assert band_energy(got[np.abs(got) > 0], 440) > 0.9, device
    assert end.recording_sha256 is not None and end.recording_s >= 2.0
    assert set(on_groups(engine).values()) == {"idle"}


def test_dropped_source_reconnects(engine: SnapcastEngine, clients: ClientsFactory) -> None:
    outs = clients(["loa-1"])
    assert wait_for(lambda: set(outs) <= engine.control.status().connected, 10)
    body = wav_bytes(tone(440, 2.0))
    # the first connection hangs up after about half a second of sound; later ones are whole
    with AudioHttpServer(body, plan=lambda n: 44 + 48_000 if n == 0 else None) as radio:
        relay = RelaySource(radio.url, guard=LOCAL_RADIO, policy=FAST)
        session = engine.start_session(["loa-1"], relay)
        assert wait_for(lambda: loud_seconds(read_mono(outs["loa-1"])) >= 2.0, 20)
        assert relay.reconnects >= 1
        assert radio.requests >= 2
        end = engine.stop_session(session.id)
    assert end.outcome == "stopped"


def test_dead_source_ends_failed(engine: SnapcastEngine, clients: ClientsFactory) -> None:
    outs = clients(["loa-1"])
    assert wait_for(lambda: set(outs) <= engine.control.status().connected, 10)
    ended = threading.Event()
    ends: list[SessionEnd] = []

    def on_end(_session: object, end: SessionEnd) -> None:
        ends.append(end)
        ended.set()

    with AudioHttpServer(b"", plan=lambda n: -1) as radio:  # every request: 404
        relay = RelaySource(radio.url, guard=LOCAL_RADIO, policy=FAST)
        session = engine.start_session(["loa-1"], relay, on_end=on_end)
        assert ended.wait(20)
    (end,) = ends
    assert end.outcome == "failed"
    assert end.detail is not None and "404" in end.detail
    assert relay.attempts == FAST.max_attempts
    assert end.recording_sha256 is None  # nothing was streamed, nothing to keep
    assert on_groups(engine) == {"loa-1": "idle"}  # silenced before on_end was called
    assert engine.sessions() == []
    assert engine.stop_session(session.id) == end  # stopping it again changes nothing
    with pytest.raises(UnknownSession):
        engine.stop_session("never-started")
    assert np.abs(read_mono(outs["loa-1"])).max(initial=0.0) == 0.0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "rtsp://x/y", "http://", "/tmp/x.mp3"])
def test_relay_refuses_non_http(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        check_relay_syntax(url)


def test_relay_command_decodes_to_stream_format() -> None:
    cmd = RelaySource("https://radio.example.vn/vov1.mp3").command()
    assert cmd[cmd.index("-i") + 1] == "https://radio.example.vn/vov1.mp3"
    assert cmd[-7:] == ["-f", "s16le", "-ar", "48000", "-ac", "2", "pipe:1"]


def test_stalled_source_is_killed_and_fails(engine: SnapcastEngine) -> None:
    ended = threading.Event()
    ends: list[SessionEnd] = []

    def on_end(_session: object, end: SessionEnd) -> None:
        ends.append(end)
        ended.set()

    policy = RelayPolicy(stall_s=1, backoff_s=0.1, backoff_max_s=0.1, give_up_s=30, max_attempts=2)
    body = wav_bytes(tone(440, 5.0))
    # every connection: a header and a little sound, then nothing, the socket left open
    with AudioHttpServer(body, plan=lambda n: (44 + 9_600, "hang")) as radio:
        relay = RelaySource(radio.url, guard=LOCAL_RADIO, policy=policy)
        engine.start_session(["loa-1"], relay, on_end=on_end)
        assert ended.wait(30)
    (end,) = ends
    assert end.outcome == "failed"
    assert end.detail is not None and "no sound for 1 s" in end.detail
    assert relay.attempts == 2
