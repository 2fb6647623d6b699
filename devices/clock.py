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

import httpx

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


def measure_offset(client: httpx.Client, url: str, clock: Clock) -> float:
    """Server clock minus ours, in seconds, from the HTTP `Date` header of `url`.

    `Date` has whole seconds: the server's true instant lies in [Date, Date + 1 s), so the
    midpoint is taken, and compared with the midpoint of our request's round trip. The
    result is good to about ±0.5 s plus half the round trip: enough to catch a wrong clock,
    not to correct one (NTP does that).
    """
    t0 = clock.monotonic()
    sent = clock.now()
    resp = client.head(url)
    rtt = clock.monotonic() - t0
    header = resp.headers.get("date")
    if not header:
        raise ValueError(f"{url} sent no Date header")
    server = email.utils.parsedate_to_datetime(header)
    if server.tzinfo is None:
        server = server.replace(tzinfo=UTC)
    ours = sent + timedelta(seconds=rtt / 2)
    return (server + timedelta(seconds=0.5) - ours).total_seconds()


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

    @property
    def synced(self) -> bool:
        return self.measured_ok or bool(self.kernel)


class ClockWatch:
    """Measures the offset now and then and keeps `status` current."""

    def __init__(
        self,
        *,
        clock: Clock,
        client: httpx.Client,
        url: str,
        max_offset_s: float,
        kernel_check: Callable[[], bool | None] = kernel_synced,
        memory: Path | None = None,
        boot: Callable[[], str | None] = boot_id,
    ) -> None:
        self.clock = clock
        self.client = client
        self.url = url
        self.max_offset_s = max_offset_s
        self.kernel_check = kernel_check
        self.memory = memory
        self.boot = boot()
        self.status = ClockStatus(kernel=kernel_check())
        if memory is not None:
            ok, offset = carried_verdict(
                read_json(memory), boot=self.boot, monotonic=clock.monotonic()
            )
            self.status.measured_ok, self.status.offset_ms = ok, offset

    def check(self) -> ClockStatus:
        """Measure once; a failed measurement keeps the last good verdict."""
        self.status.kernel = self.kernel_check()
        try:
            offset = measure_offset(self.client, self.url, self.clock)
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            log.info("clock offset measurement against %s failed: %s", self.url, exc)
            return self.status
        self.status.offset_ms = round(offset * 1000)
        ok = abs(offset) <= self.max_offset_s
        if not ok:
            log.warning("clock is %.1f s off the server's: not trusted", offset)
        self.status.measured_ok = ok
        if self.memory is not None and self.boot is not None:
            verdict = {"boot_id": self.boot, "monotonic": self.clock.monotonic(), "ok": ok}
            atomic_write_json(self.memory, {**verdict, "offset_ms": self.status.offset_ms})
        return self.status
