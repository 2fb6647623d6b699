"""Live items (PROTOCOL v2 `live`) in the whole agent, with a fake live client and a recording
relay: the client runs only while a verified live item is due, the amplifier follows the
stream, pre-emption and resumption, and receipts once each.

The same against a real snapserver and real snapclients: tests/devices/test_live_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from devices import protocol
from devices.live import LiveTarget
from tests.devices.support import (
    DEVICE,
    Rig,
    Signer,
    T,
    item,
    live_item,
    make_rig,
    raw_envelope,
    wait_for,
)

EMERGENCY = protocol.EMERGENCY_PRIORITY
TARGET = LiveTarget("127.0.0.1", 1704, "live-1")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path)
    with r.agent:
        wait_for(lambda: r.agent.state().clock_synced, 5, "clock check")
        yield r


def kinds(rig: Rig, occurrence_id: str) -> list[str]:
    return [r.type for r in rig.receipts() if r.occurrence_id == occurrence_id]


def starts(rig: Rig) -> list[LiveTarget | None]:
    return [t for call, t in rig.live.calls if call == "start"]


def test_a_live_item_runs_the_client_between_play_at_and_until(rig: Rig) -> None:
    now = protocol.utc_now()
    live = live_item(now + timedelta(seconds=1), now + timedelta(seconds=2.5), occurrence_id="l")
    rig.deliver(T.timeline_zone("huyen"), rig.signer.timeline("zone:huyen", [live]))
    assert rig.live.target is None and not rig.amp.is_on
    wait_for(lambda: rig.amp.is_on, 5, "the pre-roll")
    assert rig.live.target is None  # the amplifier warms up before the stream is let through
    wait_for(lambda: rig.live.target == TARGET, 5, "the client started")
    assert protocol.utc_now() >= live.play_at  # type: ignore[operator]
    wait_for(lambda: rig.live.target is None, 5, "the client stopped at until")
    assert protocol.utc_now() >= live.until  # type: ignore[operator]
    wait_for(lambda: not rig.amp.is_on, 5, "the amplifier off after the post-roll")
    wait_for(lambda: kinds(rig, "l") == ["started", "finished"], 5, "receipts")
    assert rig.live.calls == [("start", TARGET), ("stop", None)]
    assert [on for _, on in rig.amp.switches] == [True, False]
    started = next(r for r in rig.receipts() if r.type == "started")
    assert started.late_ms is not None and abs(started.late_ms) < 1000
    assert rig.player.starts == []  # a stream plays nothing through the file player


def test_a_live_play_command_joins_now_and_a_stop_silences_it(rig: Rig) -> None:
    until = protocol.utc_now() + timedelta(minutes=5)
    rig.deliver(
        T.cmd_device(DEVICE), rig.signer.sign("play", live_item(None, until, occurrence_id="l"))
    )
    wait_for(lambda: rig.live.target == TARGET, 5, "the client started")
    assert rig.amp.is_on
    assert rig.agent.state().playing is not None
    rig.deliver(T.cmd_device(DEVICE), rig.signer.sign("stop", {"occurrence_id": "l"}))
    wait_for(lambda: rig.live.target is None, 5, "the client stopped")
    wait_for(lambda: kinds(rig, "l") == ["started", "finished"], 5, "receipts")
    assert next(r for r in rig.receipts() if r.type == "finished").detail == "stopped by command"
    wait_for(lambda: not rig.amp.is_on, 5, "the amplifier off")


def test_a_network_drop_turns_the_amplifier_off_and_it_comes_back(rig: Rig) -> None:
    until = protocol.utc_now() + timedelta(minutes=5)
    rig.deliver(
        T.cmd_device(DEVICE), rig.signer.sign("play", live_item(None, until, occurrence_id="l"))
    )
    wait_for(lambda: rig.live.target == TARGET and rig.amp.is_on, 5, "playing")
    rig.live.set_state("disconnected")
    wait_for(lambda: not rig.amp.is_on, 5, "the amplifier off")
    assert rig.live.target == TARGET  # snapclient keeps trying by itself
    rig.live.set_state("playing")
    wait_for(lambda: rig.amp.is_on, 5, "the amplifier on again")
    assert kinds(rig, "l") == ["started"]


def test_an_emergency_file_preempts_a_live_item_which_resumes(rig: Rig) -> None:
    until = protocol.utc_now() + timedelta(minutes=5)
    rig.deliver(
        T.cmd_device(DEVICE), rig.signer.sign("play", live_item(None, until, occurrence_id="l"))
    )
    wait_for(lambda: rig.live.target == TARGET, 5, "the live item")
    media = rig.server.put(b"sos" * 100, duration_ms=800)
    sos = item(media, None, occurrence_id="sos", priority=EMERGENCY)
    rig.deliver(T.cmd_device(DEVICE), rig.signer.sign("play", sos))
    wait_for(lambda: rig.player.played() == ["sos"], 5, "the emergency")
    assert rig.live.calls[:2] == [("start", TARGET), ("stop", None)]  # the stream stopped first
    wait_for(lambda: rig.live.target == TARGET, 5, "the live item resumed")
    assert starts(rig) == [TARGET, TARGET]
    assert rig.amp.is_on
    wait_for(lambda: kinds(rig, "sos") == ["fetched", "started", "finished"], 5, "sos receipts")
    assert kinds(rig, "l") == ["started"]  # resumed, not started again
    rig.deliver(T.cmd_device(DEVICE), rig.signer.sign("stop", {}))
    wait_for(lambda: kinds(rig, "l") == ["started", "finished"], 5, "finished once")


def test_a_normal_file_never_interrupts_an_emergency_live_item(rig: Rig) -> None:
    until = protocol.utc_now() + timedelta(minutes=5)
    live = live_item(None, until, occurrence_id="l", priority=EMERGENCY)
    rig.deliver(T.cmd_device(DEVICE), rig.signer.sign("play", live))
    wait_for(lambda: rig.live.target == TARGET, 5, "the live item")
    media = rig.server.put(b"n" * 100, duration_ms=300)
    normal = item(
        media, protocol.utc_now() + timedelta(seconds=0.3), occurrence_id="n", max_late_s=0
    )
    rig.deliver(T.timeline_zone("huyen"), rig.signer.timeline("zone:huyen", [normal]))
    wait_for(lambda: "missed" in kinds(rig, "n"), 5, "the normal item missed")
    assert rig.player.starts == []
    assert rig.live.calls == [("start", TARGET)]


def test_a_higher_priority_file_interrupts_a_normal_live_item_until_is_kept(rig: Rig) -> None:
    """An item that outranks a live one interrupts it; if `until` passes meanwhile, the live
    item ends (finished once) without coming back."""
    until = protocol.utc_now() + timedelta(seconds=1.5)
    rig.deliver(
        T.cmd_device(DEVICE), rig.signer.sign("play", live_item(None, until, occurrence_id="l"))
    )
    wait_for(lambda: rig.live.target == TARGET, 5, "the live item")
    media = rig.server.put(b"p" * 100, duration_ms=3000)
    rig.deliver(
        T.cmd_device(DEVICE),
        rig.signer.sign("play", item(media, None, occurrence_id="p", priority=80)),
    )
    wait_for(lambda: rig.player.played() == ["p"], 5, "the priority item")
    wait_for(lambda: kinds(rig, "l") == ["started", "finished"], 5, "the live item ended")
    assert next(r for r in rig.receipts() if r.type == "finished").detail == (
        "ended while interrupted"
    )
    wait_for(lambda: "finished" in kinds(rig, "p"), 6, "the priority item finished")
    assert starts(rig) == [TARGET]  # never resumed after its until


def test_a_live_item_withdrawn_by_a_newer_timeline_is_silenced(rig: Rig) -> None:
    now = protocol.utc_now()
    live = live_item(now, now + timedelta(minutes=5), occurrence_id="l")
    rig.deliver(T.timeline_zone("huyen"), rig.signer.timeline("zone:huyen", [live]))
    wait_for(lambda: rig.live.target == TARGET, 5, "the live item")
    rig.deliver(T.timeline_zone("huyen"), rig.signer.timeline("zone:huyen", []))
    wait_for(lambda: rig.live.target is None, 5, "silenced")
    wait_for(lambda: kinds(rig, "l") == ["started", "finished"], 5, "receipts")


def test_refused_live_items_never_start_the_client(rig: Rig) -> None:
    now = protocol.utc_now()
    until = now + timedelta(minutes=5)
    cmd = T.cmd_device(DEVICE)

    def play(occ: str) -> protocol.Item:
        return live_item(None, until, occurrence_id=occ)

    def timed(occ: str) -> protocol.Item:
        return live_item(now, until, occurrence_id=occ)

    rig.deliver(cmd, Signer().sign("play", play("wrong-key")))
    rig.deliver(T.timeline_zone("huyen"), Signer().timeline("zone:huyen", [timed("k2")]))
    unsigned = raw_envelope("play", {**play("unsigned").to_wire(), "target": "device:loa-01"})
    rig.deliver(cmd, json.dumps(unsigned).encode())
    rig.deliver(
        cmd,
        rig.signer.sign(
            "play", play("expired"), now=now - timedelta(hours=1), ttl=timedelta(minutes=5)
        ),
    )
    rig.deliver(T.cmd_zone("huyen"), rig.signer.sign("play", play("wrong-topic")))
    rig.deliver(cmd, rig.signer.sign("play", play("other"), target="device:loa-02"))
    rig.deliver(T.timeline_zone("huyen"), rig.signer.timeline("zone:other", [timed("other-zone")]))
    expected = dict.fromkeys(protocol.REJECTION_REASONS, 0)
    expected.update(signature=3, expired=1, misdirected=3)
    assert rig.rejected() == expected
    # A valid one plays and ends; its replay is refused and starts nothing.
    short = live_item(None, protocol.utc_now() + timedelta(seconds=0.8), occurrence_id="ok")
    ok = rig.signer.sign("play", short)
    rig.deliver(cmd, ok)
    wait_for(lambda: kinds(rig, "ok") == ["started", "finished"], 5, "the valid one")
    rig.deliver(cmd, ok)
    assert rig.rejected()["replayed"] == 1
    rig.agent.scheduler.kick()
    assert starts(rig) == [TARGET]
    assert {r.occurrence_id for r in rig.receipts()} == {"ok"}


def test_without_snapclient_a_live_item_fails_once(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, live={"binary": "snapclient-not-installed"})
    from devices.agent import make_live_client

    rig.agent.live = rig.agent.scheduler.live = make_live_client(
        rig.agent.config, rig.agent.scheduler.live_state
    )
    with rig.agent:
        wait_for(lambda: rig.agent.state().clock_synced, 5, "clock check")
        until = protocol.utc_now() + timedelta(minutes=5)
        rig.deliver(
            T.cmd_device(DEVICE), rig.signer.sign("play", live_item(None, until, occurrence_id="l"))
        )
        wait_for(lambda: kinds(rig, "l") == ["failed"], 5, "failed")
        assert "not installed" in (rig.receipts()[0].detail or "")
        wait_for(lambda: not rig.amp.is_on, 5, "the amplifier off")
    assert kinds(rig, "l") == ["failed"]


@pytest.mark.parametrize("via", ["timeline", "command"])
def test_a_restarted_agent_resumes_a_live_item_without_a_second_start(
    tmp_path: Path, via: str
) -> None:
    first = make_rig(tmp_path)
    now = protocol.utc_now()
    live = live_item(now, now + timedelta(minutes=5), occurrence_id="l")
    with first.agent:
        wait_for(lambda: first.agent.state().clock_synced, 5, "clock check")
        if via == "timeline":
            first.deliver(T.timeline_zone("huyen"), first.signer.timeline("zone:huyen", [live]))
        else:
            first.deliver(T.cmd_device(DEVICE), first.signer.sign("play", live))
        wait_for(lambda: kinds(first, "l") == ["started"], 5, "started")
    assert first.live.target is None  # closed: silent
    again = make_rig(tmp_path, signer=first.signer)
    with again.agent:
        wait_for(lambda: again.live.target == TARGET, 10, "resumed after the restart")
        again.deliver(T.cmd_device(DEVICE), again.signer.sign("stop", {"occurrence_id": "l"}))
        wait_for(lambda: kinds(again, "l") == ["finished"], 5, "finished")
    assert starts(again) == [TARGET]


def test_a_newer_timeline_may_extend_a_live_item_or_move_its_stream(rig: Rig) -> None:
    now = protocol.utc_now()
    live = live_item(now, now + timedelta(seconds=1.5), occurrence_id="l")
    topic = T.timeline_zone("huyen")
    rig.deliver(topic, rig.signer.timeline("zone:huyen", [live]))
    wait_for(lambda: rig.live.target == TARGET, 5, "the live item")
    longer = live.model_copy(update={"until": now + timedelta(minutes=5)})
    rig.deliver(topic, rig.signer.timeline("zone:huyen", [longer]))
    wait_for(lambda: protocol.utc_now() > live.until + timedelta(seconds=0.5), 5)  # type: ignore[operator]
    assert rig.live.target == TARGET and kinds(rig, "l") == ["started"]  # still playing
    moved = longer.model_copy(update={"live": longer.live.model_copy(update={"stream": "live-2"})})  # type: ignore[union-attr]
    rig.deliver(topic, rig.signer.timeline("zone:huyen", [moved]))
    wait_for(lambda: rig.live.target == LiveTarget("127.0.0.1", 1704, "live-2"), 5, "moved")
    assert kinds(rig, "l") == ["started"]


def test_an_interrupted_live_item_withdrawn_meanwhile_never_comes_back(rig: Rig) -> None:
    now = protocol.utc_now()
    live = live_item(now, now + timedelta(minutes=5), occurrence_id="l")
    topic = T.timeline_zone("huyen")
    rig.deliver(topic, rig.signer.timeline("zone:huyen", [live]))
    wait_for(lambda: rig.live.target == TARGET, 5, "the live item")
    media = rig.server.put(b"sos" * 100, duration_ms=1500)
    sos = item(media, None, occurrence_id="sos", priority=EMERGENCY)
    rig.deliver(T.cmd_device(DEVICE), rig.signer.sign("play", sos))
    wait_for(lambda: rig.player.played() == ["sos"], 5, "the emergency")
    rig.deliver(topic, rig.signer.timeline("zone:huyen", []))  # the session was ended
    wait_for(lambda: "finished" in kinds(rig, "sos"), 5, "the emergency finished")
    wait_for(lambda: kinds(rig, "l") == ["started", "finished"], 5, "the live item ended")
    assert next(r for r in rig.receipts() if r.occurrence_id == "l" and r.type == "finished")
    wait_for(lambda: not rig.amp.is_on, 5, "the amplifier off")
    assert starts(rig) == [TARGET]  # never let through again


@pytest.mark.parametrize("via", ["timeline", "play"])
def test_a_live_item_whose_key_was_removed_never_sounds_after_a_restart(
    tmp_path: Path, via: str
) -> None:
    """Hostile: a due live item stored under a key the config no longer lists (a key revoked
    by removing it and restarting) is forgotten, not resumed."""
    first = make_rig(tmp_path)
    now = protocol.utc_now()
    live = live_item(now, now + timedelta(minutes=5), occurrence_id="revoked")
    with first.agent:
        wait_for(lambda: first.agent.state().clock_synced, 5, "clock check")
        if via == "timeline":
            first.deliver(T.timeline_zone("huyen"), first.signer.timeline("zone:huyen", [live]))
        else:
            first.deliver(T.cmd_device(DEVICE), first.signer.sign("play", live))
        wait_for(lambda: kinds(first, "revoked") == ["started"], 5, "started")
    other = Signer()
    again = make_rig(tmp_path, signer=other, keys={other.kid: other.public_b64})
    with again.agent:
        wait_for(lambda: again.agent.state().clock_synced, 5, "clock check")
        again.agent.scheduler.kick()
        # A signed item under the remaining key still plays: the agent is alive and listening.
        ok = live_item(None, protocol.utc_now() + timedelta(seconds=0.8), occurrence_id="ok")
        again.deliver(T.cmd_device(DEVICE), again.signer.sign("play", ok))
        wait_for(lambda: kinds(again, "ok") == ["started", "finished"], 5, "the valid one")
    assert starts(again) == [TARGET]  # only "ok": the revoked item never came back


def test_a_signed_live_item_already_over_never_starts_the_client(rig: Rig) -> None:
    """Hostile: a captured, validly signed live item replayed as a fresh `play` after its
    `until` (within its envelope's expiry) starts nothing."""
    now = protocol.utc_now()
    over = live_item(now - timedelta(minutes=3), now - timedelta(seconds=1), occurrence_id="over")
    rig.deliver(T.cmd_device(DEVICE), rig.signer.sign("play", over))
    rig.deliver(T.timeline_zone("huyen"), rig.signer.timeline("zone:huyen", [over]))
    # A later valid item proves the agent handled both before it.
    ok = live_item(None, protocol.utc_now() + timedelta(seconds=0.8), occurrence_id="ok")
    rig.deliver(T.cmd_device(DEVICE), rig.signer.sign("play", ok))
    wait_for(lambda: kinds(rig, "ok") == ["started", "finished"], 5, "the valid one")
    assert starts(rig) == [TARGET]
    assert "started" not in kinds(rig, "over")
