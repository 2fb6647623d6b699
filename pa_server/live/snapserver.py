"""Our own snapserver as a child process: config in a private directory, loopback control.

The pool of pipe sources is fixed in the config (snapserver 0.26 has no `Stream.AddStream`:
measured, it answers "Method not found"), so a session takes a free stream of the pool
(`live-1` … `live-N`) instead of creating one. The extra `idle` stream is first, so it is the
one a newly connected client lands on, and nothing ever writes into it: a client that is not
assigned to a session hears silence.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pa_server.live.errors import INSTALL_COMMAND, LiveUnavailable

log = logging.getLogger(__name__)

IDLE_STREAM = "idle"
#: The one PCM format of every stream: what snapserver reads from each pipe.
SAMPLE_RATE = 48_000
CHANNELS = 2
SAMPLE_FORMAT = f"{SAMPLE_RATE}:16:{CHANNELS}"


def stream_names(count: int) -> list[str]:
    """The names of the session streams of a pool of `count`."""
    return [f"live-{n}" for n in range(1, count + 1)]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class SnapserverConfig:
    """Everything that shapes a managed snapserver's config file."""

    workdir: Path
    stream_port: int
    control_port: int
    streams: int = 4
    stream_bind: str = "127.0.0.1"
    buffer_ms: int = 1000
    opus_bitrate: int = 64_000
    chunk_ms: int = 20

    def __post_init__(self) -> None:
        # `pipe://` + a relative path reads as a host name ("pipe://var/live/…" is the pipe
        # /live/… on host "var"): `make run`'s default data dir, `var`, is relative.
        object.__setattr__(self, "workdir", self.workdir.resolve())

    @property
    def fifo_dir(self) -> Path:
        return self.workdir / "fifo"

    def fifo(self, stream: str) -> Path:
        """The pipe a stream reads from."""
        return self.fifo_dir / stream

    def render(self) -> str:
        """The snapserver.conf text."""
        sources = [
            f"source = pipe://{self.fifo(name)}?name={name}&mode=create"
            for name in [IDLE_STREAM, *stream_names(self.streams)]
        ]
        # Opus at a speech-and-music bitrate: 64 kb/s instead of snapserver's 192 kb/s default,
        # since every loudspeaker receives its own copy (docs/live.md: bandwidth).
        lines = [
            "[server]",
            f"datadir = {self.workdir / 'data'}",
            "threads = 2",
            "[http]",
            # The HTTP/WebSocket JSON-RPC has no authentication either: off.
            "enabled = false",
            "[tcp]",
            "enabled = true",
            "bind_to_address = 127.0.0.1",
            f"port = {self.control_port}",
            "[stream]",
            f"bind_to_address = {self.stream_bind}",
            f"port = {self.stream_port}",
            *sources,
            f"sampleformat = {SAMPLE_FORMAT}",
            f"codec = opus:BITRATE:{self.opus_bitrate},COMPLEXITY:5",
            f"chunk_ms = {self.chunk_ms}",
            f"buffer = {self.buffer_ms}",
            "send_to_muted = false",
            "[logging]",
            "sink = stderr",
            "filter = *:notice",
        ]
        return "\n".join(lines) + "\n"


def find_snapserver(binary: str = "snapserver") -> str:
    """The snapserver executable's path, or LiveUnavailable saying how to install it."""
    found = shutil.which(binary)
    if found is None:
        raise LiveUnavailable(
            f"{binary} not found on PATH: install it ({INSTALL_COMMAND})",
            f"Chưa cài Snapcast nên chưa phát trực tiếp được. Cài bằng lệnh: {INSTALL_COMMAND}",
        )
    return found


class Snapserver:
    """A snapserver child process on a private work directory; a context manager."""

    def __init__(self, config: SnapserverConfig, binary: str = "snapserver") -> None:
        self.config = config
        self.binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = config.workdir / "snapserver.log"
        self.pid_path = config.workdir / "snapserver.pid"

    def __enter__(self) -> Snapserver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the child process lives."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, ready_timeout_s: float = 10.0) -> None:
        """Write the config and start snapserver; return once its control port answers."""
        exe = find_snapserver(self.binary)
        cfg = self.config
        self._end_orphan()
        if _port_taken(cfg.stream_bind, cfg.stream_port):
            # most often Debian's own snapserver service, started by `apt-get install`
            raise LiveUnavailable(
                f"port {cfg.stream_port} on {cfg.stream_bind} is in use (the system's "
                "snapserver service? `systemctl disable --now snapserver`), or set "
                "PA_SNAPSERVER_STREAM_PORT",
                f"Cổng {cfg.stream_port} của Snapcast đang bận (thường do dịch vụ snapserver "
                "của hệ thống). Tắt nó bằng lệnh: sudo systemctl disable --now snapserver",
            )
        # 0700: snapserver makes its FIFOs world-writable (0666); a private directory keeps
        # other local users from writing sound into a live stream.
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        cfg.workdir.chmod(0o700)
        cfg.fifo_dir.mkdir(mode=0o700, exist_ok=True)
        data = cfg.workdir / "data"
        # A fresh datadir each start: no group layout survives from an earlier run.
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(mode=0o700)
        conf = cfg.workdir / "snapserver.conf"
        conf.write_text(cfg.render(), "utf-8")
        logf = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [exe, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in our terminal is ours to forward
            )
        finally:
            logf.close()
        self.pid_path.write_text(str(self._proc.pid), "ascii")
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self._proc = None
                raise LiveUnavailable(
                    f"snapserver exited at start: {tail}",
                    "Máy chủ Snapcast không khởi động được; xem nhật ký máy chủ.",
                )
            if _answers("127.0.0.1", cfg.control_port) and all(
                cfg.fifo(name).exists() for name in [IDLE_STREAM, *stream_names(cfg.streams)]
            ):
                log.info(
                    "snapserver pid %s: audio on %s:%s, control on 127.0.0.1:%s",
                    self._proc.pid,
                    cfg.stream_bind,
                    cfg.stream_port,
                    cfg.control_port,
                )
                return
            time.sleep(0.05)
        self.stop()
        raise LiveUnavailable(
            f"snapserver did not answer on 127.0.0.1:{cfg.control_port} in {ready_timeout_s} s",
            "Máy chủ Snapcast không trả lời; xem nhật ký máy chủ.",
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the child (then kill it if it lingers)."""
        proc, self._proc = self._proc, None
        self.pid_path.unlink(missing_ok=True)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)

    def _end_orphan(self) -> None:
        """Stop a snapserver an earlier, killed pa-server left running on this directory.

        Ours run in a session of their own (a Ctrl-C is for pa-server to forward), so one
        survives a SIGKILL of its parent and would hold the audio port. Only a process whose
        command line names our config file is touched.
        """
        try:
            pid = int(self.pid_path.read_text("ascii").strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if str(self.config.workdir / "snapserver.conf").encode() not in cmdline:
            return
        log.warning("stopping snapserver pid %s left over from an earlier run", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):  # 5 s
            if _zombie(pid):  # gone, or dead and waiting for its parent
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of snapserver's log, for error messages."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text("utf-8", errors="replace")
            return " | ".join(text.strip().splitlines()[-lines:])
        return ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) and return it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path
