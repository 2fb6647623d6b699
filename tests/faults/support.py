"""What the fault scenarios add to the e2e harness: a throttling/black-holing TCP relay, an MQTT
duplicator, the server's restart with other settings, and what residents heard.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import uuid
from contextlib import suppress
from datetime import datetime
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from devices.protocol import Topics
from tests.devices.support import free_port
from tests.e2e.harness import AgentProc, System, wait_for


class FaultProxy:
    """A TCP relay (127.0.0.1:`port` → `target`) a test can slow down or black-hole.

    `rate` limits bytes per second from the target to the client (a slow download);
    `blackhole()` keeps every connection open but forwards nothing — packets lost, no FIN,
    as when the 4G link drops — until `restore()` closes the dead connections.
    """

    def __init__(self, host: str, port: int, *, rate: float | None = None) -> None:
        self.target = (host, port)
        self.rate = rate
        self.holed = False
        self.port = free_port()
        self.bytes_down = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(32)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        try:
            while data := src.recv(4096 if self.rate else 65536):
                if self.holed:
                    continue  # lost on the way
                if down and self.rate:
                    time.sleep(len(data) / self.rate)
                dst.sendall(data)
                if down:
                    self.bytes_down += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def blackhole(self) -> None:
        self.holed = True

    def restore(self) -> None:
        """Forward again; the connections that lived through the outage are closed (dead)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.holed = False

    def close(self) -> None:
        with suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self.restore()


class Duplicator:
    """An MQTT v5 client that republishes every message under the prefix once more.

    `no_local` keeps it from seeing (and re-duplicating) its own copies. Copies are not
    retained: a duplicate delivery, not a new retained value.
    """

    def __init__(self, url: str, topics: Topics) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.copies: list[str] = []
        self._ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"dup-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        opts = SubscribeOptions(qos=1, noLocal=True)
        self.client.on_connect = lambda c, *_a: c.subscribe(f"{topics.prefix}/#", options=opts)
        self.client.on_subscribe = lambda *_a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, int(port), 10)
        self.client.loop_start()
        assert self._ready.wait(10), "duplicator not subscribed"

    def _on_message(self, c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:
            c.publish(msg.topic, bytes(msg.payload), qos=1, retain=False)
            self.copies.append(msg.topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def restart_server(e2e: System, **env: str | None) -> None:
    """Stop `pa-server` (if running), change its environment, start it, wait for /healthz."""
    e2e.server.stop()
    for name, value in env.items():
        if value is None:
            e2e.server.env.pop(name, None)
        else:
            e2e.server.env[name] = value
    e2e.server.start()
    wait_for(lambda: healthy(e2e.api.base_url) or not e2e.server.running, "pa-server /healthz")
    assert e2e.server.running, f"pa-server exited:\n{e2e.server.tail()}"


def schedule_once(
    e2e: System, announcement_id: str, play_at: datetime, zone: str, **over: Any
) -> str:
    """A one-off schedule (planned, then published in the zone's retained timeline)."""
    body = {
        "announcement_id": announcement_id,
        "title": "Fault test",
        "zones": [zone],
        "start": play_at.isoformat(),
        **over,
    }
    created: dict[str, Any] = e2e.api.ok("POST", "/schedules", 201, json=body)
    return str(created["id"])


def occurrence_at(e2e: System, play_at: datetime) -> str:
    """The one occurrence planned for `play_at` (fails on none or several)."""
    found = wait_for(lambda: e2e.occurrences_at(play_at), f"an occurrence at {play_at}")
    assert len(found) == 1, f"{len(found)} occurrences at {play_at}: {found}"
    return str(found[0]["id"])


def has_timeline(watch: Any, agent: AgentProc, target: str) -> bool:
    return target in watch.state(agent.device_id).get("timelines", {})


def heard_once(agent: AgentProc, occurrence_id: str, sha256: str) -> dict[str, Any]:
    """The agent played `occurrence_id` exactly once, and what it played is the media, intact."""
    plays = agent.plays_of(occurrence_id)
    assert len(plays) == 1, f"{agent.device_id} played {occurrence_id} {len(plays)} times"
    copy = agent.out_dir / plays[0]["file"]
    wait_for(copy.exists, f"{copy} placed")
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert digest == sha256, f"{agent.device_id} played a corrupt copy of {occurrence_id}"
    return plays[0]


def start_error_ms(play: dict[str, Any]) -> float:
    """Actual start − play_at, in ms, from a `plays.jsonl` line (the real clock)."""
    play_at = datetime.fromisoformat(play["play_at"].replace("Z", "+00:00")).timestamp()
    return float(play["started_at_us"] / 1e6 - play_at) * 1000


def all_reported(e2e: System, occurrence_id: str, *types: str) -> dict[str, Any] | None:
    """The broadcast's detail once every expected device has receipts of all `types`."""
    detail: dict[str, Any] = e2e.broadcast(occurrence_id)
    rows = detail["devices"]
    ok = len(rows) == detail["delivery"]["expected"] and all(
        all(row[t] for t in types) for row in rows
    )
    return detail if ok else None
