"""Live audio through the whole stack: `pa-server run` (its Runtime, its own snapserver), a
private broker and `pa-device run` agents with the file player (snapclient writes
`<output_dir>/live.raw`), a local HTTP test radio decoded by the server's ffmpeg.

A relay is approved and scheduled through the API like any announcement; the leader's
planner cycle starts its session (`run_due_relays`), the timeline carries the signed live
item, and only the zone's agents play it, between its start and its end, and report it. A
relay started now is pre-empted by an emergency file on one loudspeaker and resumes after.

Needs `snapserver`, `snapclient` and ffmpeg: skipped without them, failed under
PA_REQUIRE_SNAPCAST=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import AgentProc, StateWatch, System, instant, now_plus, wait_for
from tests.live_support import (
    LOCAL_NETWORKS,
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

ZONE = "e2e/xa/thon-1"
OTHER = "e2e/xa/thon-2"
#: Schedule → planner cycle (2 s) → relay session → timeline on the agents, on a loaded machine.
LEAD_S = 10


@pytest.fixture
def server_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The server runs its own snapserver on free ports (tests side by side never collide)."""
    require_snapcast()
    require_ffmpeg()
    yield {
        "PA_SNAPSERVER_STREAM_PORT": "0",
        "PA_SNAPSERVER_BUFFER_MS": "400",
        "PA_RELAY_ALLOWED_NETWORKS": LOCAL_NETWORKS,  # the test radio is on loopback
    }
    # snapserver runs in a process session of its own: a server that did not stop cleanly
    # leaves it behind, named by its pid file.
    pid_file = tmp_path / "server" / "live" / "snapserver" / "snapserver.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text("ascii").strip())
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"snapserver" in cmdline.read_bytes():
            os.kill(pid, 9)


@pytest.fixture
def radio() -> Iterator[AudioHttpServer]:
    """A local test radio: a 440-Hz tone as WAV over HTTP."""
    with AudioHttpServer(wav_bytes(tone(440, 150, rate=16_000), rate=16_000)) as server:
        yield server


def live_raw(agent: AgentProc) -> Path:
    return agent.out_dir / "live.raw"


def sound_s(agent: AgentProc) -> float:
    return loud_seconds(read_mono(live_raw(agent)))


def size(agent: AgentProc) -> int:
    path = live_raw(agent)
    return path.stat().st_size if path.exists() else 0


def kinds(watch: StateWatch, device_id: str, occurrence_id: str) -> list[str]:
    """The receipt types an agent sent for an occurrence, in order (seen on the broker)."""
    return [
        r["type"]
        for r in list(watch.receipts)
        if r.get("device_id") == device_id and r.get("occurrence_id") == occurrence_id
    ]


def fleet(e2e: System, watch: StateWatch) -> tuple[list[AgentProc], AgentProc]:
    """Three agents in ZONE and one in OTHER, with device ids of this test run's own."""
    e2e.add_zone(ZONE)
    e2e.add_zone(OTHER)
    tag = uuid.uuid4().hex[:6]
    targets = e2e.provision(ZONE, *(f"loa-{tag}-{i}" for i in (1, 2, 3)))
    [outsider] = e2e.provision(OTHER, f"loa-{tag}-4")
    e2e.start_agents(watch)
    return targets, outsider


def heard(agent: AgentProc, seconds: float) -> bool:
    return sound_s(agent) >= seconds


def on_air(agents: list[AgentProc]) -> None:
    """Wait until each agent's snapclient has written a second of the radio."""
    for agent in agents:
        wait_for(partial(heard, agent, 1.0), f"the radio on {agent.device_id}")


def has_kinds(watch: StateWatch, device_id: str, occurrence_id: str, want: list[str]) -> bool:
    return kinds(watch, device_id, occurrence_id) == want


def ended(watch: StateWatch, agents: list[AgentProc], occurrence_id: str, **kw: float) -> None:
    """Wait until each agent reported `started` then `finished` (once each) for it."""
    for agent in agents:
        done = partial(has_kinds, watch, agent.device_id, occurrence_id, ["started", "finished"])
        wait_for(done, f"{agent.device_id}'s end of {occurrence_id}", **kw)


def reported(e2e: System, occurrence_id: str, finished: int) -> dict[str, Any] | None:
    """The broadcast's status once `finished` devices' receipts reached the server."""
    detail = e2e.broadcast(occurrence_id)
    return detail if detail["delivery"]["finished"] == finished else None


def grew(agent: AgentProc, since: int) -> bool:
    return size(agent) != since


def session_of(e2e: System, occurrence_id: str) -> dict[str, Any] | None:
    page = e2e.api.ok("GET", "/live")
    return next((s for s in page["items"] if s["occurrence_id"] == occurrence_id), None)


@pytest.mark.timeout(300)  # a relay lasts a minute at least, plus a whole system to set up
def test_a_scheduled_relay_plays_on_exactly_its_zone_between_its_times_and_is_reported(
    e2e: System, watch: StateWatch, radio: AudioHttpServer
) -> None:
    targets, outsider = fleet(e2e, watch)
    ids = sorted(a.device_id for a in targets)

    relay = e2e.api.ok(
        "POST", "/live/relays", 201, json={"title": "Tiếp sóng thử", "url": radio.url, "minutes": 1}
    )
    assert relay["status"] == "draft"
    e2e.approve(relay["id"])
    play_at = now_plus(LEAD_S)
    e2e.api.ok(
        "POST",
        "/schedules",
        201,
        json={"announcement_id": relay["id"], "zones": [ZONE], "start": play_at.isoformat()},
    )
    [occ] = wait_for(lambda: e2e.occurrences_at(play_at), "the planner's relay occurrence")
    occ_id = occ["id"]
    until = play_at + timedelta(minutes=1)

    # The leader's planner cycle starts the session ahead of play_at, on the zone's devices.
    session = wait_for(lambda: session_of(e2e, occ_id), "the scheduled relay's live session")
    assert session["kind"] == "relay" and session["source_url"] == radio.url
    assert sorted(session["device_ids"]) == ids

    on_air(targets)
    reached = e2e.api.ok("GET", f"/live/{session['id']}")["reached"]
    assert sorted(reached) == ids

    # At until: every target reports `finished`, and nothing more is written after it.
    ended(watch, targets, occ_id, timeout=LEAD_S + 60 + 30)
    for agent in targets:
        assert not changes(partial(grew, agent, size(agent)), 1.0), "sound after until"

    # The report in the server's database: started at or after play_at, finished at until.
    detail = wait_for(partial(reported, e2e, occ_id, 3), "the receipts in the server's report")
    assert sorted(r["device_id"] for r in detail["devices"]) == ids
    for row in detail["devices"]:
        assert row["started"] and instant(row["started"]) >= play_at, row
        assert row["finished"] and instant(row["finished"]) >= until, row
        assert row["failed"] is None and row["missed"] is None, row
    counts = detail["delivery"]
    assert counts["expected"] == counts["started"] == 3
    assert counts["failed"] == counts["missed"] == counts["skipped"] == 0

    # The engine ended the session at until; its recording is the proof of broadcast.
    wait_for(lambda: (session_of(e2e, occ_id) or {}).get("ended_at"), "the session's end")
    end = session_of(e2e, occ_id)
    assert end is not None and end["outcome"] == "finished", end
    assert end["recording_sha256"]

    # The loudspeaker outside the zone: no live item, no snapclient output, no receipt.
    assert not live_raw(outsider).exists()
    assert kinds(watch, outsider.device_id, occ_id) == []


def test_a_relay_started_now_gives_way_to_an_emergency_on_one_target_and_resumes(
    e2e: System, watch: StateWatch, radio: AudioHttpServer
) -> None:
    targets, outsider = fleet(e2e, watch)
    first, second = targets[0], targets[1]
    sos = e2e.announcement(
        "Thông báo khẩn cấp. Nước lũ đang lên nhanh, bà con di chuyển lên chỗ cao ngay."
    )

    session = e2e.api.ok(
        "POST",
        "/live/relay",
        201,
        json={"title": "Tiếp sóng thử", "zones": [ZONE], "minutes": 2, "url": radio.url},
    )
    live_occ = session["occurrence_id"]
    on_air(targets)

    # An admin puts an emergency file on air on one target (confirmed).
    emergency = e2e.api.ok(
        "POST",
        "/broadcasts",
        201,
        params={"confirm_emergency": "true"},
        json={"announcement_id": sos["id"], "devices": [first.device_id], "level": "emergency"},
    )
    sos_occ = emergency["id"]
    wait_for(lambda: first.plays_of(sos_occ), "the emergency on the first target")
    # The stream stopped before the emergency started: nothing is written while it plays
    # (snapclient must restart and refill its buffer before a byte more is written).
    held = size(first)
    assert not changes(partial(grew, first, held), 0.5), "the relay played over the emergency"
    other = size(second)
    wait_for(partial(grew, second, other), "the relay going on on the other targets")

    wait_for(lambda: "finished" in kinds(watch, first.device_id, sos_occ), "the emergency's end")
    before = sound_s(first)
    wait_for(lambda: sound_s(first) > before + 0.5, "the relay again on the first target")
    assert kinds(watch, first.device_id, live_occ) == ["started"]  # resumed, not restarted
    assert [p["occurrence_id"] for p in first.plays()] == [sos_occ]

    stopped = e2e.api.ok("POST", f"/live/{session['id']}/stop")
    assert stopped["outcome"] == "stopped"
    ended(watch, targets, live_occ)
    detail = wait_for(partial(reported, e2e, live_occ, 3), "the receipts in the server's report")
    assert detail["delivery"]["started"] == 3 and detail["delivery"]["failed"] == 0
    assert e2e.broadcast(sos_occ)["delivery"]["finished"] == 1
    assert not live_raw(outsider).exists()
