"""The amplifier relay, on gpiozero's MockFactory: on before the sound, off after it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from devices import protocol
from tests.devices.support import T, item, make_rig, wait_for


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    try:
        yield Device.pin_factory
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = previous


def test_relay_goes_on_pre_roll_before_and_off_post_roll_after(
    tmp_path: Path, mock_pins: MockFactory
) -> None:
    rig = make_rig(tmp_path, relay={"pin": 17, "pre_roll_s": 0.4, "post_roll_s": 0.3})
    media = rig.server.put(b"m" * 100, duration_ms=200)
    pin = mock_pins.pin(17)
    relay_at_start: list[bool] = []
    rig.player.on_start = lambda: relay_at_start.append(bool(pin.state))
    with rig.agent:
        wait_for(lambda: rig.agent.state().clock_synced, 5)
        occ = item(media, protocol.utc_now() + timedelta(seconds=1.0))
        rig.deliver(T.timeline_device("loa-01"), rig.signer.timeline("device:loa-01", [occ]))
        wait_for(lambda: rig.player.starts, 5, "the start")
        wait_for(lambda: len(pin.states) >= 3, 5, "the relay to go off")
    history = [(s.timestamp, s.state) for s in pin.states]
    assert [state for _, state in history] == [False, True, False]
    assert relay_at_start == [True]
    # MockPin stamps each state with the time since the previous change: the relay stayed on
    # for pre-roll 0.4 s + the 0.2 s sound + post-roll 0.3 s (loosely: no tight timing here).
    assert history[2][0] >= 0.7


def test_an_immediate_play_waits_for_the_amplifiers_pre_roll(
    tmp_path: Path, mock_pins: MockFactory
) -> None:
    rig = make_rig(tmp_path, relay={"pin": 17, "pre_roll_s": 0.5, "post_roll_s": 0.1})
    media = rig.server.put(b"sos" * 100, duration_ms=50)
    pin = mock_pins.pin(17)
    relay_at_start: list[bool] = []
    rig.player.on_start = lambda: relay_at_start.append(bool(pin.state))
    with rig.agent:
        wait_for(lambda: rig.agent.state().clock_synced, 5)
        sent = time.monotonic()
        rig.deliver(
            T.cmd_device("loa-01"), rig.signer.sign("play", item(media, None, priority=100))
        )
        wait_for(lambda: rig.player.starts, 5, "the start")
    assert relay_at_start == [True]
    assert rig.player.start_mono[0] - sent >= 0.5  # never before the amplifier is warm
