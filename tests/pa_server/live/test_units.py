"""The live room's pieces that need no snapserver: settings, config text, sources, the fake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from audio.store import MediaStore
from pa_server.config import Settings
from pa_server.live.control import ServerStatus, parse_control_url
from pa_server.live.engine import FakeLiveEngine, SnapcastEngine
from pa_server.live.errors import BadAudio, LiveUnavailable, NoFreeStream, UnknownSession
from pa_server.live.feed import Recorder
from pa_server.live.snapserver import SnapserverConfig, find_snapserver
from pa_server.live.sources import MicSource
from tests.live_support import stereo_bytes, tone


@pytest.mark.parametrize(
    "url", ["tcp://127.0.0.1:1705", "tcp://localhost:1705", "tcp://[::1]:1705"]
)
def test_loopback_control_accepted(url: str) -> None:
    assert parse_control_url(url)[1] == 1705
    assert Settings(snapserver_url=url).snapserver_url == url


@pytest.mark.parametrize(
    "url",
    [
        "tcp://0.0.0.0:1705",
        "tcp://10.0.0.5:1705",
        "tcp://pa.example.vn:1705",
        "http://127.0.0.1:1780",
    ],
)
def test_open_control_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="snapserver control"):
        Settings(snapserver_url=url)


def test_config_keeps_control_local(tmp_path: Path) -> None:
    text = SnapserverConfig(
        tmp_path, stream_port=4000, control_port=4001, streams=3, stream_bind="0.0.0.0"
    ).render()
    lines = text.splitlines()
    tcp = lines.index("[tcp]")
    assert lines[tcp + 2] == "bind_to_address = 127.0.0.1"
    assert "enabled = false" in lines[lines.index("[http]") + 1]
    sources = [line for line in lines if line.startswith("source = ")]
    assert [s.split("name=")[1].split("&")[0] for s in sources] == [
        "idle", "live-1", "live-2", "live-3",
    ]  # fmt: skip
    assert "codec = opus:BITRATE:64000,COMPLEXITY:5" in lines


def test_a_relative_data_dir_still_gives_absolute_pipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` keeps its data in the relative `var`: "pipe://var/live/…" would name the
    pipe /live/… on a host "var", and snapserver could not start (seen from a fresh clone)."""
    monkeypatch.chdir(tmp_path)
    text = SnapserverConfig(
        Path("var/live/snapserver"), stream_port=4000, control_port=4001
    ).render()
    sources = [line for line in text.splitlines() if line.startswith("source = ")]
    assert sources and all(
        line.startswith(f"source = pipe://{tmp_path}/var/live/snapserver/fifo/") for line in sources
    ), sources
    assert f"datadir = {tmp_path}/var/live/snapserver/data" in text.splitlines()


def test_missing_snapserver_says_how_to_install() -> None:
    with pytest.raises(LiveUnavailable) as info:
        find_snapserver("snapserver-not-installed-here")
    assert "apt-get install snapserver" in info.value.reason_vi
    assert info.value.reason_vi.startswith("Chưa cài Snapcast")


def test_managed_engine_unavailable_without_binary(tmp_path: Path) -> None:
    with pytest.raises(LiveUnavailable):
        SnapcastEngine.managed(tmp_path, binary="snapserver-not-installed-here")


def test_status_parse() -> None:
    result = {
        "server": {
            "groups": [
                {"id": "g1", "stream_id": "idle", "clients": [{"id": "a", "connected": True}]},
                {"id": "g2", "stream_id": "live-1", "clients": [{"id": "b", "connected": False}]},
            ],
            "streams": [{"id": "idle", "status": "idle"}, {"id": "live-1", "status": "playing"}],
            "server": {"snapserver": {"version": "0.26.0"}},
        }
    }
    status = ServerStatus.parse(result)
    assert status.connected == {"a"}
    assert status.clients["b"].stream_id == "live-1"
    assert status.streams["live-1"] == "playing"


def test_mic_resamples_to_stream_format() -> None:
    fake = FakeLiveEngine()
    mic = MicSource(rate=16_000, channels=1)
    fake.start_session(["loa-1"], mic)
    pcm = tone(1000, 1.0, rate=16_000).astype("<i2").tobytes()
    for i in range(0, len(pcm), 640):
        mic.push(pcm[i : i + 640])
    (session,) = fake.all.values()
    out = np.frombuffer(bytes(session.pcm), dtype="<i2").reshape(-1, 2)
    assert abs(out.shape[0] - 48_000) <= 3  # 1 s at 48 kHz, whatever the chunking
    assert (out[:, 0] == out[:, 1]).all()
    spectrum = np.abs(np.fft.rfft(out[:, 0].astype(float)))
    assert abs(int(np.argmax(spectrum)) * 48_000 / out.shape[0] - 1000) < 5


def test_mic_refuses_bad_audio() -> None:
    with pytest.raises(BadAudio):
        MicSource(rate=11_111)
    mic = MicSource(channels=2)
    FakeLiveEngine().start_session(["loa-1"], mic)
    with pytest.raises(BadAudio):
        mic.push(b"\x00\x01\x02")  # not whole stereo frames


def test_fake_engine_pool_and_ends() -> None:
    fake = FakeLiveEngine(streams=1)
    ends = []
    mic = MicSource()
    s = fake.start_session(["loa-1", "loa-2"], mic, on_end=lambda _s, e: ends.append(e))
    assert fake.assigned() == {"loa-1": "live-1", "loa-2": "live-1"}
    with pytest.raises(NoFreeStream):
        fake.start_session(["loa-3"], MicSource())
    mic.end()  # the operator closed the page
    assert [e.outcome for e in ends] == ["finished"]
    assert fake.assigned() == {}
    with pytest.raises(UnknownSession):
        fake.stop_session(s.id)
    with pytest.raises(ValueError, match="target"):
        fake.start_session([], MicSource())


def test_recorder_writes_mp3(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.mp3")
    rec.write(stereo_bytes(tone(440, 1.0)))
    path = rec.close()
    assert rec.duration_s == pytest.approx(1.0)
    data = path.read_bytes()
    assert data[:3] == b"ID3" or data[0] == 0xFF
    sha = MediaStore(tmp_path / "m").put(data, "mp3", {"kind": "live-recording"})
    assert len(sha) == 64


def test_recorder_of_nothing_is_empty(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "r.mp3")
    assert rec.close().read_bytes() == b""


def test_engine_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        public_url="https://pa.example.vn",
        snapserver_binary="snapserver-not-installed-here",
    )
    with pytest.raises(LiveUnavailable):
        SnapcastEngine.from_settings(settings)
    external = Settings(data_dir=tmp_path, snapserver_url="tcp://127.0.0.1:1705")
    with pytest.raises(LiveUnavailable, match="FIFO_DIR"):
        SnapcastEngine.from_settings(external)
    engine = SnapcastEngine.from_settings(
        external.model_copy(
            update={"snapserver_fifo_dir": tmp_path / "fifo", "public_url": "https://pa.example.vn"}
        )
    )
    assert engine.server is None  # external: nothing of ours to run
    assert (engine.stream_host, engine.stream_port) == ("pa.example.vn", 1704)
    assert engine.streams == ["live-1", "live-2", "live-3", "live-4"]


def test_taken_audio_port_says_what_to_do(tmp_path: Path) -> None:
    import socket

    from pa_server.live.snapserver import Snapserver, free_port
    from tests.live_support import require_snapcast

    require_snapcast()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = Snapserver(SnapserverConfig(tmp_path, stream_port=port, control_port=free_port()))
        with pytest.raises(LiveUnavailable) as info:
            server.start()
    assert "systemctl disable --now snapserver" in info.value.reason_vi
    assert not server.running
