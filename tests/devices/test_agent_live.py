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
    assert abs(float(line["late_ms"])) <= 200  # loose here; bench/sync.py measures precisely
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
