"""Test-side stand-ins for what the agent talks to: a broker, a media server, a signing server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from devices import protocol
from devices.agent import Agent
from devices.config import AgentConfig, config_from_mapping
from devices.errors import HttpError
from devices.http import FakeHttp, Response
from devices.link import FakeLink
from devices.live import FakeLiveClient
from tests.support import free_port


class EmbeddedAmqtt:
    """amqtt in its own thread and event loop, on 127.0.0.1:`port`."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._broker: Any = None

    def start(self) -> None:
        from amqtt.broker import Broker

        if not self._thread.is_alive():
            self._thread.start()

        async def boot() -> Any:
            broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                    "sys_interval": 0,
                    "auth": {"allow-anonymous": True},
                }
            )
            await broker.start()
            return broker

        self._broker = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(20)

    def stop(self) -> None:
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(20)
            self._broker = None

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class MediaServer:
    """A tiny HTTP server for media files (`put` bytes, get a `Media`), with a Date header.

    `trickle[path] = n` sends that file n bytes a second (a crawling server); a path not `put`
    answers 404; `timelines` (when set) is what the agent's timeline pull lists.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.delay_s = 0.0
        self.trickle: dict[str, float] = {}
        self.timelines: list[bytes] | None = None
        self.closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                server.requests.append(self.path)
                data = server.files.get(self.path)
                if self.path.endswith("/timelines") and server.timelines is not None:
                    data = b"[" + b",".join(server.timelines) + b"]"
                if server.delay_s:
                    time.sleep(server.delay_s)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                rate = server.trickle.get(self.path)
                if rate is None:
                    self.wfile.write(data)
                    return
                try:
                    for i in range(len(data)):
                        if server.closing.wait(1 / rate):
                            return
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                except OSError:  # the agent gave up on us: as it should
                    return

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def put(
        self, data: bytes, *, announce: bytes | None = None, duration_ms: int = 300
    ) -> protocol.Media:
        """Serve `data`; the Media announces `announce`'s hash/size (to test mismatches)."""
        ref = announce if announce is not None else data
        sha = hashlib.sha256(ref).hexdigest()
        path = f"/media/{sha}.mp3"
        self.files[path] = data
        return protocol.Media(
            url=self.url + path, sha256=sha, bytes=len(ref), duration_ms=duration_ms
        )

    def path_of(self, media: protocol.Media) -> str:
        return media.url.removeprefix(self.url)

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Signer:
    """The test's stand-in for the server's signing key."""

    def __init__(self, kid: str = "k1") -> None:
        self.key = Ed25519PrivateKey.generate()
        self.kid = kid

    @property
    def public_b64(self) -> str:
        return protocol.public_key_b64(self.key)

    def sign(
        self,
        kind: protocol.Kind,
        body: Any,
        *,
        target: str = "device:loa-01",
        now: datetime | None = None,
        ttl: timedelta = timedelta(hours=2),
        envelope_id: str | None = None,
    ) -> bytes:
        """Sign a command; a plain `Item` or a dict without `target` is addressed to `target`.

        The default is the rig's usual agent (`loa-01`), whatever topic the test publishes on.
        """
        now = now or protocol.utc_now()
        if kind == "play" and type(body) is protocol.Item:
            body = protocol.PlayBody.of(target, body)
        elif isinstance(body, Mapping) and "target" not in body:
            body = {**body, "target": target}
        return protocol.sign_envelope(
            kind,
            body,
            key=self.key,
            kid=self.kid,
            now=now,
            expires_at=now + ttl,
            envelope_id=envelope_id,
        )

    def timeline(
        self,
        target: str,
        items: list[protocol.Item],
        *,
        version: int | None = None,
        now: datetime | None = None,
        envelope_id: str | None = None,
    ) -> bytes:
        """Sign a timeline; an explicit `version` (ms since the epoch) sets its `issued_at`."""
        now = now or protocol.utc_now()
        issued = (
            now
            if version is None
            else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=version)
        )
        return protocol.sign_timeline(
            target,
            items,
            horizon_until=now + timedelta(hours=1),
            key=self.key,
            kid=self.kid,
            now=issued,
            expires_at=now + timedelta(hours=2),
            envelope_id=envelope_id,
        )


def item(
    media: protocol.Media,
    play_at: datetime | None,
    *,
    occurrence_id: str | None = None,
    priority: int = 50,
    max_late_s: int = 60,
    volume: int | None = None,
) -> protocol.Item:
    return protocol.Item(
        occurrence_id=occurrence_id or uuid.uuid4().hex[:12],
        title="Thông báo",
        play_at=play_at,
        max_late_s=max_late_s,
        priority=priority,
        volume=volume,
        media=media,
    )


def live_item(
    play_at: datetime | None,
    until: datetime,
    *,
    occurrence_id: str | None = None,
    priority: int = 50,
    max_late_s: int = 60,
    host: str = "127.0.0.1",
    port: int = 1704,
    stream: str = "live-1",
) -> protocol.Item:
    """A live item (PROTOCOL v2) on a snapcast stream."""
    return protocol.Item(
        occurrence_id=occurrence_id or uuid.uuid4().hex[:12],
        title="Tiếp sóng",
        play_at=play_at,
        until=until,
        max_late_s=max_late_s,
        priority=priority,
        live=protocol.Live(engine="snapcast", host=host, port=port, stream=stream),
    )


class RecordingRelay:
    """An amplifier relay that remembers every switch (monotonic time, on)."""

    def __init__(self) -> None:
        self.is_on = False
        self.switches: list[tuple[float, bool]] = []

    def set(self, on: bool) -> None:
        if on != self.is_on:
            self.switches.append((time.monotonic(), on))
        self.is_on = on

    def close(self) -> None:
        self.set(False)


class MqttPeer:
    """A plain paho client for the test: publishes like the server, watches like it too."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def subscribe(self, topic: str) -> None:
        info = [None]
        done = threading.Event()

        def on_sub(*_a: Any) -> None:
            done.set()

        self.client.on_subscribe = on_sub
        self.client.subscribe(topic, qos=1)
        assert done.wait(10), f"no SUBACK for {topic}"
        del info

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def on(self, topic_suffix: str) -> list[bytes]:
        with self._lock:
            return [p for t, p in self.messages if t.endswith(topic_suffix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def agent_config(
    tmp: Path,
    *,
    broker_url: str,
    server_url: str,
    keys: Mapping[str, str],
    prefix: str,
    device_id: str = "loa-01",
    zone: str = "huyen/xa/thon-1",
    **sections: Mapping[str, Any],
) -> AgentConfig:
    data: dict[str, Any] = {
        "device": {"id": device_id, "zone": zone},
        "mqtt": {"url": broker_url, "keepalive": 5},
        "server": {"url": server_url, "public_keys": dict(keys)},
        "topic_prefix": prefix,
        "paths": {"state_dir": str(tmp / device_id / "state")},
        "player": {"kind": "file", "output_dir": str(tmp / device_id / "out")},
        "relay": {"pre_roll_s": 0.5, "post_roll_s": 0.5},
        "fetch": {
            "spread_s": 0,
            "margin_s": 0,
            "backoff_initial_s": 0.2,
            "fail_after": 1,
            "seed": 1,
        },
        "clock": {"check_interval_s": 60},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return config_from_mapping(data, env={})


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `cond` until it is truthy (returns it) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def started(agent: Any) -> Iterator[Any]:
    with agent:
        yield agent


class RecordingPlayer:
    """A player that remembers what it started (and when); plays for the item's duration."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, datetime, int]] = []
        self.start_mono: list[float] = []
        #: The machine's own clock at each start (`starts` has the agent's clock).
        self.real_starts: list[datetime] = []
        self.on_start: Callable[[], None] | None = None

    def prepare(self, item_: protocol.Item, path: Path) -> Any:
        from devices.players import Prepared

        return Prepared(item_, path)

    def start(self, prepared: Any, volume: int, clock: Any) -> Any:
        from devices.players import TimedPlayback

        now = clock.now()
        self.real_starts.append(protocol.utc_now())
        self.start_mono.append(time.monotonic())
        if self.on_start is not None:
            self.on_start()
        self.starts.append((prepared.item.occurrence_id, now, volume))
        return TimedPlayback(prepared.item.media.duration_ms / 1000, now)

    def close(self) -> None:
        pass

    def played(self) -> list[str]:
        return [occ for occ, _, _ in self.starts]


class FakeServer:
    """The server as the agent's HTTP sees it (a `FakeHttp`): clock checks (HEAD, with Date),
    media GETs, and the timeline pull (`timelines`: the envelopes it lists)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.clock_ok = True
        self.url = "http://server.test"
        #: What `GET /api/v1/agents/<id>/timelines` lists (None: the endpoint answers 404).
        self.timelines: list[bytes] | None = None
        self.pulls = 0

    def put(self, data: bytes, duration_ms: int = 300) -> protocol.Media:
        sha = hashlib.sha256(data).hexdigest()
        self.files[f"/media/{sha}.mp3"] = data
        return protocol.Media(
            url=f"{self.url}/media/{sha}.mp3", sha256=sha, bytes=len(data), duration_ms=duration_ms
        )

    def handle(self, method: str, url: str) -> Response:
        import email.utils
        import json
        from urllib.parse import urlsplit

        path = urlsplit(url).path
        if method == "HEAD":
            if not self.clock_ok:
                raise HttpError("server unreachable")
            date = email.utils.format_datetime(protocol.utc_now(), usegmt=True)
            return Response(200, {"date": date})
        if path.endswith("/timelines") and path.startswith("/api/v1/agents/"):
            self.pulls += 1
            if self.timelines is None:
                return Response(404)
            listed = [json.loads(p) for p in self.timelines]
            return Response(200, {"content-type": "application/json"}, json.dumps(listed).encode())
        data = self.files.get(path)
        return Response(200, body=data) if data is not None else Response(404)

    def client(self) -> FakeHttp:
        return FakeHttp(self.handle)


ZONE = "huyen/xa/thon-1"
DEVICE = "loa-01"
PREFIX = "pa/v2"
T = protocol.Topics(PREFIX)


@dataclass
class Rig:
    """One agent on a fake link, a recording player and a fake server, for unit tests."""

    agent: Agent
    link: FakeLink
    player: RecordingPlayer
    server: FakeServer
    signer: Signer
    live: FakeLiveClient
    #: None when the config names a GPIO pin (the agent then drives gpiozero's relay).
    relay: RecordingRelay | None

    @property
    def amp(self) -> RecordingRelay:
        """The recording relay (the rig was made without a GPIO pin)."""
        assert self.relay is not None, "this rig drives a GPIO relay"
        return self.relay

    def deliver(self, topic: str, payload: bytes) -> None:
        self.link.deliver(topic, payload)

    def receipts(self) -> list[protocol.Receipt]:
        return [protocol.parse_receipt(p) for t, p, _ in self.link.published if "/event/" in t]

    def rejected(self) -> dict[str, int]:
        return self.agent.state().rejected.to_wire()

    def plan(self) -> list[str]:
        """The occurrence ids of the merged plan, in order."""
        return [i.occurrence_id for i in self.agent.scheduler.plan.items]


def make_rig(
    tmp_path: Path,
    *,
    kernel: bool | None = None,
    signer: Signer | None = None,
    keys: Mapping[str, str] | None = None,
    server: FakeServer | None = None,
    **sections: Any,
) -> Rig:
    """An agent (not started) in `tmp_path`; `keys` overrides the signer's as the config's."""
    signer = signer or Signer()
    server = server or FakeServer()
    cfg = agent_config(
        tmp_path,
        broker_url="mqtt://127.0.0.1:1",
        server_url=server.url,
        keys=keys if keys is not None else {signer.kid: signer.public_b64},
        prefix=PREFIX,
        zone=ZONE,
        **sections,
    )
    link, player, live = FakeLink(), RecordingPlayer(), FakeLiveClient()
    relay = None if sections.get("relay", {}).get("pin") is not None else RecordingRelay()
    agent = Agent(
        cfg,
        link=link,
        player=player,
        relay=relay,
        live=live,
        http=server.client(),
        kernel_check=lambda: kernel,
    )
    live.on_state = agent.scheduler.live_state
    return Rig(agent, link, player, server, signer, live, relay)


def sign_raw(key: Ed25519PrivateKey, obj: dict[str, Any]) -> bytes:
    """Sign an arbitrary (possibly ill-shaped) envelope, as a compromised-shape test needs."""
    sig = key.sign(protocol.canonical_json(obj))
    return protocol.canonical_json({**obj, "sig": base64.b64encode(sig).decode()})


def raw_envelope(kind: str, body: Any, kid: str = "k1", **over: Any) -> dict[str, Any]:
    """An unsigned envelope dict, valid for an hour from now unless `over` says otherwise."""
    now = protocol.utc_now()
    env = {
        "v": protocol.PROTOCOL_VERSION,
        "id": "e" * 16,
        "kind": kind,
        "kid": kid,
        "body": body,
        "issued_at": protocol.format_instant(now),
        "expires_at": protocol.format_instant(now + timedelta(hours=1)),
    }
    env.update(over)
    return env


def play_body(m: protocol.Media, target: str = "device:loa-01", **over: Any) -> dict[str, Any]:
    """A `play` body (an emergency, as soon as possible) for `target`."""
    body = {**item(m, None, priority=protocol.EMERGENCY_PRIORITY).to_wire(), "target": target}
    body.update(over)
    return body


class TcpProxy:
    """A TCP relay to the broker (or any TCP service: `tcp://host:port`) that a test can cut
    (network gone) and restore; `url` has the target's scheme."""

    def __init__(self, target_url: str) -> None:
        scheme, _, address = target_url.rpartition("://")
        host, port = address.split(":")
        self.target = (host, int(port))
        self.port = free_port()
        self.url = f"{scheme or 'mqtt'}://127.0.0.1:{self.port}"
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            if self._server is not server:  # cut meanwhile
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._server is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.cut()


def clear_retained(url: str, prefix: str, settle_s: float = 0.5) -> int:
    """Delete every retained message under `prefix` (Mosquitto keeps them across runs)."""
    peer = MqttPeer(url)
    try:
        peer.subscribe(f"{prefix}/#")
        time.sleep(settle_s)
        topics = {t for t, p in peer.messages if p}
        for topic in topics:
            peer.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        return len(topics)
    finally:
        peer.close()
