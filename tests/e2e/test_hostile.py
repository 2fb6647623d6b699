"""Commands from a plain MQTT client — forged with another key, or a real one replayed — are
refused by real agents: no sound, and the rejection counted in their state."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from devices import protocol
from tests.devices.support import MqttPeer, Signer
from tests.e2e.harness import StateWatch, System, wait_for

pytestmark = pytest.mark.network


def rejected(watch: StateWatch, device_id: str) -> dict[str, int]:
    counts: dict[str, int] = watch.state(device_id).get("rejected") or {}
    return counts


def test_forged_and_replayed_commands_make_no_sound_and_are_counted(
    fleet: Callable[..., System], watch: StateWatch
) -> None:
    e2e = fleet(3)
    peer = MqttPeer(e2e.broker.url)  # anyone who can reach the broker
    try:
        peer.subscribe(f"{e2e.topics.prefix}/cmd/#")
        ann = e2e.announcement()
        occ = e2e.api.ok(
            "POST", "/broadcasts", 201, json={"announcement_id": ann["id"], "zones": ["e2e/xa"]}
        )["id"]
        wait_for(lambda: all(a.plays_of(occ) for a in e2e.agents.values()), "the real broadcast")
        topic = e2e.topics.cmd_zone("e2e/xa")
        captured = wait_for(lambda: peer.on(topic.removeprefix(e2e.topics.prefix)), "its command")
        real: dict[str, Any] = json.loads(captured[0])
        assert real["kind"] == "play"
        before = {d: rejected(watch, d) for d in e2e.agents}

        # Forged: the server's key id and a real media reference, signed with another key.
        forger = Signer(kid=real["kid"])
        body = {**real["body"], "occurrence_id": f"forged-{uuid.uuid4().hex[:8]}"}
        body.pop("play_at", None)  # "as soon as possible", were it accepted
        peer.publish(topic, forger.sign("play", protocol.PlayBody.model_validate(body)))
        # Replayed: the captured envelope, byte for byte.
        peer.publish(topic, captured[0])

        for device_id in e2e.agents:  # a signed ping makes each agent republish its state
            e2e.api.ok("POST", f"/devices/{device_id}/ping", 202)
        for device_id in e2e.agents:
            wait_for(
                lambda d=device_id: (  # type: ignore[misc]
                    rejected(watch, d).get("signature", 0) > before[d].get("signature", 0)
                    and rejected(watch, d).get("replayed", 0) > before[d].get("replayed", 0)
                ),
                f"{device_id}'s state counting the forged and the replayed command",
            )
    finally:
        peer.close()
    for agent in e2e.agents.values():
        played = [p["occurrence_id"] for p in agent.plays()]
        assert played == [occ], f"{agent.device_id} played {played}"
