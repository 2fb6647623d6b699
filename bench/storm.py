"""Media download storm: N agents fetch one ~1 MB file from the server's /media/, with and
without the agent's spreading delay, the same lead time for both.

Each simulated agent is the agent's own fetch code (`devices.media.Fetcher.spread_delay` for
the delay, `devices.media.download` into its own `MediaCache` with its own `httpx.Client`),
one thread per agent, the agents spread over several worker processes; not full agents (no
MQTT session). The server is the real app (`create_app(background=False)`) under uvicorn, one
worker, in its own process, so its CPU time is read apart. Caches live under /dev/shm when it
exists: a Pi writes to its own SD card, so the shared disk of this machine must not be what
is measured.

Printed per scenario: peak concurrent requests (from the clients' start/end instants), p50 /
p99 / max download time, how long the whole storm lasted, failures, the server's CPU seconds
and its mean CPU share over the storm. "without" (no spreading: what happens when the
timeline arrives inside the fetch margin, or with `fetch.spread_s = 0`) is the baseline.

    .venv/bin/python bench/storm.py [--agents 500] [--lead 60] [--margin 10] [--processes 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import MediaServerProcess, load_average
from devices.clock import SystemClock
from devices.config import FetchSection
from devices.errors import DeviceError
from devices.jobs import JobThread
from devices.media import Fetcher, MediaCache, download
from devices.protocol import Media, utc_now

MEDIA_BYTES = 1_000_000


@dataclass(frozen=True)
class Storm:
    """What one scenario measured (seconds, CLOCK_MONOTONIC of this machine)."""

    name: str
    starts: list[float]
    ends: list[float]
    failures: int
    server_cpu_s: float
    span_s: float


def agent_delays(
    n: int, *, spread_s: float, margin_s: float, lead_s: float, seed: int
) -> list[float]:
    """The delay each agent's own Fetcher picks for an item `lead_s` ahead."""
    now = utc_now()
    play_at = now + timedelta(seconds=lead_s)
    delays = []
    for k in range(n):
        fetcher = Fetcher(
            cache=None,  # type: ignore[arg-type]  # spread_delay reads only settings and rng
            client=None,  # type: ignore[arg-type]
            settings=FetchSection(spread_s=spread_s, margin_s=margin_s, seed=seed + k),
            clock=SystemClock(),
            jobs=JobThread("unused"),
            pinned=set,
            on_fetched=lambda _i: None,
            on_failed=lambda _i, _d: None,
        )
        delays.append(fetcher.spread_delay(play_at, now))
    return delays


def _worker(
    media: Media,
    delays: list[float],
    cache_root: str,
    out: Any,
    go: Any,  # multiprocessing Event: t0 is set
    t0: Any,  # multiprocessing Value('d'): the storm's start, CLOCK_MONOTONIC
    timeout_s: float,
) -> None:
    """One process of agents: clients made first (not timed), then one thread each."""
    results: list[tuple[float, float, bool]] = []
    lock = threading.Lock()
    clients = [httpx.Client(timeout=timeout_s) for _ in delays]
    caches = [
        MediaCache(Path(cache_root) / f"{os.getpid()}-{k}", max_bytes=64 * 1024 * 1024)
        for k in range(len(delays))
    ]
    out.put(("ready", None))
    go.wait(600)

    def agent(k: int) -> None:
        time.sleep(max(0.0, t0.value + delays[k] - time.monotonic()))
        start = time.monotonic()
        try:
            download(clients[k], media, caches[k])
            ok = True
        except (DeviceError, OSError):
            ok = False
        end = time.monotonic()
        with lock:
            results.append((start, end, ok))

    threads = [threading.Thread(target=agent, args=(k,)) for k in range(len(delays))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    out.put(("done", results))


def run_storm(
    name: str,
    server: MediaServerProcess,
    media: Media,
    delays: list[float],
    processes: int,
    timeout_s: float,
) -> Storm:
    """Every agent fetches `media` after its delay; wait for all, read the server's CPU."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    t0 = ctx.Value("d", 0.0)
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(
        prefix="pa-storm-", dir=shm if shm.is_dir() else None
    ) as cache_root:
        chunks = [delays[i::processes] for i in range(processes)]
        procs = [
            ctx.Process(target=_worker, args=(media, c, cache_root, out, go, t0, timeout_s))
            for c in chunks
        ]
        for p in procs:
            p.start()
        for _ in procs:
            out.get(timeout=300)  # ready
        t0.value = time.monotonic() + 0.5  # every thread started and sleeping by then
        go.set()
        time.sleep(max(0.0, t0.value - time.monotonic()))
        cpu0 = server.cpu_seconds()
        rows: list[tuple[float, float, bool]] = []
        for _ in procs:
            rows += out.get(timeout=max(delays) + timeout_s + 60)[1]
        cpu = server.cpu_seconds() - cpu0
        for p in procs:
            p.join(30)
    starts = [s for s, _, _ in rows]
    ends = [e for _, e, _ in rows]
    return Storm(
        name,
        starts,
        ends,
        sum(1 for *_, ok in rows if not ok),
        cpu,
        max(ends) - min(starts),
    )


def peak_concurrency(starts: list[float], ends: list[float]) -> int:
    """Most requests in flight at one instant."""
    events = sorted([(s, 1) for s in starts] + [(e, -1) for e in ends])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(s: Storm) -> str:
    took = [e - b for b, e in zip(s.starts, s.ends, strict=True)]
    return (
        f"{s.name:8s} peak {peak_concurrency(s.starts, s.ends):4d} concurrent requests;"
        f" download p50 {percentile(took, 50) * 1e3:6.0f} ms  p99 {percentile(took, 99) * 1e3:6.0f}"
        f" ms  max {max(took) * 1e3:6.0f} ms; storm lasted {s.span_s:5.1f} s;"
        f" failures {s.failures}; server CPU {s.server_cpu_s:.1f} s"
        f" ({s.server_cpu_s / s.span_s * 100:.0f}% of one core over the storm)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--bytes", type=int, default=MEDIA_BYTES, help="media size")
    ap.add_argument("--lead", type=float, default=60.0, help="timeline arrival → play_at, s")
    ap.add_argument("--margin", type=float, default=10.0, help="fetch.margin_s of the agents")
    ap.add_argument("--spread", type=float, default=600.0, help="fetch.spread_s (the default)")
    ap.add_argument("--processes", type=int, default=4, help="worker processes for the agents")
    ap.add_argument("--timeout", type=float, default=30.0, help="fetch.timeout_s (the default)")
    args = ap.parse_args()
    print(load_average())
    with (
        tempfile.TemporaryDirectory(prefix="pa-storm-srv-") as tmp,
        MediaServerProcess(Path(tmp)) as server,
    ):
        media = server.put(os.urandom(args.bytes))
        httpx.get(media.url).raise_for_status()  # warm: first-request costs out of the way
        without = agent_delays(
            args.agents, spread_s=0.0, margin_s=args.margin, lead_s=args.lead, seed=1
        )
        spread = agent_delays(
            args.agents, spread_s=args.spread, margin_s=args.margin, lead_s=args.lead, seed=1
        )
        print(
            f"{args.agents} agents, {args.bytes:,}-byte media, lead {args.lead:.0f} s, margin"
            f" {args.margin:.0f} s: spreading delays 0..{max(spread):.1f} s"
            f" ({args.processes} worker processes, one thread per agent)"
        )
        storms = [
            run_storm("without", server, media, without, args.processes, args.timeout),
            run_storm("spread", server, media, spread, args.processes, args.timeout),
        ]
    for s in storms:
        print(report(s))
    p99 = [percentile([e - b for b, e in zip(s.starts, s.ends, strict=True)], 99) for s in storms]
    peaks = [peak_concurrency(s.starts, s.ends) for s in storms]
    print(
        f"ratio spread/without: peak concurrency {peaks[1] / peaks[0]:.3f}"
        f" ({peaks[0] / peaks[1]:.0f}x fewer), p99 download {p99[1] / p99[0]:.3f}"
        f" ({p99[0] / p99[1]:.0f}x shorter)"
    )
    print(load_average())
    return 1 if any(s.failures for s in storms) else 0


if __name__ == "__main__":
    sys.exit(main())
