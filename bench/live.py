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
import pickle
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
    clock: dict[int, float] = field(default_factory=dict)  # see output_clock
    read_delay_ms: list[float] = field(default_factory=list)
    clock_moves: int = 0
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

    def heard_at(self, sample: int, *, clock: bool = True) -> float | None:
        """When the sample is played: chunk k holds the audio due from its write + 10 ms on.

        With ``clock`` (the figure), chunk k's write instant is the client's own output clock
        (`output_clock`); without it, the instant the reader saw the chunk's first byte, late
        by the reader's and the client's wake-ups on this shared machine (an upper bound).
        """
        k = sample * 4 // CHUNK_BYTES
        if k not in self.chunk_times:
            return None
        written = self.clock[k] if clock else self.chunk_times[k]
        return written + DAC_S + (sample - k * CHUNK_BYTES // 4) / RATE

    def output_clock(self, window: int = 20) -> None:
        """Estimate each chunk's due write instant from the file player's 50-ms clock.

        snapclient's file player asks for a chunk every 50 ms on a steady timer (its
        `next_request_ += 50ms`), the way a sound card's clock drains a buffer; only a wake-up
        later than a whole period moves that clock (later, never earlier). A chunk is seen
        when the reader gets to it, late by its own and the client's wake-ups, never early,
        so the least delay in a window is the clock (the minimum-delay filter of NTP). The
        larger of the minima over the window before and after k follows a moved clock at once.
        Also sets `read_delay_ms` (seen − clock) and `clock_moves` (steps > 1 ms).
        """
        ks = sorted(self.chunk_times)
        off = np.array([self.chunk_times[k] - k * CHUNK_S for k in ks])
        est = np.empty_like(off)
        for i in range(len(ks)):
            before = off[max(0, i - window) : i + 1].min()
            after = off[i : i + window + 1].min()
            est[i] = max(before, after)
        self.clock = {k: float(e) + k * CHUNK_S for k, e in zip(ks, est, strict=True)}
        self.read_delay_ms = ((off - est) * 1000).tolist()
        self.clock_moves = int(np.count_nonzero(np.diff(est) > 0.001))


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


def match_clicks(
    clients: list[Client], click_push: list[float], buffer_ms: int, *, clock: bool
) -> tuple[dict[int, list[float]], int]:
    """Each click's play instants (one per client that played it), and the clicks missed."""
    approx = buffer_ms / 1000 + 0.05  # heard about one buffer after it was pushed, 1 s apart
    heard: dict[int, list[float]] = {i: [] for i in range(len(click_push))}
    missed = 0
    for c in clients:
        got = set()
        for pos in c.clicks:
            t = c.heard_at(pos, clock=clock)
            if t is None:
                continue
            i = round(t - approx - click_push[0])
            if 0 <= i < len(click_push) and i not in got:
                got.add(i)
                heard[i].append(t)
        missed += len(click_push) - len(got)
    return heard, missed


def split_dropouts(
    clients: list[Client],
) -> tuple[dict[float, list[str]], dict[str, list[float]]]:
    """Silent windows inside the session: those every client plays within 20 ms of each other
    (a gap in the stream itself, at the source), and each client's own (a client dropout)."""
    when: dict[str, list[float]] = {}
    for c in clients:
        if c.clicks:
            ts = (c.heard_at(w) for w in c.quiet_windows if c.clicks[0] < w < c.clicks[-1])
            when[c.name] = [t for t in ts if t is not None]
    shared: dict[float, list[str]] = {}
    own: dict[str, list[float]] = {}
    for name, instants in when.items():
        for t in instants:
            everyone = all(any(abs(u - t) <= 0.02 for u in us) for us in when.values())
            if everyone:
                shared.setdefault(round(t, 1), []).append(name)
            else:
                own.setdefault(name, []).append(t)
    return shared, own


def skews_ms(heard: dict[int, list[float]]) -> list[float]:
    return [(max(ts) - min(ts)) * 1000 for _, ts in sorted(heard.items()) if len(ts) >= 2]


def describe(skews: list[float]) -> str:
    """Start (first click, 1 s in) and running skew, and where the clicks over 5 ms fell."""
    running = skews[1:] or skews
    over = [i + 1 for i, v in enumerate(skews) if v > 5.0]
    return (
        f"start {skews[0]:.2f} ms; running p50 {statistics.median(running):.2f} ms, "
        f"p99 {percentile(running, 99):.2f} ms, max {max(running):.2f} ms; "
        f"clicks over 5 ms: {len(over)} of {len(skews)}"
        + (f" (clicks {', '.join(map(str, over))})" if over else "")
        + "; per click: "
        + " ".join(f"{v:.1f}" for v in skews)
    )


def print_sync(clients: list[Client], click_push: list[float], buffer_ms: int) -> None:
    """The clicks' figures: missed, latency, skew (and its instrument), dropouts."""
    for c in clients:
        c.output_clock()
    heard, missed = match_clicks(clients, click_push, buffer_ms, clock=True)
    by_read, _ = match_clicks(clients, click_push, buffer_ms, clock=False)
    stream_gaps, own = split_dropouts(clients)
    print(f"clicks missed: {missed} of {len(clients) * len(click_push)}")
    lat = [t - click_push[i] for i, ts in heard.items() for t in ts]
    skews = skews_ms(heard)
    if skews:
        print(
            f"latency p50 {statistics.median(lat) * 1000:.0f} ms, "
            f"p99 {percentile(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
            f"(baseline: snapserver buffer {buffer_ms} ms; overhead p50 "
            f"{statistics.median(lat) * 1000 - buffer_ms:.0f} ms)"
        )
        print("skew (latest - earliest client), by each client's output clock: " + describe(skews))
        print("  baseline, by the instant the reader saw each chunk (an upper bound: adds the "
              "reader's and clients' wake-ups): " + describe(skews_ms(by_read)))  # fmt: skip
        delays = [d for c in clients for d in c.read_delay_ms]
        print(
            f"  the instrument: chunks seen late by p50 {percentile(delays, 50):.2f} ms, "
            f"p99 {percentile(delays, 99):.2f} ms, max {max(delays):.0f} ms; output clocks "
            f"moved by a late wake-up: {sum(c.clock_moves for c in clients)}"
        )
    else:
        print("no click heard by two clients: nothing to measure")
    print(
        "dropouts (silent 10-ms windows between a client's first and last click): "
        f"{sum(len(w) for w in own.values()) + sum(len(w) for w in stream_gaps.values())}; "
        f"of which in the stream itself (silent on every client at the same instant, i.e. at "
        f"the source): {sum(len(w) for w in stream_gaps.values())} windows at "
        f"{len(stream_gaps)} instants; on one client alone: {sum(len(w) for w in own.values())}"
    )


def analyse_dump(path: Path) -> int:
    """Re-analyse a run saved with --dump (the figures that depend only on the clicks)."""
    saved = pickle.loads(path.read_bytes())
    run = saved["args"]
    clients = []
    for name, (times, clicks, quiet) in saved["clients"].items():
        c = Client(name, Path(os.devnull), chunk_times=times, clicks=clicks, quiet_windows=quiet)
        clients.append(c)
    print(f"{path}: clients: {run['clients']}, clicks: {run['clicks']}, "
          f"buffer {run['buffer_ms']} ms (saved run)")  # fmt: skip
    print_sync(clients, saved["click_push"], run["buffer_ms"])
    return 0


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
    ap.add_argument("--dump", type=Path, help="save the raw observations (pickle) here")
    ap.add_argument("--analyse", type=Path, metavar="DUMP", help="re-analyse a --dump and exit")
    args = ap.parse_args()
    if args.analyse:
        return analyse_dump(args.analyse)

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
    if args.dump:
        args.dump.write_bytes(
            pickle.dumps(
                {
                    "args": vars(args),
                    "click_push": click_push,
                    "clients": {
                        c.name: (c.chunk_times, c.clicks, c.quiet_windows) for c in clients
                    },
                }
            )
        )
    load1 = os.getloadavg()[0]
    print(f"clients: {args.clients}, clicks: {args.clicks}, buffer {args.buffer_ms} ms, "
          f"Opus {args.bitrate // 1000} kb/s, nice {args.nice}; "
          f"load {load0:.1f} -> {load1:.1f}")  # fmt: skip
    print_sync(clients, click_push, args.buffer_ms)
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
