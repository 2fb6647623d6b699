"""The agent against a real broker, a real HTTP media server and a test-side signing server."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from devices import protocol
from devices.agent import Agent
from tests.devices.support import (
    MediaServer,
    MqttPeer,
    Signer,
    TcpProxy,
    agent_config,
    item,
    wait_for,
)

pytestmark = pytest.mark.network


def plays(out: Path) -> list[dict[str, object]]:
    log = out / "plays.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def wait_online(peer: MqttPeer, device_id: str = "loa-01") -> None:
    """The agent's retained online state is published after it subscribed: safe to send."""
    wait_for(
        lambda: any(json.loads(p).get("online") for p in peer.on(f"/state/{device_id}")),
        10,
        "the agent online",
    )


def receipts(peer: MqttPeer) -> list[protocol.Receipt]:
    return [protocol.parse_receipt(p) for p in peer.on("/event/loa-01")]


def test_timeline_item_plays_on_time_and_reports(
    tmp_path: Path, broker_url: str, prefix: str, media_server: MediaServer, signer: Signer
) -> None:
    cfg = agent_config(
        tmp_path,
        broker_url=broker_url,
        server_url=media_server.url,
        keys={signer.kid: signer.public_b64},
        prefix=prefix,
    )
    topics = protocol.Topics(prefix)
    peer = MqttPeer(broker_url)
    peer.subscribe(f"{prefix}/#")
    media = media_server.put(b"ID3 fake mp3 bytes " * 100)
    play_at = protocol.utc_now() + timedelta(seconds=2)
    it = item(media, play_at)
    peer.publish(
        topics.timeline_zone("huyen/xa"), signer.timeline("zone:huyen/xa", [it]), retain=True
    )
    with Agent(cfg) as agent:
        wait_for(lambda: plays(tmp_path / "loa-01" / "out"), 6, "the play")
        kinds = wait_for(
            lambda: (
                {r.type for r in receipts(peer)} >= {"fetched", "started", "finished"}
                and [r.type for r in receipts(peer)]
            ),
            5,
            "receipts",
        )
        state = agent.state()
    line = plays(tmp_path / "loa-01" / "out")[0]
    assert line["occurrence_id"] == it.occurrence_id
    assert abs(float(str(line["late_ms"]))) <= 200  # loose here; bench/sync.py measures precisely
    started = next(r for r in receipts(peer) if r.type == "started")
    assert started.late_ms is not None and abs(started.late_ms) <= 200
    assert kinds.count("started") == 1
    copied = tmp_path / "loa-01" / "out" / str(line["file"])
    assert copied.read_bytes() == media_server.files[f"/media/{media.sha256}.mp3"]
    assert state.timelines == {"zone:huyen/xa": state.timelines["zone:huyen/xa"]}
    assert state.clock_synced is True
    states = wait_for(
        lambda: (
            (s := [json.loads(p) for p in peer.on("/state/loa-01")])
            and s[-1] == {"device_id": "loa-01", "online": False}
            and s
        ),
        5,
        "the goodbye state",
    )
    assert states[0]["online"] is True
    peer.close()


def test_broker_gone_after_the_timeline_still_plays_and_receipts_arrive_once(
    tmp_path: Path, broker_url: str, prefix: str, media_server: MediaServer, signer: Signer
) -> None:
    proxy = TcpProxy(broker_url)
    cfg = agent_config(
        tmp_path,
        broker_url=proxy.url,
        server_url=media_server.url,
        keys={signer.kid: signer.public_b64},
        prefix=prefix,
    )
    topics = protocol.Topics(prefix)
    peer = MqttPeer(broker_url)
    peer.subscribe(f"{prefix}/#")
    media = media_server.put(b"ID3 offline " * 100, duration_ms=200)
    # Far enough ahead that "fetched" is out and acknowledged before the cut, even on a
    # loaded machine: the cut must fall between "fetched" and "started".
    it = item(media, protocol.utc_now() + timedelta(seconds=4))
    with Agent(cfg) as agent:
        wait_online(peer)
        peer.publish(topics.timeline_device("loa-01"), signer.timeline("device:loa-01", [it]))
        wait_for(lambda: {r.type for r in receipts(peer)} == {"fetched"}, 5, "fetched")
        # The broker's PUBACK for "fetched" must be back before the cut: a PUBACK lost in the
        # cut leaves "fetched" journaled, and QoS 1 rightly sends it again (the server drops
        # the duplicate by receipt id), which is not what this test is about.
        wait_for(lambda: not agent.reporter.journal.pending(), 3, "fetched acknowledged")
        proxy.cut()  # the broker is gone from here on
        wait_for(lambda: plays(tmp_path / "loa-01" / "out"), 10, "the play while offline")

        def journaled() -> set[str]:
            return {r.type for _, r in agent.reporter.journal.pending()}

        # The play line is written as the sound starts; "started" is journaled just after it.
        wait_for(lambda: "started" in journaled(), 3, "the started receipt journaled")
        assert {r.type for r in receipts(peer)} == {"fetched"}
        proxy.restore()
        wait_for(lambda: not agent.reporter.journal.pending(), 15, "the journal to drain")
        wait_for(lambda: {"started", "finished"} <= {r.type for r in receipts(peer)}, 5)
    late = plays(tmp_path / "loa-01" / "out")[0]["late_ms"]
    assert abs(float(late)) <= 200  # type: ignore[arg-type]
    got = [(r.occurrence_id, r.type) for r in receipts(peer)]
    assert sorted(got) == sorted(
        {(it.occurrence_id, t) for t in ("fetched", "started", "finished")}
    )
    peer.close()
    proxy.close()


def test_restarted_with_no_network_plays_from_disk(
    tmp_path: Path, broker_url: str, prefix: str, media_server: MediaServer, signer: Signer
) -> None:
    keys = {signer.kid: signer.public_b64}
    cfg = agent_config(
        tmp_path,
        broker_url=broker_url,
        server_url=media_server.url,
        keys=keys,
        prefix=prefix,
    )
    topics = protocol.Topics(prefix)
    peer = MqttPeer(broker_url)
    peer.subscribe(f"{prefix}/#")
    media = media_server.put(b"ID3 from disk " * 100, duration_ms=100)
    it = item(media, protocol.utc_now() + timedelta(seconds=3))
    with Agent(cfg) as agent:
        wait_online(peer)
        peer.publish(topics.timeline_zone("huyen"), signer.timeline("zone:huyen", [it]))
        wait_for(lambda: agent.cache.has(media), 5, "the media in the cache")
    peer.close()
    media_server.close()  # neither the server nor the broker is reachable any more
    dead = agent_config(
        tmp_path,
        broker_url="mqtt://127.0.0.1:9",
        server_url="http://127.0.0.1:9",
        keys=keys,
        prefix=prefix,
    )
    # The kernel's NTP flag stands in for the clock check the unreachable server cannot answer.
    with Agent(dead, kernel_check=lambda: True) as agent:
        line = wait_for(lambda: plays(tmp_path / "loa-01" / "out"), 6, "the play from disk")[0]
        assert line["occurrence_id"] == it.occurrence_id
        assert abs(float(line["late_ms"])) <= 200
        assert agent.state().clock_synced is True


def test_a_crawling_media_server_does_not_make_another_item_miss_its_minute(
    tmp_path: Path, broker_url: str, prefix: str, media_server: MediaServer, signer: Signer
) -> None:
    """Finding: a media server sending one byte a second held the single fetch thread for
    40 s and another item was missed. Downloads now run side by side, each held to a minimum
    rate; the item whose file crawls is given up (failed, then missed), the other plays."""
    cfg = agent_config(
        tmp_path,
        broker_url=broker_url,
        server_url=media_server.url,
        keys={signer.kid: signer.public_b64},
        prefix=prefix,
        fetch={"min_rate_bps": 1000, "rate_window_s": 1.0, "backoff_initial_s": 30},
    )
    topics = protocol.Topics(prefix)
    peer = MqttPeer(broker_url)
    peer.subscribe(f"{prefix}/#")
    crawling = media_server.put(b"ID3 crawling " * 100, duration_ms=100)
    media_server.trickle[media_server.path_of(crawling)] = 1.0
    fine = media_server.put(b"ID3 fine " * 100, duration_ms=100)
    now = protocol.utc_now()
    first = item(crawling, now + timedelta(seconds=2), occurrence_id="crawling", max_late_s=1)
    second = item(fine, now + timedelta(seconds=2.5), occurrence_id="fine")
    with Agent(cfg):
        wait_online(peer)
        peer.publish(
            topics.timeline_device("loa-01"), signer.timeline("device:loa-01", [first, second])
        )
        wait_for(lambda: plays(tmp_path / "loa-01" / "out"), 8, "the play")
        wait_for(
            lambda: ("crawling", "missed") in {(r.occurrence_id, r.type) for r in receipts(peer)},
            8,
            "the crawling item reported missed",
        )
    assert [p["occurrence_id"] for p in plays(tmp_path / "loa-01" / "out")] == ["fine"]
    got = {(r.occurrence_id, r.type): r.detail for r in receipts(peer)}
    assert "too slow" in str(got[("crawling", "failed")])
    assert ("fine", "started") in got
    peer.close()
