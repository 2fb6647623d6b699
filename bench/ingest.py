"""State + receipt ingest: messages per second the server stores through the real bus, per database.

The server side is the server's own: `PahoBus` (one paho client, clean session) subscribed to
`P/state/+` and `P/event/+`, its handlers `Runtime._on_state` / `Runtime._on_receipt` (which
queue to the runtime's `IngestWriter`: batches of up to 500 messages or 50 ms, one commit
each, idempotent receipts), on a freshly migrated database holding the devices and
occurrences the messages name. A bare paho publisher (QoS 1, 100 in flight) sends the agents'
messages, at most `--window` (600) ahead of what is stored (Mosquitto drops QoS-1 messages
past 1,000 queued for one subscriber; `--window 0` sends them all at once): `--devices`
states each `--states` times, and a fetched/started/finished receipt per device and
occurrence. Figure: the time from the first publish until the last message is stored (then
the rows are counted). Baseline, same run: the same messages to a bare paho subscriber that
stores nothing.

    .venv/bin/python bench/ingest.py [--devices 100] [--states 10] [--occurrences 5]
        [--window 600] [--broker mqtt://127.0.0.1:1883] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import load_average
from devices import protocol
from pa_server.config import Settings
from pa_server.db.engine import make_engine, scratch_database, session_factory, upgrade
from pa_server.db.models import Announcement, Device, DeviceState, Occurrence, Receipt, Zone
from pa_server.messaging.bus import BrokerAddress, PahoBus
from pa_server.runtime import Runtime

RECEIPT_TYPES = ("fetched", "started", "finished")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: Messages allowed in flight between publisher and store (under Mosquitto's 1,000 queue).
WINDOW = 600


def messages(prefix: str, devices: int, states: int, occurrences: int) -> list[tuple[str, bytes]]:
    """(topic, payload) as a fleet would send them: states and receipts interleaved."""
    topics = protocol.Topics(prefix)
    now = protocol.utc_now()
    out: list[tuple[str, bytes]] = []
    for d in range(devices):
        dev = f"loa-{d:05d}"
        for s in range(states):
            state = protocol.State(
                device_id=dev, online=True, at=now + timedelta(seconds=s), agent_version="bench"
            )
            out.append((topics.state(dev), protocol.dumps(state)))
        for o in range(occurrences):
            for kind in RECEIPT_TYPES:
                receipt = protocol.Receipt(
                    device_id=dev, occurrence_id=f"occ-{o}", type=kind, at=now, late_ms=3
                )
                out.append((topics.event(dev), protocol.dumps(receipt)))
    return out


def seed(url: str, devices: int, occurrences: int) -> None:
    """Migrate, then insert the zone, devices, announcement and occurrences the messages name."""
    engine = make_engine(url)
    upgrade(engine)
    now = protocol.utc_now()
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        conn.execute(
            insert(Zone),
            [{"path": "xa", "parent_path": None, "name": "x", "timezone": "UTC", **stamps}],
        )
        conn.execute(
            insert(Device),
            [
                {
                    "id": f"loa-{d:05d}",
                    "zone_path": "xa",
                    "name": "",
                    "location": "",
                    "credential_hash": "$7$x",
                    **stamps,
                }
                for d in range(devices)
            ],
        )
        conn.execute(
            insert(Announcement),
            [
                {
                    "id": "a1",
                    "title": "t",
                    "kind": "text",
                    "text": "x",
                    "placeholders": {},
                    "level": "normal",
                    "status": "approved",
                    "author": "bench",
                    **stamps,
                }
            ],
        )
        conn.execute(
            insert(Occurrence),
            [
                {
                    "id": f"occ-{o}",
                    "announcement_id": "a1",
                    "title": "t",
                    "planned_at": now,
                    "play_at": now,
                    "targets": ["zone:xa"],
                    "priority": 50,
                    "max_late_s": 60,
                    "duration_ms": 1000,
                    "status": "sent",
                    "immediate": False,
                    **stamps,
                }
                for o in range(occurrences)
            ],
        )
    engine.dispose()


def _client(broker: str, name: str) -> mqtt.Client:
    address = BrokerAddress.parse(broker)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{secrets.token_hex(4)}")
    client.max_inflight_messages_set(100)
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect(address.host, address.port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit(f"ingest: cannot connect to {broker}")
    return client


def publish_all(
    client: mqtt.Client,
    msgs: list[tuple[str, bytes]],
    *,
    retain_states: bool,
    done: Callable[[], int],
    window: int = WINDOW,
) -> None:
    """QoS-1 publishes, pipelined, never more than `window` ahead of what `done()` counts.

    `window=0`: no limit (a broadcast's receipts all arriving at once).

    Mosquitto queues at most 1,000 QoS-1 messages for a subscriber (`max_queued_messages`)
    and drops the rest: an unthrottled 5,000-message burst left the server with 766 stored.
    """
    step = window // 2 if window else WINDOW // 2
    for i in range(0, len(msgs), step):
        chunk = msgs[i : i + step]
        infos = [
            client.publish(t, p, qos=1, retain=retain_states and "/state/" in t) for t, p in chunk
        ]
        for info in infos:
            info.wait_for_publish(120)
        if window:
            wait_count(done, i + len(chunk) - step, 120)


def wait_count(count: Callable[[], int], n: int, timeout_s: float) -> float:
    """Wait until `count()` reaches `n`; the monotonic instant it did (or the timeout's)."""
    deadline = time.monotonic() + timeout_s
    while count() < n and time.monotonic() < deadline:
        time.sleep(0.002)
    return time.monotonic()


def baseline(broker: str, prefix: str, msgs: list[tuple[str, bytes]], window: int) -> float:
    """Seconds for the same messages to reach a bare paho subscriber (stores nothing)."""
    got = 0
    lock = threading.Lock()

    def on_message(*_a: Any) -> None:
        nonlocal got
        with lock:
            got += 1

    sub = _client(broker, "ingest-base")
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.on_message = on_message
    sub.subscribe([(f"{prefix}/state/+", 1), (f"{prefix}/event/+", 1)])
    subscribed.wait(10)
    pub = _client(broker, "ingest-pub")
    t0 = time.monotonic()
    publish_all(pub, msgs, retain_states=False, done=lambda: got, window=window)
    t1 = wait_count(lambda: got, len(msgs), 120)
    for c in (sub, pub):
        c.disconnect()
        c.loop_stop()
    return t1 - t0


def through_server(
    broker: str,
    prefix: str,
    db_url: str,
    msgs: list[tuple[str, bytes]],
    devices: int,
    receipts: int,
    window: int,
) -> tuple[float, int, int]:
    """Seconds until the server's handlers stored every message; (seconds, states, receipts)."""
    with tempfile.TemporaryDirectory(prefix="pa-ingest-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=db_url, topic_prefix=prefix)
        engine = make_engine(db_url)
        runtime = Runtime(settings, session_factory(engine))
        # Counted once stored: the writer takes messages off the bus's thread and commits them
        # in batches (`pa_server.messaging.ingest_writer`); `processed` counts what it has written.
        runtime.writer.start()
        bus = PahoBus(
            broker,
            topics=protocol.Topics(prefix),
            client_id=f"ingest-srv-{secrets.token_hex(4)}",
            clean_session=True,
        )
        bus.set_handlers(runtime._on_state, runtime._on_receipt)

        def handled() -> int:
            return runtime.writer.processed

        with bus:
            pub = _client(broker, "ingest-pub")
            t0 = time.monotonic()
            publish_all(pub, msgs, retain_states=True, done=handled, window=window)
            t1 = wait_count(handled, len(msgs), 120)
            # Mosquitto keeps retained states across runs: clear them.
            for d in range(devices):
                pub.publish(protocol.Topics(prefix).state(f"loa-{d:05d}"), b"", qos=1, retain=True)
            pub.publish(f"{prefix}/end", b"", qos=1).wait_for_publish(30)
            pub.disconnect()
            pub.loop_stop()
        runtime.writer.stop()
        with engine.connect() as conn:
            states = conn.scalar(select(func.count()).select_from(DeviceState)) or 0
            stored = conn.scalar(select(func.count()).select_from(Receipt)) or 0
        engine.dispose()
    assert stored == receipts, f"{stored} receipts stored, {receipts} sent"
    return t1 - t0, states, stored


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--states", type=int, default=10, help="state messages per device")
    ap.add_argument("--occurrences", type=int, default=5, help="3 receipts each, per device")
    ap.add_argument(
        "--window",
        type=int,
        default=WINDOW,
        help="messages in flight ahead of what is stored (0: no limit, a broadcast's burst)",
    )
    ap.add_argument("--broker", default=os.environ.get("PA_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"))
    ap.add_argument(
        "--pg",
        default=os.environ.get("PA_TEST_DATABASE_URL", DEFAULT_PG),
        help="PostgreSQL to create a scratch database on ('' to skip)",
    )
    args = ap.parse_args()
    print(load_average())
    prefix = f"bench-ingest-{secrets.token_hex(4)}/v1"
    msgs = messages(prefix, args.devices, args.states, args.occurrences)
    receipts = args.devices * args.occurrences * len(RECEIPT_TYPES)
    n = len(msgs)
    print(
        f"{n} messages: {args.devices * args.states} states of {args.devices} devices, "
        f"{receipts} receipts; broker {args.broker}"
    )
    base = baseline(args.broker, prefix, msgs, args.window)  # not retained: leaves nothing behind
    print(f"  {'bare paho subscriber (baseline)':34s} {base:6.2f} s  {n / base:7.0f} msg/s")

    def line(name: str, measured: tuple[float, int, int]) -> None:
        took, states, stored = measured
        print(
            f"  {'server → ' + name:34s} {took:6.2f} s  {n / took:7.0f} msg/s  "
            f"({took / base:.1f}x baseline; {states} state rows, {stored} receipts)"
        )

    with tempfile.TemporaryDirectory(prefix="pa-ingest-db-") as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'pa.db'}"
        seed(sqlite_url, args.devices, args.occurrences)
        name = f"SQLite ({journal_mode(sqlite_url)})"
        line(
            name,
            through_server(
                args.broker, prefix, sqlite_url, msgs, args.devices, receipts, args.window
            ),
        )
    if args.pg:
        with scratch_database(args.pg, prefix="pa_bench") as pg_url:
            seed(pg_url, args.devices, args.occurrences)
            line(
                "PostgreSQL",
                through_server(
                    args.broker, prefix, pg_url, msgs, args.devices, receipts, args.window
                ),
            )
    print(load_average())
    return 0


def journal_mode(url: str) -> str:
    """The SQLite journal mode the server's engine runs with (what the figure depends on)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        mode = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
    engine.dispose()
    return f"journal_mode={mode}"


if __name__ == "__main__":
    sys.exit(main())
