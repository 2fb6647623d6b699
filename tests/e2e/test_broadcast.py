"""A broadcast through the API reaches three real agents and plays on the instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.harness import System, now_plus, wait_for

pytestmark = pytest.mark.network

#: Start error allowed here (a loaded CI machine); the tight figure is `bench/sync.py`'s.
LATE_MS = 200


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def starts(e2e: System, occurrence_id: str) -> dict[str, float]:
    """Each agent's start − play_at in ms, from its file player's log (one play each)."""
    out: dict[str, float] = {}
    for agent in e2e.agents.values():
        plays = agent.plays_of(occurrence_id)
        assert len(plays) == 1, f"{agent.device_id} played {occurrence_id} {len(plays)} times"
        play_at = instant(plays[0]["play_at"]).timestamp()
        out[agent.device_id] = (plays[0]["started_at_us"] / 1e6 - play_at) * 1000
    return out


def report(label: str, late: dict[str, float]) -> None:
    spread = max(late.values()) - min(late.values())
    figures = ", ".join(f"{d} {ms:+.2f} ms" for d, ms in sorted(late.items()))
    print(f"\n{label}: start − play_at: {figures}; spread {spread:.2f} ms")


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
