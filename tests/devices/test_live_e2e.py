"""Live items end to end: a REAL snapserver (the server's `SnapcastEngine`) relaying a local
test radio (a tone served over HTTP, decoded by ffmpeg), real agents (`Agent`, file player, so
snapclient writes `<output_dir>/live.raw`), a real broker and signed timelines from the test.

Needs `snapserver`, `snapclient` and ffmpeg: skipped without them, failed under
PA_REQUIRE_SNAPCAST=1.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from audio.store import MediaStore
from devices import protocol
from devices.agent import Agent
from devices.live import SnapclientRunner
from pa_server.live.engine import LiveSession, SnapcastEngine
from pa_server.live.sources import RelaySource
from tests.devices.support import (
    MediaServer,
    MqttPeer,
    RecordingRelay,
    Signer,
    TcpProxy,
    agent_config,
    item,
    live_item,
    raw_envelope,
    wait_for,
)
from tests.live_support import (
    LOCAL_RADIO,
    AudioHttpServer,
    loud_seconds,
    read_mono,
    require_ffmpeg,
    require_snapcast,
    tone,
    wav_bytes,
)
from tests.live_support import wait_for as changes

pytestmark = [pytest.mark.network, pytest.mark.slow]

ZONE = "huyen/xa/thon-1"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SnapcastEngine]:
    """The server's live engine on a snapserver of its own (free ports, buffer 400 ms)."""
    require_snapcast()
    require_ffmpeg()
    eng = SnapcastEngine.managed(
        tmp_path / "live", streams=2, buffer_ms=400, media_store=MediaStore(tmp_path / "media")
    )
    with eng:
        yield eng


class Fleet:
    """Real agents in one zone, each with a recording relay; a peer that sees their traffic."""

    def __init__(
        self, tmp: Path, broker_url: str, prefix: str, media: MediaServer, signer: Signer
    ) -> None:
        self.tmp, self.broker_url, self.prefix = tmp, broker_url, prefix
        self.media, self.signer = media, signer
        self.topics = protocol.Topics(prefix)
        self.agents: dict[str, Agent] = {}
        self.relays: dict[str, RecordingRelay] = {}
        self.peer = MqttPeer(broker_url)
        self.peer.subscribe(f"{prefix}/#")
        # Device ids of this test's own: tests running side by side share the broker, where
        # one MQTT client id takes the session of another.
        self.tag = uuid.uuid4().hex[:6]

    def ids(self, n: int) -> list[str]:
        return [f"loa-{self.tag}-{i}" for i in range(1, n + 1)]

    def start(self, *device_ids: str) -> None:
        for device_id in device_ids:
            cfg = agent_config(
                self.tmp,
                broker_url=self.broker_url,
                server_url=self.media.url,
                keys={self.signer.kid: self.signer.public_b64},
                prefix=self.prefix,
                device_id=device_id,
                zone=ZONE,
            )
            relay = RecordingRelay()
            agent = Agent(cfg, relay=relay)
            agent.start()
            self.agents[device_id], self.relays[device_id] = agent, relay
        for device_id, agent in self.agents.items():
            wait_for(lambda a=agent: a.state().clock_synced, 10, f"{device_id}'s clock")
            wait_for(
                lambda d=device_id: any(
                    json.loads(p).get("online") for p in self.peer.on(f"/state/{d}")
                ),
                10,
                f"{device_id} online",
            )

    def timeline(self, device_id: str, items: list[protocol.Item]) -> None:
        target = f"device:{device_id}"
        self.peer.publish(
            self.topics.timeline_device(device_id), self.signer.timeline(target, items)
        )

    def command(self, device_id: str, payload: bytes) -> None:
        self.peer.publish(self.topics.cmd_device(device_id), payload)

    def out(self, device_id: str) -> Path:
        return self.tmp / device_id / "out" / "live.raw"

    def sound_s(self, device_id: str) -> float:
        return loud_seconds(read_mono(self.out(device_id)))

    def runner(self, device_id: str) -> SnapclientRunner:
        client = self.agents[device_id].live
        assert isinstance(client, SnapclientRunner)
        return client

    def receipts(self, device_id: str, occurrence_id: str) -> list[protocol.Receipt]:
        return [
            r
            for r in (protocol.parse_receipt(p) for p in self.peer.on(f"/event/{device_id}"))
            if r.occurrence_id == occurrence_id
        ]

    def kinds(self, device_id: str, occurrence_id: str) -> list[str]:
        return [r.type for r in self.receipts(device_id, occurrence_id)]

    def close(self) -> None:
        for agent in self.agents.values():
            agent.close()
        self.peer.close()


@pytest.fixture
def fleet(
    tmp_path: Path, broker_url: str, prefix: str, media_server: MediaServer, signer: Signer
) -> Iterator[Fleet]:
    f = Fleet(tmp_path, broker_url, prefix, media_server, signer)
    yield f
    f.close()


@pytest.fixture
def session(engine: SnapcastEngine) -> Iterator[Callable[[list[str], float], LiveSession]]:
    """Start a relay of a local test radio (a 500-Hz tone over HTTP) to target devices."""
    with AudioHttpServer(wav_bytes(tone(500, 150, rate=16_000), rate=16_000)) as radio:

        def start(targets: list[str], seconds: float) -> LiveSession:
            until = protocol.utc_now() + timedelta(seconds=seconds)
            return engine.start_session(
                targets,
                RelaySource(radio.url, guard=LOCAL_RADIO),
                title="Tiếp sóng thử",
                until=until,
            )

        yield start


def connected(engine: SnapcastEngine) -> set[str]:
    return set(engine.control.status().connected)


def test_a_live_session_plays_on_exactly_the_targeted_agents_between_its_times(
    engine: SnapcastEngine, fleet: Fleet, session: Callable[[list[str], float], LiveSession]
) -> None:
    a, b, c, d = fleet.ids(4)
    targets = [a, b, c]
    fleet.start(*targets, d)
    s = session(targets, 60)
    now = protocol.utc_now()
    live = live_item(
        now + timedelta(seconds=2),
        now + timedelta(seconds=8),
        occurrence_id="vov",
        **{k: v for k, v in s.live_ref().items() if k != "engine"},
    )
    for device_id in targets:
        fleet.timeline(device_id, [live])
    # d hears of the same stream only in refused messages: unsigned, expired, another key.
    unsigned = {**live.to_wire(), "target": f"device:{d}"}
    fleet.command(d, json.dumps(raw_envelope("play", unsigned)).encode())
    fleet.command(
        d,
        fleet.signer.sign(
            "play",
            live,
            target=f"device:{d}",
            now=now - timedelta(hours=1),
            ttl=timedelta(minutes=1),
        ),
    )
    fleet.command(d, Signer().sign("play", live, target=f"device:{d}"))
    for device_id in targets:
        wait_for(
            lambda d=device_id: fleet.kinds(d, "vov") == ["started"], 15, f"{device_id} started"
        )
        started = fleet.receipts(device_id, "vov")[0]
        assert started.late_ms is not None and started.late_ms >= 0  # not before play_at
    for device_id in targets:
        wait_for(lambda d=device_id: fleet.sound_s(d) >= 1.0, 15, f"sound on {device_id}")
        assert fleet.relays[device_id].is_on or fleet.kinds(device_id, "vov")[-1] == "finished"
    for device_id in targets:
        wait_for(
            lambda d=device_id: fleet.kinds(d, "vov") == ["started", "finished"],
            15,
            f"{device_id} finished at until",
        )
        finished = fleet.receipts(device_id, "vov")[1]
        assert finished.at >= live.until  # type: ignore[operator]
        assert finished.detail is None  # the stream did play
        runner = fleet.runner(device_id)
        assert runner.pid is None and runner.state == "stopped"
        size = fleet.out(device_id).stat().st_size
        # nothing more is written after until
        assert not changes(lambda d=device_id, n=size: fleet.out(d).stat().st_size != n, 0.5)
        wait_for(lambda d=device_id: not fleet.relays[d].is_on, 10, f"{device_id}'s amplifier off")
        assert [on for _, on in fleet.relays[device_id].switches] == [True, False]
    # The non-target: its messages refused, snapclient never ran, nothing reached its output.
    rejected = fleet.agents[d].state().rejected
    assert (rejected.signature, rejected.expired) == (2, 1)
    assert fleet.runner(d).restarts == 0 and fleet.runner(d).pid is None
    assert not fleet.out(d).exists()
    assert d not in set(engine.control.status().clients)
    assert fleet.relays[d].switches == []
    assert fleet.peer.on(f"/event/{d}") == []


def test_an_emergency_preempts_a_live_item_which_resumes_and_a_drop_silences(
    engine: SnapcastEngine,
    fleet: Fleet,
    session: Callable[[list[str], float], LiveSession],
    media_server: MediaServer,
) -> None:
    a, b, c = fleet.ids(3)
    targets = [a, b, c]
    fleet.start(*targets)
    s = session(targets, 120)
    ref = {k: v for k, v in s.live_ref().items() if k != "engine"}
    # c reaches the snapserver through a link the test can cut.
    proxy = TcpProxy(f"tcp://{s.host}:{s.port}")
    now = protocol.utc_now()
    until = now + timedelta(seconds=110)
    for device_id in targets:
        over = {"port": proxy.port} if device_id == c else {}
        live = live_item(now + timedelta(seconds=1), until, occurrence_id="vov", **{**ref, **over})
        fleet.timeline(device_id, [live])
    for device_id in targets:
        wait_for(lambda d=device_id: fleet.sound_s(d) >= 0.5, 20, f"sound on {device_id}")
        assert fleet.relays[device_id].is_on

    # An emergency file on a: the stream stops first, then resumes.
    sos_media = media_server.put(b"ID3 sos " * 200, duration_ms=1500)
    sos = item(sos_media, None, occurrence_id="sos", priority=protocol.EMERGENCY_PRIORITY)
    first_pid = fleet.runner(a).pid
    fleet.command(a, fleet.signer.sign("play", sos, target=f"device:{a}"))
    wait_for(lambda: fleet.kinds(a, "sos")[-1:] == ["started"], 10, "the emergency")
    wait_for(lambda: "finished" in fleet.kinds(a, "sos"), 10, "the emergency finished")
    wait_for(lambda: fleet.runner(a).state == "playing", 15, "the live item resumed")
    assert fleet.runner(a).pid not in (None, first_pid)
    before = fleet.sound_s(a)
    wait_for(lambda: fleet.sound_s(a) > before + 0.5, 15, f"sound again on {a}")
    assert fleet.relays[a].is_on
    assert fleet.kinds(a, "vov") == ["started"]  # resumed, not started again
    plays = (fleet.tmp / a / "out" / "plays.jsonl").read_text().splitlines()
    assert [json.loads(line)["occurrence_id"] for line in plays] == ["sos"]

    # The network to c drops mid-session: its amplifier goes off, and comes back.
    proxy.cut()
    wait_for(lambda: not fleet.relays[c].is_on, 15, f"{c}'s amplifier off")
    assert fleet.relays[b].is_on  # the others play on
    proxy.restore()
    wait_for(lambda: fleet.relays[c].is_on, 30, f"{c}'s amplifier on again")
    before = fleet.sound_s(c)
    wait_for(lambda: fleet.sound_s(c) > before + 0.5, 15, f"sound again on {c}")
    assert fleet.kinds(c, "vov") == ["started"]

    # A stop ends it for good on every target.
    for device_id in targets:
        fleet.command(
            device_id,
            fleet.signer.sign("stop", {"occurrence_id": "vov"}, target=f"device:{device_id}"),
        )
    for device_id in targets:
        wait_for(
            lambda d=device_id: fleet.kinds(d, "vov") == ["started", "finished"], 10, "finished"
        )
        assert fleet.runner(device_id).pid is None
    proxy.close()
