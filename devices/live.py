"""The agent's side of live audio: `snapclient` run only while a signed live item is due.

`LiveClient` is what the agent calls: `start(target)` when a live item becomes due, `stop()`
at its `until`, on `stop` or when something of higher priority starts. `SnapclientRunner`
runs the real `snapclient` (host id = device id, so the server's group assignment finds it);
`FakeLiveClient` records calls for tests. Which stream a client plays is decided on the server
(its group's stream), never by the client: the runner only connects.

The runner also watches: a snapclient that exits is restarted (with back-off) while it should
run, and `on_state` hears "playing" / "disconnected" as snapclient reports them, so the agent
switches the amplifier off within seconds of a network drop and on again when the client has
rejoined by itself (snapclient retries every second).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Literal, Protocol

from devices.clock import Clock
from devices.errors import PlayerError
from devices.protocol import Item

log = logging.getLogger(__name__)

LiveState = Literal["stopped", "connecting", "playing", "disconnected"]
OnState = Callable[[LiveState], None]

#: snapclient log lines (0.26, `--logfilter *:info`) that mean the stream is flowing …
_PLAYING_MARKS = ("(Controller) Codec:",)
#: … and those that mean the connection to the server is gone. Not "(Player) Stop": the
#: player also restarts when the server moves the client to another stream.
_LOST_MARKS = (
    "(Connection) Error",
    "(Connection) Failed to connect",
    "(Controller) Error",
)


@dataclass(frozen=True, slots=True)
class LiveTarget:
    """Where a live item's sound is: PROTOCOL v2 `live` (engine "snapcast")."""

    host: str
    port: int
    stream: str

    @classmethod
    def from_live(cls, live: dict[str, object]) -> LiveTarget:
        """From an item's `live` object; PlayerError for an engine we do not run."""
        if live.get("engine") != "snapcast":
            raise PlayerError(f"unsupported live engine {live.get('engine')!r}")
        host, port, stream = live.get("host"), live.get("port"), live.get("stream")
        if not isinstance(host, str) or not isinstance(port, int) or not isinstance(stream, str):
            raise PlayerError(f"malformed live target {live!r}")
        return cls(host, port, stream)


class LiveClient(Protocol):
    """What the agent drives for live items."""

    @property
    def state(self) -> LiveState: ...

    def start(self, target: LiveTarget) -> None:
        """Let the target's stream through (idempotent for the same target)."""
        ...

    def stop(self) -> None:
        """Silence: no stream audio leaves the device after this returns."""
        ...

    def close(self) -> None: ...


def player_args(kind: str, *, device: str | None = None, output: Path | None = None) -> list[str]:
    """snapclient's output options for the agent's player kinds (alsa / file / null)."""
    if kind == "alsa":
        return ["--player", "alsa", *(["--soundcard", device] if device else [])]
    if kind == "file":
        if output is None:
            raise PlayerError("the file player needs an output path")
        # mode=a: snapclient reopens its player on every stream change; "w" would truncate
        return ["--player", f"file:filename={output},mode=a"]
    if kind == "null":
        return ["--player", "file:filename=null"]
    raise PlayerError(f"unknown player kind {kind!r}")


class SnapclientRunner:
    """One `snapclient` child process for this device, restarted while it should run."""

    def __init__(
        self,
        device_id: str,
        player: list[str],
        *,
        binary: str = "snapclient",
        latency_ms: int = 0,
        on_state: OnState | None = None,
        restart_backoff_s: float = 1.0,
        restart_backoff_max_s: float = 10.0,
    ) -> None:
        self.device_id = device_id
        self.player = list(player)
        self.binary = binary
        self.latency_ms = latency_ms
        self.on_state = on_state
        self.restart_backoff_s = restart_backoff_s
        self.restart_backoff_max_s = restart_backoff_max_s
        self.restarts = 0
        self._state: LiveState = "stopped"
        self._target: LiveTarget | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._want = threading.Event()
        self._watch: threading.Thread | None = None

    @property
    def state(self) -> LiveState:
        return self._state

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def command(self, target: LiveTarget) -> list[str]:
        """The snapclient command line for `target`."""
        return [
            self.binary, "--host", target.host, "--port", str(target.port),
            "--hostID", self.device_id, "--instance", "1",
            "--latency", str(self.latency_ms), *self.player,
            "--logsink", "stderr", "--logfilter", "*:info",
        ]  # fmt: skip

    def start(self, target: LiveTarget) -> None:
        """Run snapclient for `target` (restarting it if another target ran)."""
        if shutil.which(self.binary) is None:
            raise PlayerError(f"{self.binary} is not installed (apt-get install snapclient)")
        with self._lock:
            if self._target == target and self._want.is_set():
                return
            self._stop_proc()
            self._target = target
            self._want.set()
            self._spawn()
            if self._watch is None or not self._watch.is_alive():
                self._watch = threading.Thread(
                    target=self._watchdog, name=f"snapclient-{self.device_id}", daemon=True
                )
                self._watch.start()

    def stop(self) -> None:
        """Kill snapclient now (SIGKILL after a short grace): silence is immediate."""
        with self._lock:
            self._want.clear()
            self._target = None
            self._stop_proc()
        self._set_state("stopped")

    def close(self) -> None:
        self.stop()
        if self._watch is not None:
            self._watch.join(timeout=5)

    def _spawn(self) -> None:
        assert self._target is not None
        self._set_state("connecting")
        try:
            proc = subprocess.Popen(
                self.command(self._target),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise PlayerError(f"snapclient would not start: {exc}") from exc
        self._proc = proc
        assert proc.stderr is not None
        threading.Thread(
            target=self._read_log, args=(proc, proc.stderr), name="snapclient-log", daemon=True
        ).start()

    def _stop_proc(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(1.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)

    def _read_log(self, proc: subprocess.Popen[bytes], stream: IO[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in stream:
                if proc is not self._proc:
                    continue  # a process we already replaced or stopped
                line = raw.decode(errors="replace")
                if any(mark in line for mark in _PLAYING_MARKS):
                    self._set_state("playing")
                elif any(mark in line for mark in _LOST_MARKS):
                    self._set_state("disconnected")
                if "[Error]" in line:
                    log.info("snapclient: %s", line.strip())

    def _watchdog(self) -> None:
        delay = self.restart_backoff_s
        while self._want.is_set():
            time.sleep(0.2)
            with self._lock:
                proc = self._proc
                if not self._want.is_set():
                    return
                if proc is not None and proc.poll() is None:
                    continue
                code = proc.returncode if proc is not None else None
            log.warning("snapclient exited (%s); restarting in %.1f s", code, delay)
            self._set_state("disconnected")
            if self._sleep_wanted(delay):
                with self._lock:
                    if self._want.is_set() and (self._proc is None or self._proc is proc):
                        self.restarts += 1
                        self._spawn()
                delay = min(delay * 2, self.restart_backoff_max_s)

    def _sleep_wanted(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not self._want.is_set():
                return False
            time.sleep(0.05)
        return self._want.is_set()

    def _set_state(self, state: LiveState) -> None:
        if state == self._state:
            return
        self._state = state
        log.info("live client %s: %s", self.device_id, state)
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("live on_state callback failed")


class LivePlayback:
    """A live item let through (the scheduler's `Playback`): it ends at the item's `until` or
    when stopped, and stopping it stops the client. Its sound level is the server's affair."""

    def __init__(self, client: LiveClient, item: Item, clock: Clock) -> None:
        if item.live is None or item.until is None:
            raise PlayerError(f"item {item.occurrence_id} is not a live item")
        self.client = client
        self.until: datetime = item.until
        self.clock = clock
        self._stopped = threading.Event()
        #: Whether the client reported the stream playing at least once.
        self.reached = False
        self.target = LiveTarget.from_live(item.live.to_wire())
        client.start(self.target)
        self.started_at = clock.now()

    def follow(self, item: Item) -> None:
        """A newer copy of the item: its `until`, and its stream if that moved."""
        if item.live is None or item.until is None or self._stopped.is_set():
            return
        self.until = item.until
        target = LiveTarget.from_live(item.live.to_wire())
        if target != self.target:
            self.target = target
            self.client.start(target)

    def wait(self, timeout: float | None) -> bool:
        if self.client.state == "playing":
            self.reached = True
        left = (self.until - self.clock.now()).total_seconds()
        if self._stopped.is_set() or left <= 0:
            return True
        return self._stopped.wait(left if timeout is None else min(left, timeout)) or (
            self.until <= self.clock.now()
        )

    def stop(self) -> None:
        """Silence now (idempotent)."""
        self._stopped.set()
        self.client.stop()

    def set_volume(self, volume: int) -> None:
        pass  # the stream's level is set on the server (snapserver), not per agent


class FakeLiveClient:
    """A `LiveClient` that records what it was told (tests and the fleet simulator)."""

    def __init__(self, on_state: OnState | None = None) -> None:
        self.on_state = on_state
        self.calls: list[tuple[str, LiveTarget | None]] = []
        self._state: LiveState = "stopped"
        self.target: LiveTarget | None = None

    @property
    def state(self) -> LiveState:
        return self._state

    def start(self, target: LiveTarget) -> None:
        if self.target == target:
            return
        self.calls.append(("start", target))
        self.target = target
        self.set_state("playing")

    def stop(self) -> None:
        self.calls.append(("stop", None))
        self.target = None
        self.set_state("stopped")

    def close(self) -> None:
        if self.target is not None:
            self.stop()

    def set_state(self, state: LiveState) -> None:
        """Play a state change (e.g. "disconnected" for a network drop)."""
        self._state = state
        if self.on_state is not None:
            self.on_state(state)
