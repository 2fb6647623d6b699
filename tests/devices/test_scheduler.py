"""The scheduler alone (no link, no intake): a plan, a recording player, a cache, events."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from devices import protocol
from devices.clock import SystemClock
from devices.config import PlayerSection, RelaySection
from devices.errors import PlayerError
from devices.media import MediaCache
from devices.plan import Plan
from devices.players import Prepared
from devices.relay import NullRelay
from devices.scheduler import Scheduler
from tests.devices.support import RecordingPlayer, item, wait_for

EMERGENCY = protocol.EMERGENCY_PRIORITY


@dataclass
class Events:
    receipts: list[tuple[str, str, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    handled_count: int = 0

    def emit(
        self,
        occurrence_id: str,
        kind: protocol.ReceiptType,
        *,
        late_ms: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.receipts.append((occurrence_id, kind, detail))

    def handled(self) -> None:
        self.handled_count += 1

    def error(self, detail: str) -> None:
        self.errors.append(detail)

    def of(self, occurrence_id: str) -> list[str]:
        return [k for o, k, _ in self.receipts if o == occurrence_id]


class PickyPlayer(RecordingPlayer):
    """Refuses to prepare the items named in `broken` (an undecodable file)."""

    def __init__(self, broken: set[str]) -> None:
        super().__init__()
        self.broken = broken

    def prepare(self, item_: protocol.Item, path: Path) -> Prepared:
        if item_.occurrence_id in self.broken:
            raise PlayerError(f"cannot decode {item_.occurrence_id}")
        return Prepared(item_, path)


@dataclass
class Setup:
    scheduler: Scheduler
    player: RecordingPlayer
    events: Events
    media: protocol.Media


def make(tmp_path: Path, player: RecordingPlayer) -> Setup:
    cache = MediaCache(tmp_path / "media", 10_000_000)
    data = b"audio" * 100
    media = protocol.Media(
        url="http://x/a.mp3",
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        duration_ms=60_000,
    )
    (tmp_path / "media" / media.sha256).write_bytes(data)
    events = Events()
    scheduler = Scheduler(
        plan=Plan(),
        player=player,
        relay=NullRelay(),
        cache=cache,
        clock=SystemClock(),
        synced=lambda: True,
        player_settings=PlayerSection(kind="null", prepare_s=0.5),
        relay_settings=RelaySection(pre_roll_s=0, post_roll_s=0),
        events=events,
        volume=60,
    )
    return Setup(scheduler, player, events, media)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = make(tmp_path, PickyPlayer({"broken"}))
    s.scheduler.start()
    yield s
    s.scheduler.close()


def soon(seconds: float) -> datetime:
    return protocol.utc_now() + timedelta(seconds=seconds)


def test_an_item_that_cannot_be_prepared_fails_alone(setup: Setup) -> None:
    s = setup
    s.scheduler.command(item(s.media, soon(0.5), occurrence_id="broken"))
    s.scheduler.command(item(s.media, soon(1.0), occurrence_id="fine", volume=None))
    wait_for(lambda: s.player.played() == ["fine"], 5, "the fine item")
    assert s.events.of("broken") == ["failed"]
    assert "cannot decode broken" in s.events.errors[0]
    assert s.player.starts[0][2] == 60  # the agent's volume: the item names none


def test_an_emergency_interrupts_and_keeps_its_volume(setup: Setup) -> None:
    s = setup
    s.scheduler.command(item(s.media, None, occurrence_id="normal"))
    wait_for(lambda: s.player.played() == ["normal"], 5, "the normal item")
    s.scheduler.command(item(s.media, None, occurrence_id="sos", priority=EMERGENCY, volume=100))
    wait_for(lambda: s.player.played() == ["normal", "sos"], 5, "the emergency")
    s.scheduler.set_volume(20)  # a volume command while the emergency plays
    wait_for(lambda: "failed" in s.events.of("normal"), 5, "the interrupted item reported")
    assert s.player.starts[1][2] == 100
    assert [d for o, k, d in s.events.receipts if o == "normal" and k == "failed"] == [
        "interrupted by sos"
    ]


def test_a_normal_item_waits_for_the_one_playing_and_stop_skips_it(setup: Setup) -> None:
    s = setup
    s.scheduler.command(item(s.media, None, occurrence_id="first"))
    wait_for(lambda: s.player.played() == ["first"], 5, "the first item")
    s.scheduler.command(item(s.media, None, occurrence_id="second", max_late_s=600))
    s.scheduler.stop("second")
    assert s.events.of("second") == ["skipped"]
    s.scheduler.stop(None)
    wait_for(lambda: "finished" in s.events.of("first"), 5, "the first stopped")
    assert s.player.played() == ["first"]
