"""A black-box conformance test of the agent against protocol v2 (PROTOCOL.md), as an attacker.

A real `pa-device run` (file player) on a private Mosquitto, its "server" a small HTTP server of
the test's own (clock, media, the timeline pull). The test holds the server's signing key and an
attacker's, and writes every message itself — canonical JSON and Ed25519 signatures by hand
with `cryptography`, its own paho client — without the project's protocol module, so that a
mistake shared by the agent and that module cannot hide. Every hole replayed must be refused,
make no sound, and be counted in the agent's published state.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from paho.mqtt.enums import CallbackAPIVersion

from tests.e2e.harness import BIN, MOSQUITTO, Mosquitto, Proc, wait_for

pytestmark = pytest.mark.network

PREFIX = f"conformance-{uuid.uuid4().hex[:6]}/v2"
ZONE = "cf/xa/thon-1"
DEVICE = "loa-cf"
REASONS = ("signature", "expired", "replayed", "malformed", "misdirected")


# --------------------------------------------------------------------------- the wire, by hand


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def instant(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def ms(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def whole_ms(dt: datetime) -> datetime:
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def public_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


@dataclass
class Key:
    kid: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def sign(
        self,
        kind: str,
        body: dict[str, Any],
        *,
        issued: datetime | None = None,
        ttl: timedelta = timedelta(hours=2),
        v: int = 2,
    ) -> bytes:
        issued = whole_ms(issued or datetime.now(UTC))
        env = {
            "v": v,
            "id": uuid.uuid4().hex,
            "kind": kind,
            "issued_at": instant(issued),
            "expires_at": instant(issued + ttl),
            "kid": self.kid,
            "body": body,
        }
        sig = self.key.sign(canonical(env))
        return canonical({**env, "sig": base64.b64encode(sig).decode()})

    def timeline(
        self, target: str, items: list[dict[str, Any]], *, issued: datetime | None = None
    ) -> bytes:
        issued = whole_ms(issued or datetime.now(UTC))
        horizon = issued + timedelta(hours=1)
        body = {
            "target": target,
            "version": ms(issued),
            "horizon_until": instant(horizon),
            "items": items,
        }
        return self.sign("timeline", body, issued=issued, ttl=timedelta(hours=2))


def topic(*parts: str) -> str:
    return "/".join((PREFIX, *parts))


# --------------------------------------------------------------------------- the server's stand-in


class Server:
    """Serves HEAD (Date, for the clock check), media by path, and the agent's timeline list."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.timelines: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                if self.path == f"/api/v1/agents/{DEVICE}/timelines":
                    data: bytes | None = b"[" + b",".join(server.timelines) + b"]"
                else:
                    data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def media(self, data: bytes) -> dict[str, Any]:
        sha = hashlib.sha256(data).hexdigest()
        self.files[f"/media/{sha}.mp3"] = data
        return {
            "url": f"{self.url}/media/{sha}.mp3",
            "sha256": sha,
            "bytes": len(data),
            "duration_ms": 50,
            "mime": "audio/mpeg",
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Peer:
    """The test's own paho client: publishes anything anywhere, watches the agent's state."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex[:12])
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        self.client.subscribe(topic("state", DEVICE), qos=1)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:
            with self._lock:
                self.state = json.loads(msg.payload)

    def publish(self, where: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(where, payload, qos=1, retain=retain).wait_for_publish(10)

    def rejected(self) -> dict[str, int]:
        with self._lock:
            return dict(self.state.get("rejected") or {})

    def timelines(self) -> dict[str, int]:
        with self._lock:
            return dict(self.state.get("timelines") or {})

    def online(self) -> bool:
        with self._lock:
            return bool(self.state.get("online"))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Rig:
    root: Path
    broker: Mosquitto
    server: Server
    peer: Peer
    legit: Key
    attacker: Key
    #: A second server key in the config at first, removed later (a stolen key revoked).
    extra: Key
    agent: Proc
    config: Path
    media: dict[str, Any]

    def item(self, occ: str, at: datetime, **over: Any) -> dict[str, Any]:
        return {
            "occurrence_id": occ,
            "title": "Kiểm tra",
            "play_at": instant(whole_ms(at)),
            "max_late_s": 5,
            "priority": 50,
            "volume": None,
            "media": self.media,
            **over,
        }

    def played(self) -> list[str]:
        path = self.root / "played" / "plays.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["occurrence_id"] for line in path.read_text().splitlines()]

    def ping(self) -> None:
        """A signed ping: the agent republishes its state (its counters as they are now)."""
        self.peer.publish(
            topic("cmd/device", DEVICE), self.legit.sign("ping", {"target": f"device:{DEVICE}"})
        )

    def counted(self, before: dict[str, int], reason: str, what: str) -> dict[str, int]:
        """Wait until `reason` grew by one over `before` (and nothing else did)."""

        def grown() -> dict[str, int] | None:
            now = self.peer.rejected()
            want = {r: before.get(r, 0) + (r == reason) for r in REASONS}
            return now if {r: now.get(r, 0) for r in REASONS} == want else None

        # The state after a refusal may be held back (at most one a second): a ping asks again.
        self.ping()
        got: dict[str, int] = wait_for(grown, f"{what}: counted as {reason}", timeout=20)
        return got

    def write_config(self, keys: dict[str, str]) -> None:
        self.config.write_text(
            tomli_w.dumps(
                {
                    "device": {"id": DEVICE, "zone": ZONE},
                    "mqtt": {"url": self.broker.url, "keepalive": 5},
                    "server": {"url": self.server.url, "public_keys": keys},
                    "topic_prefix": PREFIX,
                    "paths": {"state_dir": str(self.root / "state")},
                    "player": {"kind": "file", "output_dir": str(self.root / "played")},
                    "fetch": {"spread_s": 0, "margin_s": 0},
                }
            )
        )

    def restart(self, *, wipe: bool = False) -> None:
        """Stop and start the agent (`wipe`: with its state folder gone, as a new SD card)."""
        self.agent.stop()
        if wipe:
            shutil.rmtree(self.root / "state")
        self.peer.state = {}
        self.agent.start()
        wait_for(self.peer.online, "the agent back online")

    def fresh_state(self) -> dict[str, Any]:
        """The state the agent publishes in answer to a ping sent now: everything delivered
        before the ping has been handled by then (one connection delivers in order)."""
        before = self.peer.state.get("at")
        self.ping()
        wait_for(lambda: self.peer.state.get("at") != before, "the state answering a ping")
        return dict(self.peer.state)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    if not MOSQUITTO.exists():
        pytest.skip(f"{MOSQUITTO} not installed (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    server = Server()
    peer = Peer(broker.url)
    legit, attacker, extra = Key("k-server"), Key("k-server"), Key("k-extra")
    config = tmp_path / "config.toml"
    agent = Proc(
        DEVICE,
        [str(BIN / "pa-device"), "run", "--config", str(config)],
        log=tmp_path / "agent.log",
        env={"PATH": str(BIN)},
        cwd=tmp_path,
    )
    media = server.media(b"ID3" * 300)
    r = Rig(tmp_path, broker, server, peer, legit, attacker, extra, agent, config, media)
    r.write_config({legit.kid: public_b64(legit.key), extra.kid: public_b64(extra.key)})
    agent.start()
    try:
        wait_for(peer.online, "the agent online")
        yield r
    except BaseException:
        print(f"---- agent log ----\n{agent.tail()}")
        raise
    finally:
        agent.stop()
        agent.cleanup()
        peer.close()
        server.close()
        broker.proc.stop()
        broker.proc.cleanup()


def test_every_hole_replayed_is_refused_counted_and_silent(rig: Rig) -> None:
    now = datetime.now(UTC)
    zone = f"zone:{ZONE}"
    counts = rig.peer.rejected()
    assert counts == dict.fromkeys(REASONS, 0)

    # A play for the neighbouring zone, republished on our zone's topic and on our device's.
    neighbour = rig.legit.sign(
        "play", {**rig.item("neighbour", now, play_at=None), "target": "zone:cf/xa/thon-2"}
    )
    rig.peer.publish(topic("cmd/zone", ZONE), neighbour)
    counts = rig.counted(counts, "misdirected", "another zone's play on our zone's topic")
    rig.peer.publish(topic("cmd/device", DEVICE), neighbour)
    counts = rig.counted(counts, "misdirected", "another zone's play on our device's topic")

    # Our zone's play, moved to another device's topic is not even delivered to us; moved to
    # our parent zone's topic it is misdirected.
    ours = rig.legit.sign("play", {**rig.item("ours-moved", now, play_at=None), "target": zone})
    rig.peer.publish(topic("cmd/zone", "cf/xa"), ours)
    counts = rig.counted(counts, "misdirected", "our zone's play on the parent's topic")

    # A captured `volume 3`: taken once on its own topic, then replayed on the parent's.
    volume = rig.legit.sign("volume", {"target": zone, "volume": 3})
    rig.peer.publish(topic("cmd/zone", ZONE), volume)
    rig.ping()
    wait_for(lambda: rig.peer.state.get("volume") == 3, "the real volume command")
    rig.peer.publish(topic("cmd/zone", "cf/xa"), volume)
    counts = rig.counted(counts, "misdirected", "a captured volume on the parent's topic")
    rig.peer.publish(topic("cmd/zone", ZONE), volume)
    counts = rig.counted(counts, "replayed", "a captured volume replayed")

    # An envelope signed by the attacker's key (with the server's key id).
    forged = rig.attacker.sign("play", {**rig.item("forged", now, play_at=None), "target": zone})
    rig.peer.publish(topic("cmd/zone", ZONE), forged)
    counts = rig.counted(counts, "signature", "an envelope signed by the attacker")

    # A v1 envelope, validly signed.
    v1 = rig.legit.sign("play", {**rig.item("v1", now, play_at=None), "target": zone}, v=1)
    rig.peer.publish(topic("cmd/zone", ZONE), v1)
    counts = rig.counted(counts, "malformed", "a v1 envelope")

    # issued_at 10 minutes ahead.
    ahead = rig.legit.sign(
        "play",
        {**rig.item("ahead", now, play_at=None), "target": zone},
        issued=now + timedelta(minutes=10),
    )
    rig.peer.publish(topic("cmd/zone", ZONE), ahead)
    counts = rig.counted(counts, "expired", "issued_at 10 minutes ahead")

    # A timeline claiming version 10^15: its issue instant would be in the year 33658.
    far = rig.legit.sign(
        "timeline",
        {
            "target": zone,
            "version": 10**15,
            "horizon_until": instant(now + timedelta(hours=1)),
            "items": [rig.item("far", now + timedelta(seconds=3))],
        },
    )
    rig.peer.publish(topic("timeline/zone", ZONE), far, retain=True)
    counts = rig.counted(counts, "malformed", "a timeline whose version is not its issue instant")

    # The current timeline (retained and pulled), then an old one re-retained over it.
    t0 = datetime.now(UTC)
    later = t0 + timedelta(hours=1)
    old = rig.legit.timeline(zone, [rig.item("old-evil", later)], issued=t0 - timedelta(seconds=30))
    current = rig.legit.timeline(zone, [rig.item("current", later)], issued=t0)
    rig.server.timelines = [current]
    rig.peer.publish(topic("timeline/zone", ZONE), current, retain=True)
    wait_for(lambda: rig.peer.timelines().get(zone) == ms(whole_ms(t0)), "the current timeline")
    rig.peer.publish(topic("timeline/zone", ZONE), old, retain=True)
    counts = rig.counted(counts, "replayed", "an old timeline re-retained")

    # An empty retained payload: nothing counted, the plan kept.
    rig.peer.publish(topic("timeline/zone", ZONE), b"", retain=True)
    state = rig.fresh_state()
    assert state["timelines"].get(zone) == ms(whole_ms(t0))
    assert state["rejected"] == counts

    # A fresh agent (its state lost) meets an old timeline re-retained on the broker: the
    # pull brings the current one, which wins whichever arrives first; only it plays.
    t1 = datetime.now(UTC)
    play_at = t1 + timedelta(seconds=12)
    old = rig.legit.timeline(
        zone, [rig.item("old-evil", play_at)], issued=t1 - timedelta(seconds=30)
    )
    current = rig.legit.timeline(zone, [rig.item("current", play_at)], issued=t1)
    rig.server.timelines = [current]
    rig.peer.publish(topic("timeline/zone", ZONE), old, retain=True)
    rig.restart(wipe=True)
    wait_for(lambda: "current" in rig.played(), "the current timeline's item", timeout=30)
    assert rig.fresh_state()["timelines"].get(zone) == ms(whole_ms(t1))
    # "old-evil" had the same instant: had it been held, it would have played instead.
    assert rig.played() == ["current"]


def test_a_removed_key_is_revoked_with_what_it_signed(rig: Rig) -> None:
    device = f"device:{DEVICE}"
    t0 = datetime.now(UTC)
    soon = t0 + timedelta(seconds=10)
    # The (stolen) extra key signs a timeline 4 minutes ahead: the furthest the bound allows,
    # so its version is above that of any timeline the server issues for 4 minutes.
    stolen = rig.extra.timeline(
        device, [rig.item("stolen", soon)], issued=t0 + timedelta(minutes=4)
    )
    rig.peer.publish(topic("timeline/device", DEVICE), stolen, retain=True)
    wait_for(lambda: device in rig.peer.timelines(), "the stolen timeline held")

    # The key is removed from the config and the agent restarted. What it signed is forgotten
    # with its version; its copy still retained on the broker comes again and is refused.
    rig.write_config({rig.legit.kid: public_b64(rig.legit.key)})
    rig.restart()
    state = rig.fresh_state()
    assert device not in state["timelines"]
    assert state["rejected"]["signature"] == 1
    # A timeline issued now (a lower version than the stolen one's) is taken, and plays.
    good = rig.legit.timeline(device, [rig.item("good", soon)])
    rig.peer.publish(topic("timeline/device", DEVICE), good, retain=True)
    wait_for(lambda: "good" in rig.played(), "the later timeline's item", timeout=20)
    # "stolen" had the same instant: had it been held, it would have played instead.
    assert rig.played() == ["good"]
    assert rig.fresh_state()["rejected"]["replayed"] == 0
