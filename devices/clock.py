"""Time for the agent: the wall/monotonic clock pair, the kernel's sync flag, the offset check.

A Raspberry Pi has no battery clock, so after a power cut without network its wall clock can
be hours off. The agent trusts its clock once the kernel says NTP synchronised it or once a
measurement against the server's HTTP `Date` came out close enough. That verdict is kept on
disk with the kernel's boot id: an agent restarted within the same boot (a crash, an upgrade)
while the network is down keeps it, since only a reboot loses the time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import email.utils
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from devices.errors import HttpError
from devices.http import Http
from devices.storage import atomic_write_json, read_json

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Where the agent reads time; tests pass a fake."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


def monotonic_at(clock: Clock, instant: datetime) -> float:
    """The monotonic reading at which the wall clock will show `instant` (computed once).

    The two clocks are read back to back; if the thread was descheduled between the reads
    (a busy machine, a GIL handover), the pair is read again, keeping the tightest one.
    """
    best = (float("inf"), 0.0)
    for _ in range(5):
        before = clock.now()
        mono = clock.monotonic()
        gap = (clock.now() - before).total_seconds()
        offset = (instant - before).total_seconds() - gap / 2
        if gap < best[0]:
            best = (gap, mono + offset)
        if gap < 0.0005:
            break
    return best[1]


def wait_until(clock: Clock, target: float, *, spin_s: float, cancel: threading.Event) -> bool:
    """Sleep until monotonic `target`: a coarse sleep, a fine sleep, then a short busy-wait.

    Returns False if `cancel` was set during the coarse part (more than 50 ms ahead); the last
    50 ms are never interrupted. `time.sleep` on Linux is a high-resolution `clock_nanosleep`;
    the busy-wait only absorbs its wake-up latency.
    """
    while True:
        left = target - clock.monotonic()
        if left <= spin_s:
            break
        if left > 0.05:
            if cancel.wait(left - 0.04):
                return False
        else:
            time.sleep(left - spin_s)
    while clock.monotonic() < target:
        pass
    return True


class _GcHold:
    """Keeps the cyclic garbage collector off while any thread waits for a start instant.

    A full collection of a large heap takes tens of milliseconds and holds the GIL: it must
    not fall on the instant. Process-wide, counted, since a simulated fleet shares the GC.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0

    def __enter__(self) -> None:
        with self._lock:
            self._holders += 1
            if self._holders == 1:
                self._was_enabled = gc.isenabled()
                gc.disable()

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._was_enabled:
                gc.enable()


gc_hold = _GcHold()


class _Timex(ctypes.Structure):
    _fields_ = [  # ctypes layout of Linux's struct timex
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("pad", ctypes.c_int * 11),
    ]


STA_UNSYNC = 0x0040
TIME_ERROR = 5


def kernel_synced() -> bool | None:
    """Linux `adjtimex`: True if NTP keeps the clock synchronised, None where unknown."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


#: Response header in which the server gives its time as epoch seconds with milliseconds.
SERVER_TIME_HEADER = "X-PA-Server-Time"
#: A `Date` header has whole seconds, and servers refresh it about once a second (uvicorn
#: does): it may lag the true instant by up to a second besides.
DATE_HEADER_ERROR_S = 1.0


@dataclass(frozen=True, slots=True)
class Measurement:
    """The server's clock minus ours, and the bound on the error of that figure."""

    offset_s: float
    error_s: float


def _sample(client: Http, url: str, clock: Clock) -> Measurement:
    t0 = clock.monotonic()
    sent = clock.now()
    resp = client.head(url)
    rtt = clock.monotonic() - t0
    ours = sent + timedelta(seconds=rtt / 2)
    precise = resp.headers.get(SERVER_TIME_HEADER.lower())
    if precise:
        server = datetime.fromtimestamp(float(precise), UTC)
        return Measurement((server - ours).total_seconds(), rtt / 2 + 0.001)
    header = resp.headers.get("date")
    if not header:
        raise ValueError(f"{url} sent neither {SERVER_TIME_HEADER} nor a Date header")
    server = email.utils.parsedate_to_datetime(header)
    if server.tzinfo is None:
        server = server.replace(tzinfo=UTC)
    # The true instant lies in [Date, Date + 1 s) (and later still if the header lags).
    offset = (server + timedelta(seconds=0.5) - ours).total_seconds()
    return Measurement(offset, DATE_HEADER_ERROR_S + rtt / 2)


def measure_offset(client: Http, url: str, clock: Clock, *, samples: int = 4) -> Measurement:
    """Server clock minus ours, from a HEAD of `url`: the best of `samples` round trips.

    The server's `X-PA-Server-Time` (milliseconds) gives the offset to within half the round
    trip, like one NTP exchange; the sample with the shortest round trip wins. A server that
    sends only `Date` gives it to about a second: enough to catch a wrong clock, not to
    correct one.
    """
    best = _sample(client, url, clock)
    for _ in range(samples - 1):
        if best.error_s >= DATE_HEADER_ERROR_S:
            break  # more Date samples do not narrow a whole-second figure
        sample = _sample(client, url, clock)
        if sample.error_s < best.error_s:
            best = sample
    return best


class SkewedClock:
    """A clock `skew_s` ahead of `base` (negative: behind). Simulation and tests only."""

    def __init__(self, base: Clock, skew_s: float) -> None:
        self.base = base
        self.skew = timedelta(seconds=skew_s)

    def now(self) -> datetime:
        return self.base.now() + self.skew

    def monotonic(self) -> float:
        return self.base.monotonic()


class CorrectedClock:
    """The time the agent plays by: `base` plus the correction measured against the server."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.correction = timedelta(0)

    def now(self) -> datetime:
        return self.base.now() + self.correction

    def monotonic(self) -> float:
        return self.base.monotonic()


def verdict(
    m: Measurement, kernel: bool | None, *, max_offset_s: float, max_error_s: float
) -> tuple[bool, float]:
    """(whether to trust the time, correction in seconds to add to the system clock).

    Loudspeakers of one zone must sound together, and every agent aims at the server's
    instants, so the server's clock is the reference. A clock within `max_offset_s` is
    kept as it is when NTP keeps it (NTP does better than one HTTP exchange), and corrected
    when NTP does not but the measurement is precise. A clock further off is corrected by
    the measured offset when the measurement is precise (error at most `max_error_s`):
    playing a broadcast minutes out of step with the neighbouring horns, or not at all, are
    both worse. A large offset measured imprecisely cannot be corrected: the agent holds.
    """
    precise = m.error_s <= max_error_s
    if abs(m.offset_s) <= max_offset_s:
        return True, (m.offset_s if precise and not kernel else 0.0)
    if precise:
        return True, m.offset_s
    return False, 0.0


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
#: A verdict carried across an agent restart is good for this long (a free-running clock
#: drifts by tens of ppm: a day is far from the default 2 s limit).
CARRY_MAX_S = 24 * 3600.0


def boot_id() -> str | None:
    """The kernel's id of this boot (changes at every reboot), None where unknown."""
    try:
        return BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def carried_verdict(
    saved: object, *, boot: str | None, monotonic: float
) -> tuple[bool, int | None]:
    """(ok, offset_ms) of a saved measurement still valid in this boot, else (False, None)."""
    if not isinstance(saved, dict) or boot is None or saved.get("boot_id") != boot:
        return False, None
    at, ok, offset = saved.get("monotonic"), saved.get("ok"), saved.get("offset_ms")
    if not isinstance(at, int | float) or not 0 <= monotonic - at <= CARRY_MAX_S:
        return False, None
    return ok is True, offset if isinstance(offset, int) else None


@dataclass(slots=True)
class ClockStatus:
    """What the agent knows about its clock."""

    offset_ms: int | None = None
    measured_ok: bool = False
    kernel: bool | None = None
    #: What is added to the system clock to get the server's time (0 unless corrected).
    correction_ms: int = 0

    @property
    def synced(self) -> bool:
        return self.measured_ok or (self.offset_ms is None and bool(self.kernel))


class ClockWatch:
    """Measures the offset now and then, keeps `status` current and corrects `corrected`."""

    def __init__(
        self,
        *,
        clock: Clock,
        client: Http,
        url: str,
        max_offset_s: float,
        max_error_s: float = 0.05,
        corrected: CorrectedClock | None = None,
        kernel_check: Callable[[], bool | None] = kernel_synced,
        memory: Path | None = None,
        boot: Callable[[], str | None] = boot_id,
    ) -> None:
        self.clock = clock
        self.client = client
        self.url = url
        self.max_offset_s = max_offset_s
        self.max_error_s = max_error_s
        self.corrected = corrected
        self.kernel_check = kernel_check
        self.memory = memory
        self.boot = boot()
        self.status = ClockStatus(kernel=kernel_check())
        if memory is not None:
            saved = read_json(memory)
            ok, offset = carried_verdict(saved, boot=self.boot, monotonic=clock.monotonic())
            self.status.measured_ok, self.status.offset_ms = ok, offset
            correction = saved.get("correction_ms") if ok and isinstance(saved, dict) else None
            if corrected is not None and isinstance(correction, int):
                # A clock corrected before the restart is played by the same correction.
                self.status.correction_ms = correction
                corrected.correction = timedelta(milliseconds=correction)

    def check(self) -> ClockStatus:
        """Measure once; a failed measurement keeps the last good verdict."""
        self.status.kernel = self.kernel_check()
        try:
            m = measure_offset(self.client, self.url, self.clock)
        except (HttpError, ValueError, TypeError, OverflowError) as exc:
            log.info("clock offset measurement against %s failed: %s", self.url, exc)
            return self.status
        trusted, correction = verdict(
            m, self.status.kernel, max_offset_s=self.max_offset_s, max_error_s=self.max_error_s
        )
        if self.corrected is None:
            correction = 0.0  # nothing to correct: trust only a clock that needs none
            trusted = trusted and abs(m.offset_s) <= self.max_offset_s
        else:
            self.corrected.correction = timedelta(seconds=correction)
        self.status.offset_ms = round(m.offset_s * 1000)
        self.status.correction_ms = round(correction * 1000)
        if abs(m.offset_s) > self.max_offset_s:
            log.warning(
                "clock is %.3f s off the server's (±%.3f s): %s",
                -m.offset_s,
                m.error_s,
                "playing by the server's time" if trusted else "not trusted, holding",
            )
        self.status.measured_ok = trusted
        if self.memory is not None and self.boot is not None:
            saved = {"boot_id": self.boot, "monotonic": self.clock.monotonic(), "ok": trusted}
            atomic_write_json(
                self.memory,
                {
                    **saved,
                    "offset_ms": self.status.offset_ms,
                    "correction_ms": self.status.correction_ms,
                },
            )
        return self.status
