"""Players: the file player's record, the ALSA player's decoding and volume (no card needed)."""

from __future__ import annotations

import array
import hashlib
import io
import json
import subprocess
import sys
import tracemalloc
import wave
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from devices import protocol
from devices.clock import SkewedClock, SystemClock
from devices.errors import PlayerError
from devices.players import AlsaPlayer, FilePlayer
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
    playback = player.start(player.prepare(it, src), 70, SystemClock())
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


def test_alsa_player_opens_the_file_at_its_own_format_and_refuses_garbage(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good"  # cache files have no extension
    good.write_bytes(wav_bytes(frames=4800, rate=22_050))
    player = AlsaPlayer()
    stream = player.prepare(item(media_of(good.read_bytes()), None), good).decoded
    assert (stream.sample_rate, stream.channels) == (22_050, 1)
    assert drain(stream.chunks(), 1000) == 4800
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"not audio at all" * 100)
    with pytest.raises(PlayerError, match="cannot decode"):
        player.prepare(item(media_of(bad.read_bytes()), None), bad)


def drain(chunks: Generator[array.array[int], int, None], frames: int) -> int:
    """Samples a mono card asking `frames` at a time gets from a PCM generator, to its end."""
    next(chunks)
    total, short = 0, False
    while True:
        try:
            chunk = chunks.send(frames)
        except StopIteration:
            return total
        assert not short, "a short chunk before the end: the card would hear a gap"
        short = len(chunk) < frames
        total += len(chunk)


def test_a_ten_minute_file_streams_without_being_held_as_pcm(tmp_path: Path) -> None:
    rate, seconds = 22_050, 600
    path = tmp_path / "long"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        minute = array.array("h", [1000, -1000] * (rate * 30)).tobytes()
        for _ in range(seconds // 60):
            w.writeframes(minute)
    whole_pcm = rate * seconds * 2  # 26.5 MB of 16-bit samples
    player = AlsaPlayer()
    tracemalloc.start()
    try:
        stream = player.prepare(item(media_of(b"x"), None), path).decoded
        after_prepare = tracemalloc.get_traced_memory()[0]
        played = drain(stream.chunks(), 1024)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert played == rate * seconds
    assert after_prepare < 200_000  # the half-second lead-in (44 kB), not the file
    assert peak < whole_pcm / 50, f"peak {peak} B while streaming {whole_pcm} B of PCM"


class FakeCard:
    """Stands in for `miniaudio.PlaybackDevice`: keeps the format and the feed to pull from."""

    opened: ClassVar[list[FakeCard]] = []

    def __init__(self, *, output_format: Any, nchannels: int, sample_rate: int, device_id: Any):
        self.format = (nchannels, sample_rate)
        self.feed: Generator[array.array[int], int, None] | None = None
        self.closed = False
        FakeCard.opened.append(self)

    def start(self, feed: Generator[array.array[int], int, None]) -> None:
        self.feed = feed

    def close(self) -> None:
        self.closed = True


def test_alsa_playback_follows_the_live_volume_and_stamps_the_start_by_the_given_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import miniaudio

    monkeypatch.setattr(miniaudio, "PlaybackDevice", FakeCard)
    path = tmp_path / "a"
    path.write_bytes(wav_bytes(frames=24_000, rate=24_000))  # 1 s, 0.5 s of it the lead-in
    player = AlsaPlayer()
    prepared = player.prepare(item(media_of(b"x"), None), path)
    ahead = SkewedClock(SystemClock(), 120.0)
    playback = player.start(prepared, 50, ahead)
    assert abs((playback.started_at - ahead.now()).total_seconds()) < 1
    card = FakeCard.opened[-1]
    assert card.format == (1, 24_000) and card.feed is not None
    assert set(card.feed.send(8_000)) == {500}  # inside the lead-in
    playback.set_volume(100)
    assert set(card.feed.send(8_000)) == {1000}  # across the lead-in's end
    assert not playback.wait(0)
    assert len(card.feed.send(16_000)) == 8_000
    with pytest.raises(StopIteration):
        card.feed.send(16_000)
    assert playback.wait(0) and card.closed
    # A second start of the same prepared item decodes the file afresh.
    again = player.start(prepared, 100, ahead)
    assert FakeCard.opened[-1].feed is not None and again is not playback
    assert drain_feed(FakeCard.opened[-1].feed) == 24_000


def drain_feed(feed: Generator[array.array[int], int, None]) -> int:
    total = 0
    while True:
        try:
            total += len(feed.send(4_000))
        except StopIteration:
            return total


def test_miniaudio_is_loaded_without_numpy_and_numpy_still_imports_afterwards() -> None:
    code = (
        "import sys; from devices.players import load_miniaudio; ma = load_miniaudio(); "
        "print('numpy' in sys.modules, ma.numpy is None); import numpy; print(numpy.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "numpy"]
