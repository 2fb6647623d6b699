"""Fan-out benchmark: one retained ~2 KB message to N subscribers through an MQTT broker.

Modes:
  bare    paho subscribers, nothing else: the baseline (what the broker and paho cost).
  agents  N simulated agents (`pa-device simulate`) until each has the timeline and the media:
          not yet implemented; `run_agents()` is where it goes, returning a `FanoutResult`
          so `report()` prints both the same way.

Subscribers are spread over several processes because paho's network loop uses select(),
which cannot watch descriptors above 1024 (about 330 clients per process, NOTES.md). Times are
`time.monotonic()` (CLOCK_MONOTONIC, one clock for every process on a Linux machine), taken in
the subscriber's on_message and compared with the instant just before the publish call.

    .venv/bin/python bench/fanout.py --count 1000                 # Mosquitto on 127.0.0.1:1883
    .venv/bin/python bench/fanout.py --broker mqtt://host:1883 --count 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

PAYLOAD_BYTES = 2048
DEFAULT_PER_PROCESS = 250  # ≈ 750 descriptors: safely under select()'s 1024
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Broker:
    """Where to connect: `mqtt://host:port`."""

    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Broker:
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise SystemExit(f"fanout: broker URL must look like mqtt://host:port, not {url!r}")
        return cls(parts.hostname, parts.port or 1883)

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@dataclass
class FanoutResult:
    """What one run measured: per round, every subscriber's delay after the publish."""

    mode: str
    broker: str
    count: int
    processes: int
    payload_bytes: int
    setup_s: float
    rounds: list[list[float]] = field(default_factory=list)  # seconds, one list per round
    missing: list[int] = field(default_factory=list)  # subscribers without the message, per round


# ------------------------------------------------------------------------------ bare mode


def _subscriber_process(
    index: int,
    broker: Broker,
    topic: str,
    n_clients: int,
    rounds: int,
    out: Queue[Any],
    finish: Any,  # multiprocessing Event: the parent is done publishing
) -> None:
    """Run `n_clients` paho subscribers; report ready, each completed round, then the times."""
    lock = threading.Lock()
    subscribed = 0
    times: dict[int, list[float]] = {r: [] for r in range(rounds)}
    seen: set[tuple[int, int]] = set()  # (client, round): QoS 1 may deliver twice

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            client.subscribe(topic, qos=1)

    def on_subscribe(_c: mqtt.Client, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        nonlocal subscribed
        with lock:
            subscribed += 1
            if subscribed == n_clients:
                out.put(("ready", index))

    def on_message(client: mqtt.Client, userdata: int, msg: mqtt.MQTTMessage) -> None:
        t = time.monotonic()
        if not msg.payload:
            return
        r = int(msg.payload[:8])
        with lock:
            if (userdata, r) in seen:
                return
            seen.add((userdata, r))
            times[r].append(t)
            if len(times[r]) == n_clients:
                out.put(("round", index, r))

    clients = []
    for i in range(n_clients):
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{topic[:40]}-{index}-{i}", userdata=i
        )
        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        c.connect_async(broker.host, broker.port, keepalive=60)
        c.loop_start()
        clients.append(c)
    finish.wait(READY_TIMEOUT_S + rounds * 3600)  # bounded even if the parent vanished
    out.put(("times", index, times))
    for c in clients:
        c.disconnect()
    for c in clients:
        c.loop_stop()


def _publisher(broker: Broker) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fanout-pub-{os.getpid()}")
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect(broker.host, broker.port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit(f"fanout: cannot connect to {broker}")
    return client


def _payload(round_no: int) -> bytes:
    head = f"{round_no:08d}".encode()
    return head + b"x" * (PAYLOAD_BYTES - len(head))


def run_bare(
    broker: Broker, count: int, *, per_process: int, rounds: int, round_timeout_s: float
) -> FanoutResult:
    """Bare paho fan-out of one retained payload to `count` subscribers, `rounds` times."""
    topic = f"bench-fanout-{secrets.token_hex(4)}/timeline/zone/bench"
    sizes = [per_process] * (count // per_process) + (
        [count % per_process] * (count % per_process > 0)
    )
    ctx = mp.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    finish = ctx.Event()
    procs = [
        ctx.Process(target=_subscriber_process, args=(i, broker, topic, n, rounds, out, finish))
        for i, n in enumerate(sizes)
    ]
    result = FanoutResult("bare", str(broker), count, len(procs), PAYLOAD_BYTES, 0.0)
    started = time.monotonic()
    for p in procs:
        p.start()
    publisher = _publisher(broker)
    try:
        _wait_for(out, "ready", len(procs), READY_TIMEOUT_S, what="subscribers ready")
        result.setup_s = time.monotonic() - started
        published_at: list[float] = []
        for r in range(rounds):
            published_at.append(time.monotonic())
            publisher.publish(topic, _payload(r), qos=1, retain=True).wait_for_publish(10)
            _wait_for(out, "round", len(procs), round_timeout_s, what=f"round {r + 1}")
        finish.set()
        per_proc = [m[2] for m in _collect(out, "times", len(procs), 60)]
        for r in range(rounds):
            got = [t - published_at[r] for times in per_proc for t in times[r]]
            result.rounds.append(sorted(got))
            result.missing.append(count - len(got))
    finally:
        finish.set()
        # Leave nothing retained on a shared broker.
        publisher.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        publisher.disconnect()
        publisher.loop_stop()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    return result


def _collect(out: Queue[Any], kind: str, n: int, timeout_s: float) -> list[tuple[Any, ...]]:
    """Take `n` messages of `kind` from the queue (others are stale and dropped)."""
    deadline = time.monotonic() + timeout_s
    got: list[tuple[Any, ...]] = []
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            msg = out.get(timeout=left)
        except queue.Empty:
            break
        if msg[0] == kind:
            got.append(msg)
    return got


def _wait_for(out: Queue[Any], kind: str, n: int, timeout_s: float, *, what: str) -> None:
    got = len(_collect(out, kind, n, timeout_s))
    if got < n:
        print(f"fanout: {what}: only {got}/{n} processes within {timeout_s:.0f} s", file=sys.stderr)


# ------------------------------------------------------------------------------ agents mode


def run_agents(broker: Broker, count: int) -> FanoutResult:
    """N simulated agents until each has the timeline and the media (to be written)."""
    raise NotImplementedError("agents mode is not yet implemented")


# ------------------------------------------------------------------------------ report


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def report(result: FanoutResult) -> str:
    """Human-readable figures, one line per round, and the summary line for bench/README.md."""
    lines = [
        f"fan-out ({result.mode}) via {result.broker}: {result.count} subscribers in "
        f"{result.processes} processes, {result.payload_bytes}-byte retained payload, QoS 1",
        f"setup (start, connect, subscribe): {result.setup_s:.1f} s",
    ]
    totals = []
    for i, (lat, missing) in enumerate(zip(result.rounds, result.missing, strict=True)):
        total = lat[-1] if lat else float("nan")
        totals.append(total)
        lines.append(
            f"round {i + 1}: p50 {percentile(lat, 50) * 1e3:.0f} ms  "
            f"p99 {percentile(lat, 99) * 1e3:.0f} ms  max {total * 1e3:.0f} ms"
            + (f"  MISSING {missing}" if missing else f"  (all {result.count} received)")
        )
    every = sorted(t for lat in result.rounds for t in lat)
    lines.append(
        f"total: every subscriber had it after {statistics.median(totals) * 1e3:.0f} ms "
        f"(median of {len(totals)} rounds); over all rounds p50 {percentile(every, 50) * 1e3:.0f}"
        f" ms p99 {percentile(every, 99) * 1e3:.0f} ms max {every[-1] * 1e3:.0f} ms"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("bare", "agents"), default="bare")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--count", type=int, default=1000, help="subscribers (default 1000)")
    parser.add_argument("--per-process", type=int, default=DEFAULT_PER_PROCESS)
    parser.add_argument("--rounds", type=int, default=3, help="publishes, one after another")
    parser.add_argument("--round-timeout", type=float, default=30.0, help="seconds per round")
    args = parser.parse_args(argv)
    if args.count < 1 or args.rounds < 1 or not 1 <= args.per_process <= 330:
        parser.error("--count and --rounds must be ≥ 1, --per-process 1..330")
    broker = Broker.parse(args.broker)
    if args.mode == "agents":
        try:
            result = run_agents(broker, args.count)
        except NotImplementedError as exc:
            print(f"fanout: {exc}", file=sys.stderr)
            return 2
    else:
        result = run_bare(
            broker,
            args.count,
            per_process=args.per_process,
            rounds=args.rounds,
            round_timeout_s=args.round_timeout,
        )
    print(report(result))
    return 1 if any(result.missing) else 0


if __name__ == "__main__":
    sys.exit(main())
