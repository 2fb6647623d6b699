"""Where a live stream's sound comes from: a relayed radio (ffmpeg) or a microphone (pushed).

A source is started with a `PcmSink` (48 kHz s16le stereo) and an `on_end(outcome, detail)`
callback, called once: `"finished"` (it ended as it should) or `"failed"` (it died and could
not be brought back). `stop()` ends it from outside and calls nothing.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from audio.encode import find_ffmpeg
from pa_server.live.errors import BadAudio, LiveUnavailable
from pa_server.live.feed import FRAME_BYTES, PcmSink
from pa_server.live.relay_guard import (
    FORMAT_WHITELIST,
    PROTOCOL_WHITELIST,
    RelayGuard,
    RelayRefused,
)
from pa_server.live.snapserver import CHANNELS, SAMPLE_RATE

log = logging.getLogger(__name__)

Outcome = Literal["finished", "failed"]
OnEnd = Callable[[Outcome, str | None], None]

#: 20 ms of stream PCM: the size of the reads from ffmpeg.
CHUNK_BYTES = SAMPLE_RATE // 50 * FRAME_BYTES


class Source(Protocol):
    """What a live session plays."""

    kind: str

    def describe(self) -> str:
        """A one-line description for logs and the recording's metadata."""
        ...

    def start(self, sink: PcmSink, on_end: OnEnd) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """How hard a relay tries before it gives up."""

    #: No sound from ffmpeg for this long: it is killed and the source reconnected.
    stall_s: float = 10.0
    #: Back-off between reconnects: first, doubled each time, capped.
    backoff_s: float = 1.0
    backoff_max_s: float = 15.0
    #: Give up (outcome "failed") after this long without sound, or this many failed tries
    #: in a row (a try that delivered `healthy_s` of sound resets the count).
    give_up_s: float = 45.0
    max_attempts: int = 8
    healthy_s: float = 10.0
    #: Network timeout passed to ffmpeg for connecting and reading.
    io_timeout_s: float = 10.0


class RelaySource:
    """An internet radio (MP3/AAC over HTTP, Icecast, HLS) decoded by ffmpeg, supervised."""

    kind = "relay"

    def __init__(
        self,
        url: str,
        *,
        guard: RelayGuard | None = None,
        policy: RelayPolicy | None = None,
        ffmpeg: str | None = None,
    ) -> None:
        #: Checked here and before every ffmpeg (re)connect: a name may resolve elsewhere later.
        self.guard = guard or RelayGuard()
        self.url = self.guard.check(url)
        self.policy = policy or RelayPolicy()
        exe = ffmpeg or find_ffmpeg()
        if exe is None:
            raise LiveUnavailable(
                "relaying needs ffmpeg (apt-get install ffmpeg, or pip install imageio-ffmpeg)",
                "Tiếp sóng cần ffmpeg. Cài bằng lệnh: sudo apt-get install ffmpeg",
            )
        self.ffmpeg = exe
        self.attempts = 0  # ffmpeg processes started, in all
        self.reconnects = 0
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def describe(self) -> str:
        return f"relay {self.url}"

    def command(self) -> list[str]:
        """The ffmpeg command line: URL in, 48 kHz s16le stereo on stdout."""
        timeout_us = str(int(self.policy.io_timeout_s * 1_000_000))
        return [
            self.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
            "-rw_timeout", timeout_us,
            # What the URL cannot show (an HLS playlist's segments and keys, a redirect, a
            # concat list) may open only network protocols and audio formats.
            "-protocol_whitelist", PROTOCOL_WHITELIST,
            "-format_whitelist", FORMAT_WHITELIST,
            "-i", self.url,
            "-vn", "-acodec", "pcm_s16le",
            "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS), "pipe:1",
        ]  # fmt: skip

    def start(self, sink: PcmSink, on_end: OnEnd) -> None:
        self._thread = threading.Thread(
            target=self._supervise, args=(sink, on_end), name="live-relay", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kill()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _kill(self) -> None:
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def _supervise(self, sink: PcmSink, on_end: OnEnd) -> None:
        p = self.policy
        failures = 0
        last_sound = time.monotonic()
        delay = p.backoff_s
        detail = "no sound"
        while not self._stop.is_set():
            try:
                self.guard.check(self.url)
            except RelayRefused as exc:
                log.error("relay %s refused before connecting: %s", self.url, exc)
                on_end("failed", f"relay source refused: {exc}")
                return
            started = time.monotonic()
            got, detail = self._run_once(sink)
            if self._stop.is_set():
                return
            now = time.monotonic()
            if got >= p.healthy_s:
                failures, delay = 0, p.backoff_s
            if got > 0:
                last_sound = now
            failures += 1
            silent_for = now - last_sound
            log.warning(
                "relay %s dropped after %.1f s of sound (%s); try %d, silent for %.1f s",
                self.url,
                got,
                detail,
                failures,
                silent_for,
            )
            if failures >= p.max_attempts or silent_for + delay > p.give_up_s:
                on_end("failed", f"relay source dead: {detail}")
                return
            self.reconnects += 1
            # back off from the start of the try, so a try that hung for a while does not
            # also wait the full delay
            if self._stop.wait(max(0.0, delay - (now - started) if got == 0 else delay)):
                return
            delay = min(delay * 2, p.backoff_max_s)

    def _run_once(self, sink: PcmSink) -> tuple[float, str]:
        """Run ffmpeg once; (seconds of sound it delivered, why it ended)."""
        try:
            proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            return 0.0, f"ffmpeg would not start: {exc}"
        with self._lock:
            self._proc = proc
        self.attempts += 1
        assert proc.stdout is not None and proc.stderr is not None
        stderr_tail: list[bytes] = []
        err_reader = threading.Thread(
            target=_drain, args=(proc.stderr, stderr_tail), name="live-relay-err", daemon=True
        )
        err_reader.start()
        last_data = [time.monotonic()]
        stalled = threading.Event()
        watchdog = threading.Thread(
            target=self._watch,
            args=(proc, last_data, stalled),
            name="live-relay-watch",
            daemon=True,
        )
        watchdog.start()
        delivered = 0
        carry = b""
        try:
            while True:
                data = proc.stdout.read1(CHUNK_BYTES)  # type: ignore[attr-defined]
                if not data:
                    break
                last_data[0] = time.monotonic()
                data = carry + data
                cut = len(data) - len(data) % FRAME_BYTES
                carry = data[cut:]
                if cut:
                    sink.write(data[:cut])
                    delivered += cut
        finally:
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
            err_reader.join(timeout=2)
            with self._lock:
                self._proc = None
        seconds = delivered / (SAMPLE_RATE * FRAME_BYTES)
        err = b"".join(stderr_tail).decode(errors="replace").strip().splitlines()
        if stalled.is_set():
            why = f"no sound for {self.policy.stall_s:g} s"
        elif err:
            why = err[-1][:300]
        else:
            why = f"stream ended (ffmpeg exit {code})"
        return seconds, why

    def _watch(
        self, proc: subprocess.Popen[bytes], last_data: list[float], stalled: threading.Event
    ) -> None:
        while proc.poll() is None and not self._stop.is_set():
            if time.monotonic() - last_data[0] >= self.policy.stall_s:
                log.warning("relay %s stalled: killing ffmpeg", self.url)
                stalled.set()  # before the kill: the reader may see the end at once
                proc.kill()
                return
            time.sleep(0.2)


def _drain(stream: object, tail: list[bytes]) -> None:
    read = getattr(stream, "read1", None)
    if read is None:
        return
    with contextlib.suppress(OSError, ValueError):
        while chunk := read(4096):
            tail.append(chunk)
            del tail[:-8]


#: Sample rates a browser microphone may send (AudioContext rates).
MIC_RATES = frozenset({8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000})


class MicSource:
    """A microphone whose PCM chunks are pushed in (s16le, mono or stereo, at `rate`)."""

    kind = "mic"

    def __init__(self, *, rate: int = 48_000, channels: int = 1, label: str = "") -> None:
        if rate not in MIC_RATES:
            raise BadAudio(f"unsupported microphone rate {rate} (one of {sorted(MIC_RATES)})")
        if channels not in (1, 2):
            raise BadAudio(f"unsupported channel count {channels}")
        self.rate = rate
        self.channels = channels
        self.label = label
        self.frames_in = 0
        self._sink: PcmSink | None = None
        self._on_end: OnEnd | None = None
        self._ended = False
        self._pos = 0.0  # resampling phase carried across chunks

    def describe(self) -> str:
        return f"microphone {self.label}".strip()

    def start(self, sink: PcmSink, on_end: OnEnd) -> None:
        self._sink = sink
        self._on_end = on_end

    def push(self, chunk: bytes) -> None:
        """Send one chunk to the stream; non-blocking, so an async route may call it."""
        if self._sink is None or self._ended:
            return
        width = 2 * self.channels
        if len(chunk) % width:
            raise BadAudio(f"{len(chunk)} bytes: not whole {self.channels}-channel s16 frames")
        if not chunk:
            return
        x = np.frombuffer(chunk, dtype="<i2").reshape(-1, self.channels)
        self.frames_in += x.shape[0]
        mono = x.mean(axis=1) if self.channels == 2 else x[:, 0].astype(np.float64)
        if self.rate != SAMPLE_RATE:
            mono = self._resample(mono)
        out = np.clip(np.round(mono), -32768, 32767).astype("<i2")
        self._sink.write(np.repeat(out, CHANNELS).tobytes())

    def _resample(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # Linear interpolation with the phase carried over: good enough for speech into a
        # horn loudspeaker, and no chunk-boundary clicks.
        step = self.rate / SAMPLE_RATE
        positions = np.arange(self._pos, x.shape[0] - 1 + 1e-9, step)
        if positions.size == 0:
            self._pos -= x.shape[0]
            return np.zeros(0)
        y: npt.NDArray[np.float64] = np.interp(positions, np.arange(x.shape[0]), x)
        self._pos = positions[-1] + step - x.shape[0]
        return y

    def end(self) -> None:
        """The operator let go for good (or the browser closed): outcome "finished"."""
        if self._ended:
            return
        self._ended = True
        if self._on_end is not None:
            self._on_end("finished", None)

    def stop(self) -> None:
        self._ended = True


class SilentRelay:
    """A relay for tests (with `FakeLiveEngine`): checks its URL, connects to nothing."""

    kind = "relay"

    def __init__(self, url: str, *, guard: RelayGuard | None = None) -> None:
        self.url = (guard or RelayGuard()).check(url)
        self.started = False

    def describe(self) -> str:
        return f"relay {self.url}"

    def start(self, sink: PcmSink, on_end: OnEnd) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False


@dataclass
class _MicEntry:
    mic: MicSource
    token: str
    claimed: bool = False


class MicRegistry:
    """Microphone sources waiting for (or fed by) an operator's browser, by session id.

    Starting a microphone session registers its `MicSource` here and gets a one-time token
    for the operator's page; the WebSocket route hands the token back to claim the source.
    A token, not the page cookie: a WebSocket has no CSRF protection, and a page of another
    site could open one with the operator's cookie — it cannot know the token.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mics: dict[str, _MicEntry] = {}

    def register(self, session_id: str, mic: MicSource) -> str:
        """Make `mic` claimable for `session_id`; returns the token the page must send."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._mics[session_id] = _MicEntry(mic, token)
        return token

    def reissue(self, session_id: str) -> str:
        """A new token for a registered session (the operator's page reloaded); KeyError."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._mics[session_id].token = token
        return token

    def claim(self, session_id: str, token: str) -> MicSource:
        """The source, for one connection at a time; PermissionError for a wrong token."""
        with self._lock:
            entry = self._mics.get(session_id)
            if entry is None or not hmac.compare_digest(entry.token, token):
                raise PermissionError("unknown live session or wrong microphone token")
            if entry.claimed:
                raise PermissionError("this session's microphone is already connected")
            entry.claimed = True
            return entry.mic

    def release(self, session_id: str) -> None:
        """The connection closed: the source may be claimed again (a page reload)."""
        with self._lock:
            entry = self._mics.get(session_id)
            if entry is not None:
                entry.claimed = False

    def forget(self, session_id: str) -> None:
        """The session ended."""
        with self._lock:
            self._mics.pop(session_id, None)
