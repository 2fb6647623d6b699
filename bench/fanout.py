"""Fan-out benchmark: one retained ~2 KB message to N subscribers through an MQTT broker.

Modes:
  bare    paho subscribers, nothing else: the baseline (what the broker and paho cost).
  agents  N simulated agents (`pa-device simulate`, null player, several processes) until each
          has the timeline (its state lists the version) and the media (its `fetched`
          receipt), media served by the server's app under uvicorn; the bare mode runs first
          in the same invocation as the baseline, and the ratio is printed.

Subscribers are spread over several processes because paho's network loop uses select(),
which cannot watch descriptors above 1024 (about 330 clients per process, NOTES.md). Times are
`time.monotonic()` (CLOCK_MONOTONIC, one clock for every process on a Linux machine), taken in
the subscriber's on_message and compared with the instant just before the publish call.

    .venv/bin/python bench/fanout.py --count 1000                 # Mosquitto on 127.0.0.1:1883
    .venv/bin/python bench/fanout.py --broker mqtt://host:1883 --count 2000 --rounds 5
    .venv/bin/python bench/fanout.py --mode agents --count 1000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices import protocol
from tests.devices.support import clear_retained

PAYLOAD_BYTES = 2048
DEFAULT_PER_PROCESS = 250  # ≈ 750 descriptors: safely under select()'s 1024
READY_TIMEOUT_S = 120.0
AGENT_ZONE = "bench/xa"
#: A full agent holds five descriptors, not three (devices/simulate.py PER_PROCESS).
AGENTS_PER_PROCESS = 180


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


def _payload(round_no: int, size: int) -> bytes:
    head = f"{round_no:08d}".encode()
    return head + b"x" * (size - len(head))


def run_bare(
    broker: Broker,
    count: int,
    *,
    per_process: int,
    rounds: int,
    round_timeout_s: float,
    payload_bytes: int = PAYLOAD_BYTES,
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
    result = FanoutResult("bare", str(broker), count, len(procs), payload_bytes, 0.0)
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
            publisher.publish(
                topic, _payload(r, payload_bytes), qos=1, retain=True
            ).wait_for_publish(10)
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


class _Watcher:
    """One paho client on `P/state/+` and `P/event/+`, time-stamping what each agent reports."""

    def __init__(self, broker: Broker, prefix: str) -> None:
        self.prefix = prefix
        self.lock = threading.Lock()
        self.online: set[str] = set()
        self.timeline_at: dict[str, float] = {}  # device → first state holding the version
        self.fetched_at: dict[str, float] = {}  # device → its `fetched` receipt
        self.target = ""
        self.version = -1
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fanout-w-{os.getpid()}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect(broker.host, broker.port, keepalive=60)
        self.client.loop_start()
        self.client.subscribe([(f"{prefix}/state/+", 1), (f"{prefix}/event/+", 1)])
        if not subscribed.wait(10):
            raise SystemExit(f"fanout: no SUBACK from {broker}")

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        t = time.monotonic()
        if not msg.payload:
            return
        data = json.loads(msg.payload)
        device = str(data.get("device_id", ""))
        with self.lock:
            if "/state/" in msg.topic:
                if data.get("online") and data.get("clock_synced"):
                    self.online.add(device)
                held = (data.get("timelines") or {}).get(self.target)
                if held == self.version and device not in self.timeline_at:
                    self.timeline_at[device] = t
            elif data.get("type") == "fetched" and device not in self.fetched_at:
                self.fetched_at[device] = t

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _simulate_command(
    count: int, broker: Broker, server: str, prefix: str, key: str, state_dir: Path, per: int
) -> list[str]:
    return [
        *(sys.executable, "-m", "devices.cli", "simulate", "--count", str(count)),
        *("--zone", AGENT_ZONE, "--server", server, "--broker", str(broker)),
        *("--player", "null", "--prefix", prefix, "--public-key", key),
        *("--state-dir", str(state_dir), "--per-process", str(per)),
    ]


def _wait_until(check: Callable[[], bool], timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(step_s)
    return True


def run_agents(
    broker: Broker,
    count: int,
    *,
    per_process: int,
    media_bytes: int,
    lead_s: float,
    timeout_s: float,
) -> tuple[FanoutResult, FanoutResult]:
    """`count` agents (`pa-device simulate`, null player) until each holds timeline and media.

    Returns (timeline received, media fetched) as two results, each one round: the delay from
    the publish of one signed retained zone timeline to the agent's state listing its version,
    and to its `fetched` receipt, both as this process receives them back from the broker.
    The item plays `lead_s` after the publish: inside the fetch margin, so no spreading delay.
    """
    from bench.harness import MediaServerProcess
    from pa_server.messaging.signing import ServerKeys

    prefix = f"bench-fanout-{secrets.token_hex(4)}/v1"
    topics = protocol.Topics(prefix)
    with tempfile.TemporaryDirectory(prefix="pa-fanout-") as tmp_name:
        tmp = Path(tmp_name)
        keys = ServerKeys.load_or_create(tmp / "keys")
        key = keys.public_keys()[0]
        watcher = _Watcher(broker, prefix)
        publisher = _publisher(broker)
        started = time.monotonic()
        with MediaServerProcess(tmp / "server") as server:
            media = server.put(os.urandom(media_bytes))
            cmd = _simulate_command(
                count,
                broker,
                server.url,
                prefix,
                f"{key['kid']}={key['public_key']}",
                tmp / "state",
                per_process,
            )
            log = (tmp / "simulate.log").open("w")
            sim = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            try:
                if not _wait_until(lambda: len(watcher.online) >= count, READY_TIMEOUT_S):
                    print(
                        f"fanout: only {len(watcher.online)}/{count} agents online and "
                        "clock-synced",
                        file=sys.stderr,
                    )
                setup_s = time.monotonic() - started
                now = protocol.utc_now()
                target = f"zone:{AGENT_ZONE}"
                body = protocol.TimelineBody(
                    target=target,
                    version=protocol.timeline_version(now),
                    horizon_until=now + timedelta(hours=1),
                    items=(
                        protocol.Item(
                            occurrence_id=secrets.token_hex(8),
                            title="Cài đặt Bluezone",
                            play_at=now + timedelta(seconds=lead_s),
                            max_late_s=60,
                            media=media,
                        ),
                    ),
                )
                payload = keys.sign("timeline", body, now=now, expires_at=now + timedelta(hours=1))
                with watcher.lock:
                    watcher.target, watcher.version = target, body.version
                cpu0 = server.cpu_seconds()
                t0 = time.monotonic()
                publisher.publish(topics.timeline_zone(AGENT_ZONE), payload, qos=1, retain=True)
                _wait_until(lambda: len(watcher.fetched_at) >= count, timeout_s)
                server_cpu = server.cpu_seconds() - cpu0
            finally:
                sim.send_signal(signal.SIGTERM)
                try:
                    sim.wait(60)
                except subprocess.TimeoutExpired:
                    sim.kill()
                log.close()
                publisher.publish(topics.timeline_zone(AGENT_ZONE), b"", qos=1, retain=True)
            problems = [
                x
                for x in (tmp / "simulate.log").read_text().splitlines()
                if "WARNING" in x or "ERROR" in x
            ]
        watcher.close()
        publisher.disconnect()
        publisher.loop_stop()
    clear_retained(str(broker), prefix)
    procs = -(-count // per_process)
    results = []
    for mode, got in (
        ("agents: timeline", watcher.timeline_at),
        ("agents: media", watcher.fetched_at),
    ):
        r = FanoutResult(mode, str(broker), count, procs, len(payload), setup_s)
        r.rounds.append(sorted(t - t0 for t in got.values()))
        r.missing.append(count - len(got))
        results.append(r)
    print(
        f"media {media_bytes} bytes from the server's /media/ (uvicorn, 1 worker): "
        f"server CPU {server_cpu:.2f} s for {len(watcher.fetched_at)} downloads"
    )
    if problems:
        print(f"{len(problems)} warnings/errors in the simulator log, last ones:", file=sys.stderr)
        print("\n".join(problems[-10:]), file=sys.stderr)
    return results[0], results[1]


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
    parser.add_argument("--media-bytes", type=int, default=241_233, help="agents: media size")
    parser.add_argument("--lead", type=float, default=90.0, help="agents: publish → play_at, s")
    args = parser.parse_args(argv)
    if args.count < 1 or args.rounds < 1 or not 1 <= args.per_process <= 330:
        parser.error("--count and --rounds must be ≥ 1, --per-process 1..330")
    broker = Broker.parse(args.broker)
    from bench.harness import load_average

    print(load_average())
    agents: tuple[FanoutResult, ...] = ()
    payload_bytes = PAYLOAD_BYTES
    if args.mode == "agents":
        agents = run_agents(
            broker,
            args.count,
            per_process=min(args.per_process, AGENTS_PER_PROCESS),
            media_bytes=args.media_bytes,
            lead_s=args.lead,
            timeout_s=args.lead,
        )
        payload_bytes = agents[0].payload_bytes  # the baseline carries as many bytes
    bare = run_bare(
        broker,
        args.count,
        per_process=args.per_process,
        rounds=args.rounds,
        round_timeout_s=args.round_timeout,
        payload_bytes=payload_bytes,
    )
    print(report(bare))
    baseline = statistics.median(r[-1] for r in bare.rounds if r)
    for result in agents:
        print(report(result))
        if result.rounds[0]:
            print(f"ratio to the bare fan-out of this run: {result.rounds[0][-1] / baseline:.1f}x")
    print(load_average())
    return 1 if any(r.missing[0] for r in agents) or any(bare.missing) else 0


if __name__ == "__main__":
    sys.exit(main())
