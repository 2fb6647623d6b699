"""Live audio on Snapcast: microphone-to-loudspeaker latency, skew between N real snapclients.

    .venv/bin/python bench/live.py --clients 10 [--clicks 20] [--buffer-ms 1000]

Runs our managed snapserver (`pa_server.live`), N `snapclient --player file:filename=stdout`
processes on this machine, and a `MicSource` session fed in real time with a quiet 300-Hz tone
carrying one loud 4-kHz click per second. Each client's output is read as it is written; the
file player writes 50 ms of audio every 50 ms, the first sample of which is due 10 ms after
the write (its "DAC time"), so a click at sample j of chunk k is heard at
write_k + 10 ms + j / 48 kHz. Prints, per click: latency (heard − pushed into the source) and
skew (latest − earliest client); the start skew (first click) and the running skew (the
rest); dropouts (10-ms windows of silence inside the session); and the bytes a loudspeaker
received per second (one extra client behind a counting TCP relay). Baseline, same run: the
snapserver buffer, the floor of any latency.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pa_server.live.engine import SnapcastEngine
from pa_server.live.sources import MicSource

RATE = 48_000
CHUNK_BYTES = 9_600  # the file player's 50 ms of 48 kHz s16 stereo
CHUNK_S = 0.050
DAC_S = 0.010
CLICK_LEVEL = 0.5
SILENCE_RMS = 0.005


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Client:
    """One snapclient: its output file and the instants its chunks were written."""

    name: str
    out: Path
    chunk_times: dict[int, float] = field(default_factory=dict)
    clicks: list[int] = field(default_factory=list)  # sample index of each click onset
    quiet_windows: list[int] = field(default_factory=list)  # sample index of silent 10 ms

    def analyse(self) -> None:
        raw = self.out.read_bytes()
        raw = raw[: len(raw) - len(raw) % 4]
        x = np.frombuffer(raw, dtype="<i2").reshape(-1, 2)[:, 0] / 32768.0
        last = -RATE
        for i in np.flatnonzero(np.abs(x) > CLICK_LEVEL):
            if i - last > RATE // 4:  # one onset per click
                self.clicks.append(int(i))
            last = int(i)
        win = RATE // 100
        n = x.size // win
        rms = np.sqrt((x[: n * win].reshape(n, win) ** 2).mean(axis=1))
        self.quiet_windows = [int(w) * win for w in np.flatnonzero(rms < SILENCE_RMS)]

    def heard_at(self, sample: int) -> float | None:
        # chunk k holds the audio due from (its write instant + the DAC time) on; the write
        # instant is taken when the reader saw the chunk's first byte (late by its wake-up)
        k = sample * 4 // CHUNK_BYTES
        if k not in self.chunk_times:
            return None
        j = sample - k * CHUNK_BYTES // 4
        return self.chunk_times[k] + DAC_S + j / RATE


def read_outputs(
    fds: dict[str, int], outs: dict[str, Path], stop: Any, result: Any, nice: int
) -> None:
    """Child process: read every client's stdout, note when each 50-ms chunk began, save it.

    Apart from the engine's process, so reading 50 clients never takes the GIL from the
    microphone feed; it does nothing but read, timestamp and write.
    """
    if nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    sel = selectors.DefaultSelector()
    files = {name: outs[name].open("wb") for name in fds}
    totals = dict.fromkeys(fds, 0)
    times: dict[str, dict[int, float]] = {name: {} for name in fds}
    for name, fd in fds.items():
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, name)
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.1):
            now = time.monotonic()
            name = key.data
            try:
                data = os.read(key.fd, 1 << 16)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fd)
                continue
            start = totals[name]
            for k in range(-(-start // CHUNK_BYTES), (start + len(data) - 1) // CHUNK_BYTES + 1):
                times[name].setdefault(k, now)
            totals[name] += len(data)
            files[name].write(data)
    for f in files.values():
        f.close()
    result.put(times)


class CountingRelay:
    """A TCP relay in front of snapserver's audio port that counts the bytes sent down."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.down = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(conn, up, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, conn, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    self.down += len(data)
                dst.sendall(data)
        except OSError:
            pass


def signal_pcm(seconds: float, click_at: list[float]) -> np.ndarray:  # type: ignore[type-arg]
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.05 * np.sin(2 * math.pi * 300 * t)
    burst = int(0.003 * RATE)
    for c in click_at:
        i = int(c * RATE)
        x[i : i + burst] = 0.9 * np.sin(2 * math.pi * 4000 * np.arange(burst) / RATE)
    return (x * 32767).astype("<i2")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--buffer-ms", type=int, default=1000)
    ap.add_argument("--bitrate", type=int, default=64_000)
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run snapserver, the clients and the reader at this niceness (negative: root "
        "only), standing in for each loudspeaker having a CPU of its own on a shared machine",
    )
    args = ap.parse_args()

    load0 = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    engine = SnapcastEngine.managed(
        work, streams=1, buffer_ms=args.buffer_ms, opus_bitrate=args.bitrate
    )
    engine.start()
    if args.nice and engine.server is not None and engine.server.pid is not None:
        os.setpriority(os.PRIO_PROCESS, engine.server.pid, args.nice)
    relay = CountingRelay(("127.0.0.1", engine.stream_port))
    clients: list[Client] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(args.clients):
            proc = subprocess.Popen(
                ["snapclient", "--host", "127.0.0.1", "--port", str(engine.stream_port),
                 "--hostID", f"bench-{n}", "--player", "file:filename=stdout",
                 "--logsink", "null"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                preexec_fn=(lambda: os.setpriority(os.PRIO_PROCESS, 0, args.nice)),
            )  # fmt: skip
            assert proc.stdout is not None
            clients.append(Client(f"bench-{n}", work / f"bench-{n}.raw"))
            procs.append(proc)
        meter = subprocess.Popen(
            ["snapclient", "--host", "127.0.0.1", "--port", str(relay.port),
             "--hostID", "bench-meter", "--player", "file:filename=null", "--logsink", "null"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(meter)
        ids = [c.name for c in clients] + ["bench-meter"]
        deadline = time.monotonic() + 60
        while not set(ids) <= engine.control.status().connected:
            if time.monotonic() > deadline:
                print("not every client connected", file=sys.stderr)
                return 1
            time.sleep(0.2)

        ctx = multiprocessing.get_context("fork")
        stop = ctx.Event()
        result = ctx.Queue()
        fds = {c.name: p.stdout.fileno() for c, p in zip(clients, procs, strict=False) if p.stdout}
        reader = ctx.Process(
            target=read_outputs,
            args=(fds, {c.name: c.out for c in clients}, stop, result, args.nice),
        )
        reader.start()

        mic = MicSource(rate=RATE, channels=1, label="bench")
        session = engine.start_session(ids, mic, title="bench")
        while any(c.stream_id != session.stream for c in engine.control.status().clients.values()):
            time.sleep(0.05)
        lead = 1.0
        click_at = [lead + i for i in range(args.clicks)]
        total_s = lead + args.clicks + 0.5
        pcm = signal_pcm(total_s, click_at).tobytes()
        server_pid = engine.server.pid if engine.server is not None else None
        cpu0 = cpu_s(server_pid), [cpu_s(p.pid) for p in procs[: args.clients]]
        chunk = RATE // 50 * 2  # 20 ms mono
        pushed: list[float] = []
        t0 = time.monotonic()
        bytes0 = relay.down
        for n, i in enumerate(range(0, len(pcm), chunk)):
            pushed.append(time.monotonic())
            mic.push(pcm[i : i + chunk])
            time.sleep(max(0.0, t0 + (n + 1) * 0.02 - time.monotonic()))
        # the stream reaches the loudspeakers at the same rate it is pushed, one buffer later
        bytes1 = relay.down
        stream_s = time.monotonic() - t0
        cpu1 = cpu_s(server_pid), [cpu_s(p.pid) for p in procs[: args.clients]]
        time.sleep(args.buffer_ms / 1000 + 1.0)
        end = engine.stop_session(session.id)
        stop.set()
        times = result.get(timeout=60)
        reader.join()
        for c in clients:
            c.chunk_times = times[c.name]
            c.analyse()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:  # stuck writing to a pipe nobody reads now
                p.kill()
                p.wait(5)
        engine.close()

    click_push = [pushed[int(c / 0.02)] + (c - int(c / 0.02) * 0.02) for c in click_at]
    # which click is which: heard about one buffer after it was pushed, clicks 1 s apart
    approx = args.buffer_ms / 1000 + 0.05
    heard: dict[int, list[float]] = {i: [] for i in range(args.clicks)}
    missed = 0
    dropouts = 0
    for c in clients:
        got = set()
        for pos in c.clicks:
            t = c.heard_at(pos)
            if t is None:
                continue
            i = round(t - approx - click_push[0])
            if 0 <= i < args.clicks and i not in got:
                got.add(i)
                heard[i].append(t)
        missed += args.clicks - len(got)
        if c.clicks:
            dropouts += sum(1 for w in c.quiet_windows if c.clicks[0] < w < c.clicks[-1])
    load1 = os.getloadavg()[0]
    print(f"clients: {args.clients}, clicks: {args.clicks}, buffer {args.buffer_ms} ms, "
          f"Opus {args.bitrate // 1000} kb/s, nice {args.nice}; "
          f"load {load0:.1f} -> {load1:.1f}")  # fmt: skip
    print(f"clicks missed: {missed} of {args.clients * args.clicks}")
    lat = [t - click_push[i] for i, ts in heard.items() for t in ts]
    skews = [(max(ts) - min(ts)) * 1000 for i, ts in sorted(heard.items()) if len(ts) >= 2]
    if skews:
        print(
            f"latency p50 {statistics.median(lat) * 1000:.0f} ms, "
            f"p99 {percentile(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
            f"(baseline: snapserver buffer {args.buffer_ms} ms; overhead p50 "
            f"{statistics.median(lat) * 1000 - args.buffer_ms:.0f} ms)"
        )
        running = skews[1:] or skews
        print(
            f"skew (latest - earliest client): start {skews[0]:.2f} ms; running p50 "
            f"{statistics.median(running):.2f} ms, p99 {percentile(running, 99):.2f} ms, "
            f"max {max(running):.2f} ms; per click: " + " ".join(f"{v:.1f}" for v in skews)
        )
    else:
        print("no click heard by two clients: nothing to measure")
    print(f"dropouts (silent 10-ms windows between a client's first and last click): {dropouts}")
    server_pct = (cpu1[0] - cpu0[0]) / stream_s * 100
    client_pct = [(b - a) / stream_s * 100 for a, b in zip(cpu0[1], cpu1[1], strict=True)]
    print(
        f"CPU while streaming: snapserver {server_pct:.1f} % of a core for {len(ids)} clients; "
        f"one snapclient (Opus decode, file player) p50 {statistics.median(client_pct):.1f} %, "
        f"all {args.clients} together {sum(client_pct):.0f} % of a core"
    )
    kbps = (bytes1 - bytes0) * 8 / 1000 / stream_s
    print(f"bytes to one loudspeaker while streaming: {kbps:.1f} kb/s ({bytes1 - bytes0} B "
          f"in {stream_s:.1f} s, Opus set to {args.bitrate // 1000} kb/s)")  # fmt: skip
    print(
        f"pushed {len(pcm) / 2 / RATE:.1f} s; into the stream {end.seconds_streamed:.1f} s "
        f"(the difference: dropped by the microphone queue while snapserver was not "
        f"reading); recorded {end.recording_s:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
