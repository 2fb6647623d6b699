"""Sound output behind one interface: `alsa` (a real card via miniaudio), `file`, `null`.

A player first `prepare`s a verified file (decoding ahead, so the start costs only opening
the stream), then `start`s it on the instant and returns a `Playback` to watch or stop. The
start is timestamped by the clock the scheduler passes: the agent's corrected clock, since
`late_ms` and `started_at` compare against the server's instants.
"""

from __future__ import annotations

import array
import json
import logging
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from devices import protocol
from devices.clock import Clock
from devices.config import PlayerSection
from devices.errors import PlayerError
from devices.protocol import Item, require_media

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Playback(Protocol):
    """One sound being played."""

    started_at: datetime

    def wait(self, timeout: float | None) -> bool:
        """Wait until it ends or `timeout` passes; True if it has ended."""
        ...

    def stop(self) -> None: ...

    def set_volume(self, volume: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """A file ready to start: its path and, for a real card, its opened `PcmStream`."""

    item: Item
    path: Path
    decoded: Any = None


class Player(Protocol):
    """What the scheduler drives."""

    def prepare(self, item: Item, path: Path) -> Prepared: ...

    def start(self, prepared: Prepared, volume: int, clock: Clock) -> Playback:
        """Start now; `clock` timestamps the start."""
        ...

    def close(self) -> None: ...


class TimedPlayback:
    """A playback that lasts the item's announced duration (null and file players)."""

    def __init__(self, duration_s: float, started_at: datetime) -> None:
        self.started_at = started_at
        self._end = time.monotonic() + duration_s
        self._stopped = threading.Event()
        self.volume = 0

    def wait(self, timeout: float | None) -> bool:
        left = self._end - time.monotonic()
        if left <= 0 or self._stopped.is_set():
            return True
        return self._stopped.wait(left if timeout is None else min(left, timeout)) or (
            self._end <= time.monotonic()
        )

    def stop(self) -> None:
        self._stopped.set()

    def set_volume(self, volume: int) -> None:
        self.volume = volume


class NullPlayer:
    """Plays nothing, for as long as the item lasts."""

    def prepare(self, item: Item, path: Path) -> Prepared:
        return Prepared(item, path)

    def start(self, prepared: Prepared, volume: int, clock: Clock) -> Playback:
        return TimedPlayback(require_media(prepared.item).duration_ms / 1000, clock.now())

    def close(self) -> None:
        pass


class FilePlayer:
    """Copies each played file into a folder and logs its actual start (for tests, simulation).

    `plays.jsonl` gets one line per start: device, occurrence, `play_at`, the start instant
    (UTC, ms, and epoch µs for benches), `late_ms`, and the copy's file name. The start only
    reads the clock; placing the copy and writing the line happen in a writer thread, so a
    simulated fleet starting on one instant in one process does not queue on file I/O.
    """

    _queue: queue.SimpleQueue[tuple[FilePlayer, Prepared, int, int] | None] | None = None
    _queue_lock = threading.Lock()

    def __init__(self, output_dir: Path, device_id: str) -> None:
        self.output_dir = output_dir
        self.device_id = device_id
        output_dir.mkdir(parents=True, exist_ok=True)
        with FilePlayer._queue_lock:
            if FilePlayer._queue is None:
                FilePlayer._queue = queue.SimpleQueue()
                threading.Thread(target=_file_writer, name="pa-file-player", daemon=True).start()

    def prepare(self, item: Item, path: Path) -> Prepared:
        # Copied ahead under a hidden name: the writer only renames it.
        staged = self.output_dir / f".{item.occurrence_id}.staged"
        shutil.copyfile(path, staged)
        return Prepared(item, staged)

    def start(self, prepared: Prepared, volume: int, clock: Clock) -> Playback:
        started = clock.now()
        started_ns = (started - EPOCH) // timedelta(microseconds=1) * 1000
        assert FilePlayer._queue is not None
        FilePlayer._queue.put((self, prepared, started_ns, volume))
        return TimedPlayback(require_media(prepared.item).duration_ms / 1000, started)

    def record(self, prepared: Prepared, started_ns: int, volume: int) -> None:
        """Place the copy and append the JSON line of one start."""
        started = EPOCH + timedelta(microseconds=started_ns // 1000)
        item = prepared.item
        name = f"{item.occurrence_id}-{started_ns}.{_ext(require_media(item).mime)}"
        prepared.path.replace(self.output_dir / name)
        late_ms = None
        if item.play_at is not None:
            late_ms = round((started - item.play_at).total_seconds() * 1000, 3)
        line = {
            "device_id": self.device_id,
            "occurrence_id": item.occurrence_id,
            "play_at": protocol.format_instant(item.play_at) if item.play_at else None,
            "started_at": protocol.format_instant(started),
            "started_at_us": started_ns // 1000,
            "late_ms": late_ms,
            "volume": volume,
            "file": name,
        }
        with (self.output_dir / "plays.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    def close(self) -> None:
        pass


def _file_writer() -> None:
    assert FilePlayer._queue is not None
    while True:
        job = FilePlayer._queue.get()
        if job is None:
            return
        player, prepared, started_ns, volume = job
        try:
            player.record(prepared, started_ns, volume)
        except OSError:
            log.exception("file player could not record a start")


def _ext(mime: str) -> str:
    return {"audio/mpeg": "mp3", "audio/ogg": "ogg", "audio/opus": "opus", "audio/wav": "wav"}.get(
        mime, "bin"
    )


class AlsaPlayer:
    """A real sound card through miniaudio (ALSA on the Pi), streaming each file from disk.

    `prepare` opens the decoder at the file's own rate and channel count and decodes the
    first `LEAD_IN_S` ahead, so the start costs only opening the device; the rest is decoded
    a period at a time as the card asks, so memory does not grow with the file's duration.
    The device is opened at the file's format and miniaudio converts to the card's.
    """

    #: Decoded ahead of the instant, in seconds (the rest streams).
    LEAD_IN_S = 0.5
    #: Most frames read from the decoder at once (its buffer: 16,384 frames at least).
    CHUNK_FRAMES = 16_384

    def __init__(self, device_name: str | None = None) -> None:
        miniaudio = load_miniaudio()
        self._ma = miniaudio
        self._device_id = None
        if device_name:
            for dev in miniaudio.Devices().get_playbacks():
                if device_name in dev["name"]:
                    self._device_id = dev["id"]
                    break
            else:
                raise PlayerError(f"no playback device named like {device_name!r}")

    def prepare(self, item: Item, path: Path) -> Prepared:
        return Prepared(item, path, self.open_stream(path))

    def open_stream(self, path: Path) -> PcmStream:
        """The file's decoder, opened at its own format, with its lead-in decoded."""
        ma = self._ma
        try:
            info = _file_info(ma, path)
            source = ma.stream_file(
                str(path),
                output_format=ma.SampleFormat.SIGNED16,
                nchannels=info.nchannels,
                sample_rate=info.sample_rate,
                frames_to_read=self.CHUNK_FRAMES,
            )
            lead_in = _read_frames(source, int(info.sample_rate * self.LEAD_IN_S), info.nchannels)
        except (ma.MiniaudioError, OSError) as exc:
            raise PlayerError(f"cannot decode {path.name}: {exc}") from exc
        if not lead_in:
            raise PlayerError(f"cannot decode {path.name}: no audio in it")
        return PcmStream(info.sample_rate, info.nchannels, lead_in, source)

    def start(self, prepared: Prepared, volume: int, clock: Clock) -> Playback:
        stream: PcmStream = prepared.decoded
        if stream.taken:  # started once already: decode it afresh
            stream = self.open_stream(prepared.path)
        try:
            return _AlsaPlayback(self._ma, stream, volume, self._device_id, clock)
        except self._ma.MiniaudioError as exc:
            raise PlayerError(f"cannot open the sound device: {exc}") from exc

    def close(self) -> None:
        pass


def load_miniaudio() -> Any:
    """`import miniaudio`, without the numpy it would import if installed.

    miniaudio imports numpy only to accept numpy arrays, which the agent never passes; numpy
    is installed beside the agent wherever the server's audio stack is, and loading it cost
    12.7 of the 13.9 MB that `import miniaudio` added to a running agent (bench/agent_memory.py;
    the Pi's budget is 60 MB). Hiding it for the duration of the import makes miniaudio take
    its "numpy not installed" path. If something already imported numpy, it is used as is.
    """
    if "miniaudio" in sys.modules or "numpy" in sys.modules:
        import miniaudio
    else:
        sys.modules["numpy"] = None  # type: ignore[assignment]  # `import numpy` → ImportError
        try:
            import miniaudio
        except ImportError as exc:  # pragma: no cover - miniaudio is a core dependency
            raise PlayerError(f"miniaudio cannot be loaded: {exc}") from exc
        finally:
            del sys.modules["numpy"]
    return miniaudio


def _file_info(ma: Any, path: Path) -> Any:
    """miniaudio's header info of an audio file, chosen by its magic bytes (cache names have
    no extension for `miniaudio.get_file_info` to go by)."""
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"RIFF":
        return ma.wav_get_file_info(str(path))
    if magic == b"fLaC":
        return ma.flac_get_file_info(str(path))
    if magic == b"OggS":
        return ma.vorbis_get_file_info(str(path))
    return ma.mp3_get_file_info(str(path))


def _read_frames(
    source: Generator[array.array[int], int, None], frames: int, channels: int
) -> array.array[int]:
    """Up to `frames` frames from a miniaudio stream generator (fewer if the file ends)."""
    out = array.array("h")
    while len(out) < frames * channels:
        try:
            chunk = source.send(min(AlsaPlayer.CHUNK_FRAMES, frames - len(out) // channels))
        except StopIteration:
            break
        if not chunk:
            break
        out.extend(chunk)
    return out


class PcmStream:
    """One file's PCM: the lead-in decoded ahead, then miniaudio's decoder for the rest."""

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        lead_in: array.array[int],
        rest: Generator[array.array[int], int, None],
    ) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.taken = False
        self._lead_in = lead_in
        self._rest = rest

    def chunks(self) -> Generator[array.array[int], int, None]:
        """miniaudio's generator protocol: receives a frame count, yields that many frames."""
        self.taken = True
        pending, self._lead_in = self._lead_in, array.array("h")
        pos = 0
        frames = yield array.array("h")
        while True:
            want = frames * self.channels
            chunk = pending[pos : pos + want]
            pos += len(chunk)
            if len(chunk) < want:  # past the lead-in: decode the rest as the card asks
                pending = array.array("h")
                missing = (want - len(chunk)) // self.channels
                chunk.extend(_read_frames(self._rest, missing, self.channels))
            if not chunk:
                return
            frames = yield chunk


class _AlsaPlayback:
    def __init__(
        self, ma: Any, stream: PcmStream, volume: int, device_id: Any, clock: Clock
    ) -> None:
        self._volume = volume
        self._done = threading.Event()
        self._device = ma.PlaybackDevice(
            output_format=ma.SampleFormat.SIGNED16,
            nchannels=stream.channels,
            sample_rate=stream.sample_rate,
            device_id=device_id,
        )
        chunks = stream.chunks()
        next(chunks)
        feed = _scaled(chunks, lambda: self._volume, self._done.set)
        next(feed)
        self.started_at = clock.now()
        self._device.start(feed)

    def wait(self, timeout: float | None) -> bool:
        if self._done.wait(timeout):
            self._device.close()
            return True
        return False

    def stop(self) -> None:
        self._done.set()
        self._device.close()

    def set_volume(self, volume: int) -> None:
        self._volume = volume


def _scaled(
    source: Generator[array.array[int], int, None],
    volume: Callable[[], int],
    on_end: Callable[[], None],
) -> Generator[array.array[int], int, None]:
    """`source` (a started miniaudio-protocol generator) at the live volume; `on_end` at its end."""
    frames = yield array.array("h")
    while True:
        try:
            chunk = source.send(frames)
        except StopIteration:
            break
        vol = volume()
        if vol < 100:  # linear gain; the chunk is small enough for plain Python
            chunk = array.array("h", (s * vol // 100 for s in chunk))
        frames = yield chunk
    on_end()


def make_player(settings: PlayerSection, device_id: str) -> Player:
    """The player the config names."""
    if settings.kind == "null":
        return NullPlayer()
    if settings.kind == "file":
        if settings.output_dir is None:
            raise PlayerError("player.output_dir is required for the file player")
        return FilePlayer(settings.output_dir, device_id)
    return AlsaPlayer(settings.device)
