"""What several benchmarks start: the server's media endpoint under uvicorn, CPU and load readings.

`MediaServerProcess` runs the real app (`create_app(..., background=False)`: HTTP only, no
broker, bus or planner) under uvicorn in a child process on a free port with a temporary data
directory, so its CPU time can be read apart from the benchmark's own. Linux only (/proc).

    python bench/harness.py serve --data-dir DIR --port N     # what the child runs
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices import protocol  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nobody listens on right now (bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def load_average() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them (this machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


class MediaServerProcess:
    """The server's app under uvicorn in a child process, serving files put in its media store."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def put(self, data: bytes, *, ext: str = "mp3", duration_ms: int = 60_000) -> protocol.Media:
        """Store `data` in the media store; the `Media` an item would carry for it."""
        sha = hashlib.sha256(data).hexdigest()
        media_dir = self.data_dir / "media"
        media_dir.mkdir(parents=True, exist_ok=True)
        (media_dir / f"{sha}.{ext}").write_bytes(data)
        return protocol.Media(
            url=f"{self.url}/media/{sha}.{ext}",
            sha256=sha,
            bytes=len(data),
            duration_ms=duration_ms,
        )

    def __enter__(self) -> MediaServerProcess:
        cmd = [sys.executable, __file__, "serve", "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen([*cmd, "--port", str(self.port)])
        deadline = time.monotonic() + 120  # importing the app takes long on a loaded box
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"media server exited with status {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise SystemExit("media server did not answer /healthz within 120 s")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far."""
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _serve(data_dir: Path, port: int) -> None:
    import uvicorn

    from pa_server.app import create_app
    from pa_server.config import Settings

    settings = Settings(data_dir=data_dir, port=port)
    app = create_app(settings, background=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("serve",))
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _serve(args.data_dir, args.port)
