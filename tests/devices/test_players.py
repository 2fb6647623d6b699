"""Players: the file player's record, the ALSA player's decoding and volume (no card needed)."""

from __future__ import annotations

import array
import hashlib
import io
import json
import wave
from datetime import timedelta
from pathlib import Path

import pytest

from devices import protocol
from devices.errors import PlayerError
from devices.players import AlsaPlayer, FilePlayer, _pcm_stream
from tests.devices.support import item, wait_for


def wav_bytes(frames: int = 4800, rate: int = 48_000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(array.array("h", [1000] * frames).tobytes())
    return buf.getvalue()


def media_of(data: bytes) -> protocol.Media:
    return protocol.Media(
        url="http://s/x.wav",
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        duration_ms=100,
        mime="audio/wav",
    )


def test_file_player_copies_the_file_and_logs_the_start(tmp_path: Path) -> None:
    data = wav_bytes()
    src = tmp_path / "src.wav"
    src.write_bytes(data)
    player = FilePlayer(tmp_path / "out", "loa-01")
    it = item(media_of(data), protocol.utc_now() + timedelta(milliseconds=5))
    playback = player.start(player.prepare(it, src), 70)
    line = wait_for(
        lambda: (
            (tmp_path / "out" / "plays.jsonl").exists()
            and json.loads((tmp_path / "out" / "plays.jsonl").read_text())
        ),
        5,
    )
    assert line["occurrence_id"] == it.occurrence_id and line["volume"] == 70
    assert line["started_at"] == protocol.format_instant(playback.started_at)
    assert (tmp_path / "out" / line["file"]).read_bytes() == data
    assert playback.wait(1.0)


def test_alsa_player_decodes_ahead_and_refuses_garbage(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    good.write_bytes(wav_bytes())
    player = AlsaPlayer()
    prepared = player.prepare(item(media_of(good.read_bytes()), None), good)
    assert len(prepared.decoded) == 4800 * AlsaPlayer.CHANNELS
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"not audio at all" * 100)
    with pytest.raises(PlayerError, match="cannot decode"):
        player.prepare(item(media_of(bad.read_bytes()), None), bad)


def test_pcm_stream_scales_by_the_live_volume_and_signals_the_end() -> None:
    samples = array.array("h", [1000] * 8)
    volume = [50]
    ended: list[bool] = []
    stream = _pcm_stream(samples, 2, lambda: volume[0], lambda: ended.append(True))
    next(stream)
    assert list(stream.send(2)) == [500] * 4
    volume[0] = 100
    assert list(stream.send(2)) == [1000] * 4
    with pytest.raises(StopIteration):
        stream.send(2)
    assert ended == [True]
