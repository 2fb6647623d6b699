"""A broadcast through the API reaches three real agents and plays on the instant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.harness import LATE_MS, System, instant, now_plus, report, starts, wait_for

pytestmark = pytest.mark.network


def all_finished(e2e: System, occurrence_id: str) -> dict[str, Any] | None:
    detail = e2e.broadcast(occurrence_id)
    rows = detail["devices"]
    done = len(rows) == len(e2e.agents) and all(r["finished"] for r in rows)
    return detail if done else None


def test_broadcast_for_now_plus_5s_plays_on_all_three_and_shows_finished(
    fleet: Callable[..., System],
) -> None:
    e2e = fleet(3)
    ann = e2e.announcement()
    play_at = now_plus(5)
    created = e2e.api.ok(
        "POST",
        "/broadcasts",
        201,
        json={"announcement_id": ann["id"], "zones": ["e2e/xa"], "play_at": play_at.isoformat()},
    )
    occ = created["id"]
    assert instant(created["play_at"]) == play_at

    wait_for(lambda: all(a.plays_of(occ) for a in e2e.agents.values()), "three plays", timeout=30)
    late = starts(e2e, occ)
    report("broadcast", late)
    for device_id, ms in late.items():
        assert abs(ms) <= LATE_MS, f"{device_id} started {ms:+.1f} ms off play_at"

    detail = wait_for(lambda: all_finished(e2e, occ), "finished on all three devices")
    assert detail["delivery"]["expected"] == 3
    assert detail["delivery"]["finished"] == 3
    assert detail["delivery"]["missed"] == detail["delivery"]["failed"] == 0
    for row in detail["devices"]:
        assert row["started"] and row["late_ms"] is not None and row["late_ms"] <= LATE_MS
