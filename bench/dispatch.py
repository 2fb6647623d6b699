"""How fast the Dispatcher pushes timelines through PahoBus, per broker.

Prints, for the embedded amqtt broker and (if PA_TEST_MQTT_URL is set) Mosquitto: the time of
a first sync of N targets (each publish waits for its PUBACK), of a second sync with nothing
changed, and a baseline of the same N payloads published by bare paho without waiting between
messages, in the same run. Usage: `.venv/bin/python bench/dispatch.py [N]`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices import protocol as p
from pa_server.messaging.broker import EmbeddedBroker
from pa_server.messaging.bus import BrokerAddress, PahoBus
from pa_server.messaging.dispatch import Dispatcher
from pa_server.messaging.signing import ServerKeys

SHA = "ef" * 32


class DictStore:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, str]] = {}

    def get(self, target: str) -> tuple[int, str] | None:
        return self.rows.get(target)

    def put(self, target: str, version: int, content_hash: str) -> None:
        self.rows[target] = (version, content_hash)


def desired(n: int, now: datetime) -> dict[str, tuple[p.Item, ...]]:
    media = p.Media(url=f"http://server/media/{SHA}.mp3", sha256=SHA, bytes=1, duration_ms=1)
    items = tuple(
        p.Item(
            occurrence_id=f"occ-{k}",
            title="Cài đặt Bluezone",
            media=media,
            play_at=now + timedelta(hours=k),
        )
        for k in range(8)
    )
    return {f"zone:district/commune-{i}": items for i in range(n)}


def baseline(url: str, prefix: str, payloads: list[bytes]) -> float:
    address = BrokerAddress.parse(url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    client.max_inflight_messages_set(100)
    client.connect(address.host, address.port)
    client.loop_start()
    start = time.perf_counter()
    infos = [
        client.publish(f"{prefix}/baseline/{i}", payload, qos=1, retain=True)
        for i, payload in enumerate(payloads)
    ]
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.perf_counter() - start
    for i in range(len(payloads)):  # clear what we retained
        client.publish(f"{prefix}/baseline/{i}", b"", qos=1, retain=True)
    client.publish(f"{prefix}/end", b"", qos=1).wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    return elapsed


def run(name: str, url: str, n: int, keys: ServerKeys) -> None:
    topics = p.Topics(prefix=f"pa-bench/{uuid.uuid4().hex[:8]}")
    now = p.utc_now()
    plan = desired(n, now)
    with PahoBus(
        url, topics=topics, client_id=f"bench-{uuid.uuid4().hex[:8]}", clean_session=True
    ) as bus:
        dispatcher = Dispatcher(bus, keys, topics, DictStore())
        start = time.perf_counter()
        dispatcher.sync(plan, now=now, horizon_until=now + timedelta(hours=48))
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = dispatcher.sync(
            plan, now=now + timedelta(seconds=5), horizon_until=now + timedelta(hours=48, seconds=5)
        )
        second = time.perf_counter() - start
        assert again == []
        size = len(
            keys.sign(
                "timeline",
                p.TimelineBody(
                    target="zone:a",
                    version=1,
                    horizon_until=now,
                    items=plan["zone:district/commune-0"],
                ),
                now=now,
                expires_at=now,
            )
        )
        for target in plan:  # clear the retained timelines
            bus.publish(topics.timeline_for(target), b"", retain=True)
    payloads = [b"x" * size] * n
    base = baseline(url, topics.prefix, payloads)
    print(
        f"{name:10s} first sync of {n} timelines ({size} B each): {first:.3f} s "
        f"({n / first:.0f}/s); unchanged resync: {second * 1000:.1f} ms; "
        f"bare paho pipelined baseline: {base:.3f} s (sync/baseline = {first / base:.1f}x)"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp:
        keys = ServerKeys.load_or_create(Path(tmp))
        with EmbeddedBroker("127.0.0.1", 0, allow_anonymous=True) as broker:
            run("embedded", broker.url, n, keys)
        if os.environ.get("PA_TEST_MQTT_URL"):
            run("mosquitto", os.environ["PA_TEST_MQTT_URL"], n, keys)


if __name__ == "__main__":
    main()
