"""What goes into a stream: PCM written into a snapserver pipe, teed into a recording.

Every source hands 48 kHz 16-bit stereo PCM to a `StreamFeed`. A writer thread owns the FIFO
(blocking writes: snapserver reads the pipe at the audio's own pace, so a relay is paced by
it) and passes each chunk on to the `Recorder`, which encodes MP3 as it goes, so that a
two-hour relay never sits in memory as PCM.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import select
import threading
from pathlib import Path
from typing import Protocol

import lameenc
import numpy as np

from pa_server.live.errors import BadAudio, LiveError
from pa_server.live.snapserver import CHANNELS, SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME_BYTES = 2 * CHANNELS
BYTES_PER_S = SAMPLE_RATE * FRAME_BYTES
RECORDING_KBPS = 64


class PcmSink(Protocol):
    """Takes 48 kHz s16le stereo PCM (whole frames)."""

    def write(self, pcm: bytes) -> None: ...


class Recorder:
    """Encodes the PCM it is given into an MP3 file (mono, 64 kb/s) as it arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._enc = lameenc.Encoder()
        self._enc.set_bit_rate(RECORDING_KBPS)
        self._enc.set_in_sample_rate(SAMPLE_RATE)
        self._enc.set_out_sample_rate(24_000)  # speech and AM-band radio: 24 kHz is plenty
        self._enc.set_channels(1)
        self._enc.set_quality(5)
        self._file = path.open("wb")
        self.frames = 0
        self._lock = threading.Lock()

    def write(self, pcm: bytes) -> None:
        """Add stereo PCM to the recording (down-mixed to mono)."""
        stereo = np.frombuffer(pcm, dtype="<i2").reshape(-1, CHANNELS).astype(np.int32)
        mono = (stereo.sum(axis=1) // CHANNELS).astype("<i2").tobytes()
        with self._lock:
            if self._file.closed:
                return
            self._file.write(bytes(self._enc.encode(mono)))
            self.frames += len(mono) // 2

    @property
    def duration_s(self) -> float:
        return self.frames / SAMPLE_RATE

    def close(self) -> Path:
        """Flush the encoder and close the file; return its path."""
        with self._lock:
            if not self._file.closed:
                if self.frames:  # lameenc refuses to flush an encoder that never encoded
                    self._file.write(bytes(self._enc.flush()))
                self._file.close()
        return self.path


class StreamFeed:
    """Writes PCM into one snapserver pipe from a thread of its own; tees it to a recorder.

    `drop_when_full`: a microphone drops the oldest audio rather than fall behind (latency
    stays bounded); a relay blocks instead, so snapserver's reading paces the decoder.
    """

    def __init__(
        self,
        fifo: Path,
        *,
        recorder: Recorder | None = None,
        drop_when_full: bool = False,
        queue_s: float = 1.0,
        pipe_bytes: int | None = 16_384,
    ) -> None:
        self.fifo = fifo
        self.recorder = recorder
        self.drop_when_full = drop_when_full
        # Chunks are ~20 ms; the queue holds about `queue_s` of them.
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=max(2, int(queue_s * 50)))
        self.pipe_bytes = pipe_bytes
        self.bytes_written = 0
        self.dropped_chunks = 0
        self.error: str | None = None
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"live-feed-{fifo.name}", daemon=True
        )
        self._thread.start()

    def write(self, pcm: bytes) -> None:
        """Queue PCM for the stream (BadAudio unless whole 48 kHz stereo s16 frames)."""
        if len(pcm) % FRAME_BYTES:
            raise BadAudio(f"PCM length {len(pcm)} is not a whole number of stereo frames")
        if self._closed or not pcm:
            return
        if self.drop_when_full:
            while True:
                try:
                    self._queue.put_nowait(pcm)
                    return
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        self._queue.get_nowait()
                        self.dropped_chunks += 1
        else:
            while not self._closed:
                try:
                    self._queue.put(pcm, timeout=0.5)
                    return
                except queue.Full:
                    continue

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, then close the pipe (and stop teeing)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)

    def _open(self) -> int:
        # O_RDWR, not O_WRONLY: snapserver (pipe source, mode=create) holds its end open only
        # while a writer exists and otherwise reopens it now and then, so a write-only open
        # would block until then (or fail with ENXIO if non-blocking). Linux opens a FIFO
        # read-write at once; snapserver then finds our data whenever it next looks.
        try:
            fd = os.open(self.fifo, os.O_RDWR)
        except OSError as exc:
            raise LiveError(f"cannot open stream pipe {self.fifo}: {exc}") from exc
        if self.pipe_bytes is not None:
            # A 64 KiB pipe holds 340 ms of audio, all of it added latency for a microphone.
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, self.pipe_bytes)
        return fd

    def _stale(self, fd: int) -> bool:
        # A restarted snapserver makes a new FIFO at the same path: ours would then be a
        # pipe nobody reads.
        try:
            return self.fifo.stat().st_ino != os.fstat(fd).st_ino
        except OSError:
            return False

    def _run(self) -> None:
        fd: int | None = None
        try:
            while True:
                chunk = self._queue.get()
                if chunk is None:
                    return
                if fd is None or self._stale(fd):
                    if fd is not None:
                        os.close(fd)
                    fd = self._open()
                if not select.select([], [fd], [], 2.0)[1]:
                    # snapserver has not read for 2 s: drop rather than hang (it is gone or
                    # stuck; the engine's health check restarts it and we reopen)
                    self.dropped_chunks += 1
                    continue
                _write_all(fd, chunk)
                self.bytes_written += len(chunk)
                if self.recorder is not None:
                    self.recorder.write(chunk)
        except (OSError, LiveError) as exc:
            self.error = str(exc)
            log.error("live feed %s stopped: %s", self.fifo.name, exc)
            self._closed = True
        finally:
            if fd is not None:
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
