"""Shared by the live-audio end-to-end tests (`test_live_stack.py`, `test_live_mic_stack.py`):
three agents in one zone and one outside it, and what their snapclient file players wrote.

Each agent's snapclient (`--player file`) writes `<out_dir>/live.raw` (48 kHz s16 stereo) only
while a signed live item is due; the receipts are read off the private broker (`StateWatch`).
"""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path
from typing import Any

from tests.e2e.harness import AgentProc, StateWatch, System, wait_for
from tests.live_support import loud_seconds, read_mono

ZONE = "e2e/xa/thon-1"
OTHER = "e2e/xa/thon-2"


def live_raw(agent: AgentProc) -> Path:
    return agent.out_dir / "live.raw"


#: A 10-ms window louder than this (RMS, full scale 1) is sound; snapclient writes exact zeros
#: when the stream is silent.
FLOOR = 0.05


def sound_s(agent: AgentProc, floor: float = FLOOR) -> float:
    return loud_seconds(read_mono(live_raw(agent)), floor=floor)


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


def heard(agent: AgentProc, seconds: float, floor: float = FLOOR) -> bool:
    return sound_s(agent, floor) >= seconds


def on_air(agents: list[AgentProc], seconds: float = 1.0, floor: float = FLOOR) -> None:
    """Wait until each agent's snapclient has written `seconds` of sound (above `floor`)."""
    for agent in agents:
        what = f"{seconds} s of sound on {agent.device_id}"
        wait_for(partial(heard, agent, seconds, floor), what)


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
    """The live session (as the API lists it) that carries this occurrence."""
    page = e2e.api.ok("GET", "/live")
    return next((s for s in page["items"] if s["occurrence_id"] == occurrence_id), None)
