"""Shared by the live-audio tests and bench/live.py: real snapserver/snapclient helpers.

Snapcast missing: the tests FAIL when `PA_REQUIRE_SNAPCAST=1` (set by `.ci/run`), and are
skipped otherwise (a developer machine without `apt-get install snapserver snapclient`).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from audio.encode import find_ffmpeg
from pa_server.live.relay_guard import RelayGuard, parse_networks

RATE = 48_000
#: The test radios (`AudioHttpServer`) listen on loopback, which a relay refuses unless the
#: district lists it (`PA_RELAY_ALLOWED_NETWORKS`): the tests list it, as a LAN Icecast would be.
LOCAL_NETWORKS = "127.0.0.0/8"
LOCAL_RADIO = RelayGuard(parse_networks(LOCAL_NETWORKS))


def require_snapcast() -> None:
    """Skip (or, under PA_REQUIRE_SNAPCAST=1, fail) unless snapserver and snapclient exist."""
    missing = [b for b in ("snapserver", "snapclient") if shutil.which(b) is None]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed (apt-get install snapserver snapclient)"
    if os.environ.get("PA_REQUIRE_SNAPCAST") == "1":
        pytest.fail(f"Snapcast tests required (PA_REQUIRE_SNAPCAST=1) but {reason}")
    pytest.skip(reason)


def require_ffmpeg() -> None:
    """Skip (or, under PA_REQUIRE_SNAPCAST=1, fail) unless ffmpeg is found (relays need it)."""
    if find_ffmpeg() is not None:
        return
    reason = "no ffmpeg (apt-get install ffmpeg, or pip install imageio-ffmpeg)"
    if os.environ.get("PA_REQUIRE_SNAPCAST") == "1":
        pytest.fail(f"live tests required (PA_REQUIRE_SNAPCAST=1) but {reason}")
    pytest.skip(reason)


def tone(freq: float, seconds: float, rate: int = RATE, amp: float = 0.5) -> npt.NDArray[np.int16]:
    """A mono sine as int16."""
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * math.pi * freq * t) * amp * 32767).astype(np.int16)


def stereo_bytes(mono: npt.NDArray[np.int16]) -> bytes:
    """Mono int16 → interleaved stereo s16le bytes."""
    return np.repeat(mono.astype("<i2"), 2).tobytes()


def wav_bytes(mono: npt.NDArray[np.int16], rate: int = RATE) -> bytes:
    """A mono 16-bit WAV file."""
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(mono.astype("<i2").tobytes())
    return buf.getvalue()


def read_mono(path: Path) -> npt.NDArray[np.float64]:
    """A snapclient file-player output (48 kHz s16 stereo) as mono floats in [-1, 1)."""
    if not path.exists():
        return np.zeros(0)
    raw = path.read_bytes()
    raw = raw[: len(raw) - len(raw) % 4]
    x = np.frombuffer(raw, dtype="<i2").reshape(-1, 2).astype(np.float64)
    return x.mean(axis=1) / 32768.0


def band_energy(x: npt.NDArray[np.float64], freq: float, rate: int = RATE) -> float:
    """Fraction of the signal's energy within ±20 Hz of `freq` (0 for silence)."""
    if x.size < rate // 10:
        return 0.0
    spec = np.abs(np.fft.rfft(x)) ** 2
    total = float(spec.sum())
    if total < 1e-3:
        return 0.0
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    return float(spec[(freqs > freq - 20) & (freqs < freq + 20)].sum() / total)


def loud_seconds(x: npt.NDArray[np.float64], rate: int = RATE, floor: float = 0.05) -> float:
    """How many seconds of `x` are above `floor` in 10-ms RMS windows."""
    n = x.size // (rate // 100)
    if n == 0:
        return 0.0
    frames = x[: n * (rate // 100)].reshape(n, -1)
    rms = np.sqrt((frames**2).mean(axis=1))
    return float((rms > floor).sum() / 100)


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `check` until true or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(step)
    return check()


class AudioHttpServer:
    """A local HTTP server handing out `body` (e.g. a WAV) at /stream; counts requests.

    `plan` gives, per request number (0-based), how many bytes of `body` to send before
    hanging up (None = all), or -1 for a 404 — to play a radio that drops or dies —, or
    `(n, "hang")`: send n bytes, then keep the connection open and silent (a stalled radio).
    """

    def __init__(
        self,
        body: bytes,
        content_type: str = "audio/wav",
        plan: Callable[[int], int | tuple[int, str] | None] | None = None,
    ) -> None:
        self.body = body
        self.requests = 0
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                n = outer.requests
                outer.requests += 1
                cut = plan(n) if plan is not None else None
                hang = isinstance(cut, tuple)
                if isinstance(cut, tuple):
                    cut = cut[0]
                if cut == -1 or self.path != "/stream":
                    self.send_error(404)
                    return
                data = outer.body if cut is None else outer.body[:cut]
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(data)
                    self.wfile.flush()
                if hang:
                    outer.closing.wait(60)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> AudioHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
