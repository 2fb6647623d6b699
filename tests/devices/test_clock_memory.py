"""The clock verdict survives an agent restart within one boot, and only within it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices import clock
from devices.clock import CARRY_MAX_S, carried_verdict
from tests.devices.support import make_rig, wait_for

BOOT = "0f0e0d0c-0000-4000-8000-000000000001"


def test_carried_verdict_only_for_the_same_boot_and_a_recent_measurement() -> None:
    saved = {"boot_id": BOOT, "monotonic": 100.0, "ok": True, "offset_ms": 7}
    assert carried_verdict(saved, boot=BOOT, monotonic=160.0) == (True, 7)
    assert carried_verdict(saved, boot="another-boot", monotonic=160.0) == (False, None)
    assert carried_verdict(saved, boot=None, monotonic=160.0) == (False, None)
    assert carried_verdict(saved, boot=BOOT, monotonic=100.0 + CARRY_MAX_S + 1) == (False, None)
    assert carried_verdict(saved, boot=BOOT, monotonic=50.0) == (False, None)  # clock went back
    assert carried_verdict({**saved, "ok": False}, boot=BOOT, monotonic=160.0) == (False, 7)
    junks: list[object] = [None, [], "x", {"boot_id": BOOT}, {**saved, "monotonic": "soon"}]
    for junk in junks:
        assert carried_verdict(junk, boot=BOOT, monotonic=160.0) == (False, None)


@pytest.mark.parametrize("rebooted", [False, True])
def test_agent_restarted_offline_keeps_its_clock_trust_unless_the_machine_rebooted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rebooted: bool
) -> None:
    boot_file = tmp_path / "boot_id"
    boot_file.write_text(BOOT + "\n")
    monkeypatch.setattr(clock, "BOOT_ID", boot_file)
    first = make_rig(tmp_path, kernel=False)
    with first.agent:
        wait_for(lambda: first.agent.state().clock_synced, 5, "clock measured")
    if rebooted:
        boot_file.write_text("0f0e0d0c-0000-4000-8000-000000000002\n")

    second = make_rig(tmp_path, kernel=False)  # same state dir; the server is unreachable
    second.server.clock_ok = False
    with second.agent:
        assert second.agent.state().clock_synced is not rebooted
