"""The field's faults, with real processes: what residents hear and what staff see.

Each scenario asserts, from the file players' `plays.jsonl` and their copies: nothing missed
that could be played, nothing played twice, nothing corrupt played (sha256 of the copy); and
from the API: the broadcast's receipts (stored once) and the drifting clock flagged.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

import httpx
import pytest

from tests.e2e.harness import StateWatch, System, now_plus, wait_for
from tests.faults.support import (
    Duplicator,
    FaultProxy,
    all_reported,
    has_timeline,
    heard_once,
    occurrence_at,
    restart_server,
    schedule_once,
    start_error_ms,
)

pytestmark = pytest.mark.network

ZONE = "e2e/xa/thon-1"
TARGET = "zone:e2e/xa/thon-1"
#: Start error allowed on a loaded CI machine (the tight figure is bench/sync.py's).
LATE_MS = 300
#: Long enough to be "mid-broadcast" for a few seconds (espeak, no chime).
SPEECH = "Đề nghị bà con cài đặt ứng dụng Bluezone để phòng chống dịch bệnh. " * 2


def media_sha(ann: dict[str, Any]) -> str:
    return str(ann["rendition"]["sha256"])


def ready(e2e: System, watch: StateWatch, target: str = TARGET) -> None:
    for agent in e2e.agents.values():
        wait_for(partial(has_timeline, watch, agent, target), f"{agent.device_id} timeline")


def test_broker_restarted_mid_broadcast(fleet: Callable[..., System], watch: StateWatch) -> None:
    e2e = fleet(2, zone=ZONE)
    ann = e2e.announcement(SPEECH)
    play_at = now_plus(6)
    schedule_once(e2e, ann["id"], play_at, ZONE)
    occ = occurrence_at(e2e, play_at)
    ready(e2e, watch)

    wait_for(lambda: all(a.plays_of(occ) for a in e2e.agents.values()), "both started")
    e2e.broker.stop()  # mid-broadcast: the speech lasts several seconds
    duration_s = ann["rendition"]["duration_ms"] / 1000
    wait_for(lambda: now_plus(0).timestamp() > play_at.timestamp() + duration_s + 1, "the end")
    e2e.broker.start()

    for agent in e2e.agents.values():
        play = heard_once(agent, occ, media_sha(ann))
        assert abs(start_error_ms(play)) <= LATE_MS
    detail = wait_for(lambda: all_reported(e2e, occ, "started", "finished"), "receipts after")
    assert detail["delivery"]["finished"] == 2 and detail["delivery"]["missed"] == 0


def test_server_killed_between_planning_and_dispatch(
    fleet: Callable[..., System], watch: StateWatch
) -> None:
    e2e = fleet(2, zone=ZONE)
    ann = e2e.announcement()
    restart_server(e2e, PA_TEST_KILL_AFTER_PLAN="true")
    play_at = now_plus(14)
    # The kill may beat the response: the schedule is committed before the plan runs.
    with suppress(httpx.HTTPError, AssertionError):
        schedule_once(e2e, ann["id"], play_at, ZONE)
    wait_for(lambda: not e2e.server.running, "the server to die after planning")
    assert e2e.server.popen is not None and e2e.server.popen.returncode == -signal.SIGKILL
    assert not any(has_timeline(watch, a, TARGET) for a in e2e.agents.values())

    restart_server(e2e, PA_TEST_KILL_AFTER_PLAN=None)
    occ = occurrence_at(e2e, play_at)  # exactly one, though planned twice
    wait_for(lambda: all(a.plays_of(occ) for a in e2e.agents.values()), "both played")
    for agent in e2e.agents.values():
        heard_once(agent, occ, media_sha(ann))
    detail = wait_for(lambda: all_reported(e2e, occ, "started"), "started on both")
    assert detail["delivery"]["started"] == 2
    assert len(e2e.occurrences_at(play_at)) == 1


def test_power_cut_during_media_download(e2e: System, watch: StateWatch) -> None:
    slow = FaultProxy("127.0.0.1", int(e2e.api.base_url.rsplit(":", 1)[1]), rate=40_000)
    try:
        # Agents fetch media from the public URL: put the slow link in front of the server.
        restart_server(e2e, PA_PUBLIC_URL=slow.http_url)
        e2e.add_zone(ZONE)
        (agent,) = e2e.provision(ZONE, "loa-01")
        e2e.start_agents(watch)
        ann = e2e.announcement(SPEECH * 6)
        size = ann["rendition"]["bytes"]
        assert size > 120_000, f"media of {size} bytes downloads too fast to cut"
        play_at = now_plus(20)
        schedule_once(e2e, ann["id"], play_at, ZONE)
        occ = occurrence_at(e2e, play_at)
        media = agent.state_dir / "media"

        def part_left() -> bool:
            parts = list(media.glob("*.part")) if media.exists() else []
            return any(p.stat().st_size > 20_000 for p in parts)

        wait_for(part_left, "a partial download")
        agent.proc.kill()  # power cut
        assert list(media.glob("*.part")), "the partial file is left behind"
        assert not (media / media_sha(ann)).exists()
        slow.rate = None
        agent.start()
        play = wait_for(lambda: agent.plays_of(occ), "the play after the restart")[0]
        assert abs(start_error_ms(play)) <= LATE_MS
        heard_once(agent, occ, media_sha(ann))
        assert not list(media.glob("*.part"))
        detail = wait_for(lambda: all_reported(e2e, occ, "fetched", "started"), "receipts")
        assert detail["delivery"]["failed"] == 0
    finally:
        slow.close()


def test_network_cut_longer_than_a_broadcast(e2e: System, watch: StateWatch) -> None:
    cut = FaultProxy("127.0.0.1", e2e.broker.port)
    try:
        e2e.add_zone(ZONE)
        (agent,) = e2e.provision(ZONE, "loa-01", broker_url=cut.mqtt_url)
        e2e.start_agents(watch)
        ann = e2e.announcement()
        play_at = now_plus(8)
        schedule_once(e2e, ann["id"], play_at, ZONE)
        occ = occurrence_at(e2e, play_at)
        ready(e2e, watch)
        wait_for(lambda: all_reported(e2e, occ, "fetched"), "media fetched")
        cut.blackhole()
        duration_s = ann["rendition"]["duration_ms"] / 1000
        end = play_at.timestamp() + duration_s + 6  # and the agent's keepalive gives up
        wait_for(lambda: now_plus(0).timestamp() > end, "the end of the broadcast", timeout=60)
        assert not e2e.broadcast(occ)["devices"][0]["started"]  # nothing got through
        cut.restore()

        heard_once(agent, occ, media_sha(ann))
        detail = wait_for(lambda: all_reported(e2e, occ, "started", "finished"), "receipts")
        assert detail["delivery"]["finished"] == 1 and detail["delivery"]["missed"] == 0
        assert detail["devices"][0]["late_ms"] is not None
        assert abs(detail["devices"][0]["late_ms"]) <= LATE_MS
    finally:
        cut.close()


def test_every_message_delivered_twice(fleet: Callable[..., System], watch: StateWatch) -> None:
    e2e = fleet(2, zone=ZONE)
    dup = Duplicator(e2e.broker.url, e2e.topics)
    try:
        ann = e2e.announcement()
        play_at = now_plus(6)
        schedule_once(e2e, ann["id"], play_at, ZONE)
        occ = occurrence_at(e2e, play_at)
        now = e2e.api.ok(
            "POST", "/broadcasts", 201, json={"announcement_id": ann["id"], "zones": [ZONE]}
        )["id"]
        for o in (now, occ):
            wait_for(partial(all_reported, e2e, o, "started", "finished"), f"{o} finished")
        for agent in e2e.agents.values():
            heard_once(agent, occ, media_sha(ann))
            heard_once(agent, now, media_sha(ann))
        assert any("/timeline/" in t for t in dup.copies)
        assert any("/cmd/" in t for t in dup.copies)
        events = [r for r in watch.receipts if r["occurrence_id"] == occ]
        assert len(events) >= 2 * 2 * 3  # 2 agents × fetched/started/finished × twice
        detail = e2e.broadcast(occ)
        assert detail["delivery"] == {**detail["delivery"], "started": 2, "finished": 2}
        for agent in e2e.agents.values():
            assert watch.state(agent.device_id)["rejected"]["replayed"] >= 1
    finally:
        dup.close()


def test_one_agents_clock_two_minutes_off(e2e: System, watch: StateWatch) -> None:
    e2e.add_zone(ZONE)
    _, skewed = e2e.provision(ZONE, "loa-01", "loa-02")
    skewed.edit(clock={"simulate_skew_s": 120.0})
    e2e.start_agents(watch)
    wait_for(lambda: watch.state("loa-02").get("clock_offset_ms") is not None, "measured")
    ann = e2e.announcement()
    play_at = now_plus(6)
    schedule_once(e2e, ann["id"], play_at, ZONE)
    occ = occurrence_at(e2e, play_at)
    wait_for(lambda: all(a.plays_of(occ) for a in e2e.agents.values()), "both played")
    starts = {
        a.device_id: start_error_ms(heard_once(a, occ, media_sha(ann))) for a in e2e.agents.values()
    }
    # Residents hear both horns together, on the server's instant.
    for device_id, ms in starts.items():
        assert abs(ms) <= LATE_MS, f"{device_id} started {ms:+.0f} ms off"

    drifting = wait_for(
        lambda: (d := e2e.api.ok("GET", "/devices/loa-02"))["flags"] and d, "the flag"
    )
    assert drifting["flags"] == ["clock_drift"] and drifting["clock_synced"] is True
    assert abs(drifting["clock_offset_ms"] + 120_000) < 1_000
    assert e2e.api.ok("GET", "/devices/loa-01")["flags"] == []


@pytest.mark.timeout(300)  # three agents, a broker restart and a 20-s lead on a shared machine
def test_broker_loses_every_retained_timeline_mid_day(e2e: System, watch: StateWatch) -> None:
    """The broker is restarted without persistence: every retained timeline is gone. The
    server is the source of truth: it republishes on reconnect, and agents pull over HTTP —
    so every agent still plays its schedule, even one that has lost its own disk and cannot
    reach the broker at all (the HTTP pull alone)."""
    e2e.add_zone(ZONE)
    cut = e2e.proxy()
    *_, fresh = e2e.provision(ZONE, "loa-01", "loa-02", "loa-03")
    e2e.start_agents(watch)
    ann = e2e.announcement()
    play_at = now_plus(20)
    schedule_once(e2e, ann["id"], play_at, ZONE)
    occ = occurrence_at(e2e, play_at)
    ready(e2e, watch)

    # loa-03's SD card is replaced (nothing on disk) and its broker link is gone.
    fresh.proc.kill()
    shutil.rmtree(fresh.state_dir)
    fresh.set_broker(cut.url)
    cut.cut()
    # The broker restarts with no persistence: no retained timeline survives.
    e2e.broker.stop()
    e2e.broker.configure(persistence=False)
    e2e.broker.start()
    fresh.start()

    wait_for(lambda: all(a.plays_of(occ) for a in e2e.agents.values()), "three plays", timeout=60)
    for agent in e2e.agents.values():
        play = heard_once(agent, occ, media_sha(ann))
        assert abs(start_error_ms(play)) <= LATE_MS
    # The two on the broker hold the republished timeline again and report through it.
    others = {a.device_id for a in e2e.agents.values() if a is not fresh}
    for device_id in others:
        wait_for(
            partial(has_timeline, watch, e2e.agents[device_id], TARGET), f"{device_id} timeline"
        )

    def started_on_others() -> bool:
        rows = e2e.broadcast(occ)["devices"]
        return {r["device_id"] for r in rows if r["started"]} >= others

    wait_for(started_on_others, "started receipts from the agents on the broker")
