"""The network goes away: agents play what they hold, and report it once it is back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.harness import (
    LATE_MS,
    StateWatch,
    System,
    now_plus,
    receipts_done,
    report,
    starts,
    wait_for,
)

pytestmark = pytest.mark.network

ZONE = "e2e/xa/thon-1"
LEAD_S = 8  # time for plan → retained timeline → media fetch on a loaded machine


def schedule(e2e: System, seconds: float) -> tuple[str, Any]:
    """A one-off schedule for the zone at now + `seconds`; returns (occurrence id, play_at)."""
    ann = e2e.announcement()
    play_at = now_plus(seconds)
    e2e.api.ok(
        "POST",
        "/schedules",
        201,
        json={"announcement_id": ann["id"], "zones": [ZONE], "start": play_at.isoformat()},
    )
    occs = wait_for(lambda: e2e.occurrences_at(play_at), "the planner's occurrence")
    assert len(occs) == 1, occs
    return occs[0]["id"], play_at


def fetched_by_all(e2e: System, watch: StateWatch, occ: str) -> bool:
    """Every agent said (over MQTT) it holds the media: its timeline arrived."""
    have = {r["device_id"] for r in list(watch.receipts) if r.get("occurrence_id") == occ}
    return have >= set(e2e.agents) and all(
        any(
            r["type"] == "fetched" and r["device_id"] == d and r["occurrence_id"] == occ
            for r in list(watch.receipts)
        )
        for d in e2e.agents
    )


def exactly_once(e2e: System, occ: str) -> None:
    """Each agent played once; the status holds fetched, started, finished and nothing else."""
    detail = e2e.broadcast(occ)
    assert sorted(r["device_id"] for r in detail["devices"]) == sorted(e2e.agents)
    counts = detail["delivery"]
    assert counts["expected"] == counts["fetched"] == counts["started"] == counts["finished"] == 3
    assert counts["failed"] == counts["missed"] == counts["skipped"] == 0
    for agent in e2e.agents.values():
        assert len(agent.plays_of(occ)) == 1


def test_broker_down_after_timelines_agents_play_on_time_and_report_later(
    fleet: Callable[..., System], watch: StateWatch
) -> None:
    e2e = fleet(3)
    occ, _ = schedule(e2e, LEAD_S)
    wait_for(lambda: fetched_by_all(e2e, watch, occ), "timelines and media on every agent")

    e2e.broker.stop()
    wait_for(lambda: all(a.plays_of(occ) for a in e2e.agents.values()), "three plays offline")
    late = starts(e2e, occ)
    report("broker down", late)
    for device_id, ms in late.items():
        assert abs(ms) <= LATE_MS, f"{device_id} started {ms:+.1f} ms off play_at"
    # Played, reported nothing yet: the server cannot have heard of it.
    wait_for(lambda: all(len(a.plays_of(occ)) == 1 for a in e2e.agents.values()), "plays written")
    assert not any(r["started"] for r in e2e.broadcast(occ)["devices"])

    e2e.broker.start()
    wait_for(
        lambda: receipts_done(e2e.broadcast(occ), ("started", "finished")),
        "receipts after the broker is back",
    )
    exactly_once(e2e, occ)


def test_agent_restarted_with_network_cut_still_plays_from_disk(
    e2e: System, watch: StateWatch
) -> None:
    e2e.add_zone(ZONE)
    mqtt_link = e2e.proxy()
    http_link = e2e.http_proxy()
    *_, cut_off = e2e.provision(ZONE, "loa-01", "loa-02", "loa-03")
    cut_off.set_broker(mqtt_link.url)
    cut_off.set_server(http_link.url)
    e2e.start_agents(watch)
    occ, _ = schedule(e2e, LEAD_S)
    wait_for(lambda: fetched_by_all(e2e, watch, occ), "timelines and media on every agent")

    cut_off.proc.kill()  # power cut
    mqtt_link.cut()
    http_link.cut()
    cut_off.start()
    wait_for(lambda: all(a.plays_of(occ) for a in e2e.agents.values()), "three plays")
    late = starts(e2e, occ)
    report("one agent restarted offline", late)
    for device_id, ms in late.items():
        assert abs(ms) <= LATE_MS, f"{device_id} started {ms:+.1f} ms off play_at"

    mqtt_link.restore()
    http_link.restore()
    wait_for(
        lambda: receipts_done(e2e.broadcast(occ), ("started", "finished")),
        "loa-03's receipts once its network is back",
    )
    exactly_once(e2e, occ)
