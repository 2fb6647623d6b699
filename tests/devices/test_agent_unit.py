"""The agent's handling of messages, with a fake link, a recording player and a fake server.

Everything here that must not sound is checked against the recording player; every rejection
against the state's counters.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices import protocol
from devices.agent import Agent
from devices.link import FakeLink
from devices.storage import AgentStore
from tests.devices.support import FakeServer, RecordingPlayer, Signer, agent_config, item, wait_for

ZONE = "huyen/xa/thon-1"
T = protocol.Topics("pa/v1")


@dataclass
class Rig:
    agent: Agent
    link: FakeLink
    player: RecordingPlayer
    server: FakeServer
    signer: Signer

    def deliver(self, topic: str, payload: bytes) -> None:
        self.link.deliver(topic, payload)

    def receipts(self) -> list[protocol.Receipt]:
        return [protocol.parse_receipt(p) for t, p, _ in self.link.published if "/event/" in t]

    def rejected(self) -> dict[str, int]:
        return self.agent.state().rejected.to_wire()


def make_rig(tmp_path: Path, *, kernel: bool | None = None, **sections: Any) -> Rig:
    signer = Signer()
    server = FakeServer()
    cfg = agent_config(
        tmp_path,
        broker_url="mqtt://127.0.0.1:1",
        server_url=server.url,
        keys={signer.kid: signer.public_b64},
        prefix="pa/v1",
        zone=ZONE,
        **sections,
    )
    link, player = FakeLink(), RecordingPlayer()
    agent = Agent(cfg, link=link, player=player, http=server.client(), kernel_check=lambda: kernel)
    return Rig(agent, link, player, server, signer)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    with r.agent:
        wait_for(lambda: r.agent.state().clock_synced, 5, "clock check")
        yield r


def sign_raw(key: Ed25519PrivateKey, obj: dict[str, Any]) -> bytes:
    """Sign an arbitrary (possibly ill-shaped) envelope, as a compromised-shape test needs."""
    sig = key.sign(protocol.canonical_json(obj))
    return protocol.canonical_json({**obj, "sig": base64.b64encode(sig).decode()})


def raw_envelope(kind: str, body: Any, kid: str = "k1", **over: Any) -> dict[str, Any]:
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


def play_body(m: protocol.Media, **over: Any) -> dict[str, Any]:
    body = item(m, None, priority=100).to_wire()
    body.update(over)
    return body


def test_bad_messages_are_counted_by_reason_and_never_sound(rig: Rig) -> None:
    media = rig.server.put(b"sound" * 50)
    good = play_body(media)
    other = Ed25519PrivateKey.generate()
    cmd = T.cmd_device("loa-01")
    unsigned = protocol.canonical_json(raw_envelope("play", good))
    cases: list[tuple[str, bytes, str]] = [
        ("forged (another key)", sign_raw(other, raw_envelope("play", good)), "signature"),
        ("unsigned", unsigned, "signature"),
        (
            "unknown key id",
            sign_raw(rig.signer.key, raw_envelope("play", good, kid="k9")),
            "signature",
        ),
        (
            "expired",
            rig.signer.sign(
                "play", good, now=protocol.utc_now() - timedelta(hours=3), ttl=timedelta(hours=1)
            ),
            "expired",
        ),
        ("oversized", b"{" + b" " * (protocol.MAX_MESSAGE_BYTES + 1) + b"}", "malformed"),
        ("non-JSON", b"\xff\xfe not json", "malformed"),
        ("a JSON array", b"[1, 2]", "malformed"),
        (
            "wrong field type",
            sign_raw(rig.signer.key, raw_envelope("volume", {"volume": "loud"})),
            "malformed",
        ),
        ("unknown kind", sign_raw(rig.signer.key, raw_envelope("selfdestruct", {})), "malformed"),
        ("unknown version", sign_raw(rig.signer.key, raw_envelope("ping", {}, v=2)), "malformed"),
        (
            "media url not http",
            sign_raw(
                rig.signer.key,
                raw_envelope(
                    "play", play_body(media, media={**media.to_wire(), "url": "file:///etc/shadow"})
                ),
            ),
            "malformed",
        ),
        (
            "play_at years away",
            rig.signer.sign("play", item(media, protocol.utc_now() + timedelta(days=3 * 365))),
            "malformed",
        ),
    ]
    expected = dict.fromkeys(protocol.REJECTION_REASONS, 0)
    for what, payload, reason in cases:
        rig.deliver(cmd, payload)
        expected[reason] += 1
        assert rig.rejected() == expected, what
    # A valid command is not confused by all that, and plays; its replay is refused.
    ok = rig.signer.sign("play", good)
    rig.deliver(cmd, ok)
    rig.deliver(cmd, ok)
    expected["replayed"] += 1
    assert rig.rejected() == expected
    wait_for(lambda: rig.player.played(), 5, "the valid play")
    assert rig.player.played() == [good["occurrence_id"]]
    assert rig.agent.state().last_error is not None


def test_timeline_versions_only_grow_and_the_same_one_again_is_not_an_attack(rig: Rig) -> None:
    media = rig.server.put(b"a" * 100)
    target, topic = "zone:huyen/xa", T.timeline_zone("huyen/xa")
    far = protocol.utc_now() + timedelta(hours=1)
    v2 = rig.signer.timeline(target, [item(media, far, occurrence_id="new")], version=2000)
    v1 = rig.signer.timeline(target, [item(media, far, occurrence_id="old")], version=1000)
    rig.deliver(topic, v2)
    rig.deliver(topic, v2)  # the retained copy again after a reconnect
    assert rig.rejected()["replayed"] == 0
    rig.deliver(topic, v1)  # an older timeline replayed at us
    assert rig.rejected()["replayed"] == 1
    same_version = rig.signer.timeline(target, [], version=2000)
    rig.deliver(topic, same_version)
    assert rig.rejected()["replayed"] == 2
    assert rig.agent.state().timelines == {target: 2000}
    assert [i.occurrence_id for i in rig.agent._plan] == ["new"]


def test_a_timeline_moved_to_another_targets_topic_is_refused(rig: Rig) -> None:
    media = rig.server.put(b"a" * 100)
    soon = protocol.utc_now() + timedelta(hours=1)
    for_other_zone = rig.signer.timeline("zone:huyen/other", [item(media, soon)])
    rig.deliver(T.timeline_zone("huyen/xa"), for_other_zone)
    rig.deliver(T.timeline_zone("huyen/other"), for_other_zone)  # not our zone at all
    rig.deliver(T.cmd_zone("huyen"), for_other_zone)  # a timeline on a command topic
    rig.deliver("elsewhere/timeline/zone/huyen", for_other_zone)
    assert rig.rejected()["malformed"] == 4
    assert rig.agent._plan == ()


def test_absurd_items_are_dropped_from_an_otherwise_good_timeline(rig: Rig) -> None:
    media = rig.server.put(b"a" * 100)
    now = protocol.utc_now()
    items = [
        item(media, now + timedelta(days=3650), occurrence_id="absurd"),
        item(media, now + timedelta(hours=1), occurrence_id="fine"),
    ]
    rig.deliver(T.timeline_device("loa-01"), rig.signer.timeline("device:loa-01", items))
    assert [i.occurrence_id for i in rig.agent._plan] == ["fine"]
    assert rig.rejected()["malformed"] == 1


def test_wrong_media_hash_gives_failed_then_missed_and_no_sound(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, fetch={"fail_after": 1})
    good = rig.server.put(b"real" * 100)
    bad = good.model_copy(update={"sha256": "00" * 32})
    occ = item(bad, protocol.utc_now() + timedelta(seconds=0.3), max_late_s=0)
    with rig.agent:
        rig.deliver(T.timeline_zone("huyen"), rig.signer.timeline("zone:huyen", [occ]))
        kinds = wait_for(
            lambda: {r.type for r in rig.receipts()} >= {"failed", "missed"}, 5, "receipts"
        )
    assert kinds
    assert rig.player.starts == []
    missed = next(r for r in rig.receipts() if r.type == "missed")
    assert missed.detail == "media not available"


def test_unsynced_clock_holds_timed_items_but_not_an_emergency_play(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, kernel=False)
    rig.server.clock_ok = False
    media = rig.server.put(b"z" * 100, duration_ms=50)
    timed = item(media, protocol.utc_now() + timedelta(seconds=0.3), occurrence_id="timed")
    with rig.agent:
        assert rig.agent.state().clock_synced is False
        rig.deliver(T.timeline_zone("huyen"), rig.signer.timeline("zone:huyen", [timed]))
        rig.deliver(
            T.cmd_zone("huyen"), rig.signer.sign("play", play_body(media, occurrence_id="sos"))
        )
        wait_for(lambda: rig.player.played() == ["sos"], 5, "the emergency")
        wait_for(lambda: protocol.utc_now() > timed.play_at + timedelta(seconds=0.5), 5)  # type: ignore[operator]
        assert rig.player.played() == ["sos"]
        rig.server.clock_ok = True
        rig.agent._check_clock()  # as the periodic check would
        wait_for(lambda: rig.player.played() == ["sos", "timed"], 5, "the timed item")
        started = wait_for(
            lambda: [
                r for r in rig.receipts() if r.type == "started" and r.occurrence_id == "timed"
            ],
            5,
        )
    assert started[0].late_ms is not None and started[0].late_ms > 300


def test_emergency_interrupts_stop_stops_volume_persists_ping_answers(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    long = rig.server.put(b"long" * 100, duration_ms=60_000)
    cmd = T.cmd_device("loa-01")
    with rig.agent:
        wait_for(lambda: rig.agent.state().clock_synced, 5)
        rig.deliver(cmd, rig.signer.sign("volume", {"volume": 30}))
        rig.deliver(cmd, rig.signer.sign("play", item(long, None, occurrence_id="normal")))
        wait_for(lambda: rig.player.played() == ["normal"], 5)
        assert rig.player.starts[0][2] == 30
        rig.deliver(
            cmd, rig.signer.sign("play", item(long, None, occurrence_id="sos", priority=100))
        )
        wait_for(lambda: rig.player.played() == ["normal", "sos"], 5)
        rig.deliver(cmd, rig.signer.sign("stop", {}))
        wait_for(lambda: any(r.type == "finished" for r in rig.receipts()), 5)
        states_before = sum(1 for t, _, _ in rig.link.published if "/state/" in t)
        rig.deliver(cmd, rig.signer.sign("ping", {}))
        states_after = sum(1 for t, _, _ in rig.link.published if "/state/" in t)
    got = {(r.occurrence_id, r.type): r.detail for r in rig.receipts()}
    assert got[("normal", "failed")] == "interrupted by sos"
    assert got[("sos", "finished")] == "stopped by command"
    assert ("normal", "finished") not in got
    # The ping is answered synchronously; the player thread may publish a state of its own
    # (playback ended) in the same window, so count at least one, not exactly one.
    assert states_after >= states_before + 1
    assert AgentStore(tmp_path / "loa-01" / "state").load().volume == 30


def test_state_is_retained_and_complete(rig: Rig) -> None:
    def synced_states() -> list[tuple[bytes, bool]]:
        return [
            (p, r)
            for t, p, r in rig.link.published
            if t == T.state("loa-01") and protocol.parse_state(p).clock_synced
        ]

    payload, retained = wait_for(synced_states, 5, "a state after the clock check")[-1]
    state = protocol.parse_state(payload)
    assert retained
    assert state.online and state.agent_version and state.cache is not None
    assert state.clock_offset_ms is not None and abs(state.clock_offset_ms) < 2000
    assert json.loads(payload)["rejected"] == dict.fromkeys(protocol.REJECTION_REASONS, 0)


def test_receipts_stay_journaled_until_acked_and_are_resent_after_restart(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.link.hold_acks = True
    media = rig.server.put(b"q" * 100, duration_ms=10)
    with rig.agent:
        wait_for(lambda: rig.agent.state().clock_synced, 5)
        rig.deliver(
            T.cmd_device("loa-01"), rig.signer.sign("play", item(media, None, occurrence_id="p"))
        )
        wait_for(lambda: {r.type for r in rig.receipts()} >= {"fetched", "started", "finished"}, 5)
        rig.link.release_acks()
        wait_for(lambda: not rig.link.held, 1)
        rig.link.hold_acks = True
        rig.agent.emit("p", "skipped", detail="never acked")
    again = make_rig(tmp_path)
    with again.agent:
        resent = [r for r in again.receipts() if r.occurrence_id == "p"]
    assert [(r.type, r.detail) for r in resent] == [("skipped", "never acked")]
