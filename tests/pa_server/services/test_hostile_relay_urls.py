"""Hostile relay URLs through the use cases (both doors call them): refused at creation of a
session or a draft, and again at play time for what was stored before (tests/pa_server/live/
test_hostile_relay.py tries ffmpeg itself)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pa_server.db.models import Announcement, LiveSessionRow, Occurrence
from pa_server.schemas.live import LiveCreate
from pa_server.services import live
from pa_server.services.errors import Invalid
from tests.pa_server.server_fixtures import use_case
from tests.pa_server.services.test_live import OPERATOR, World, schedule_relay

COMMUNE = "vinh-tuong/tan-tien"

#: URLs that would make sound from the server's own files or its private neighbourhood.
HOSTILE = [
    "file:///etc/passwd",
    "file:///var/lib/pa-server/pa.db",
    "/var/lib/pa-server/media/abc.mp3",
    "concat:http://radio.test/a.mp3|file:///etc/passwd",
    "subfile:,start,0,end,0,:file:///etc/passwd",
    "data:audio/mpeg;base64,SUQz",
    "pipe:0",
    "HTTP:///etc/passwd",
    "http://127.0.0.1:8000/media/abc.mp3",
    "http://localhost:8000/",
    "http://127.1/",
    "http://2130706433/",
    "http://0/",
    "http://[::1]:1705/",
    "http://[::ffff:127.0.0.1]:1780/jsonrpc",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5:8000/stream",
    "http://192.168.1.1/",
    "http://radio.test/a.mp3\r\nX-Injected: 1",
    "http://radio.test/a\x00.mp3",
    "http://radio.test:99999/a.mp3",
]


@pytest.fixture
def world(sessions: sessionmaker[Session], tmp_path: Path) -> World:
    return World(sessions, tmp_path)


@pytest.mark.parametrize("url", HOSTILE)
def test_a_hostile_relay_url_is_refused_now_and_as_a_draft(world: World, url: str) -> None:
    with world.sessions() as s:
        with pytest.raises(Invalid) as now:
            live.start_relay(
                world.uc(s, OPERATOR),
                world.hub,
                # Built without validation: the API's schema already refuses control
                # characters; the service must refuse them on its own (the pages' door).
                LiveCreate.model_construct(
                    title="Tiếp sóng",
                    zones=[COMMUNE],
                    devices=[],
                    level="normal",
                    minutes=30,
                    url=url,
                    volume=None,
                ),
            )
        s.rollback()
        with pytest.raises(Invalid) as draft:
            live.create_relay(world.uc(s, OPERATOR), title="Tiếp sóng", url=url, minutes=5)
        s.rollback()
        assert {now.value.code, draft.value.code} <= {"bad_source_url", "relay_host_refused"}
        assert s.scalar(select(LiveSessionRow.id)) is None
        assert s.scalar(select(Announcement.id).where(Announcement.kind == "relay")) is None
    assert world.engine.sessions() == []


def test_a_listed_private_network_may_be_relayed_and_no_other(world: World) -> None:
    with world.sessions() as s:
        uc = use_case(
            s,
            OPERATOR,
            data_dir=world.tmp_path,
            relay_allowed_networks="10.0.0.0/8, 192.168.5.7",
        )
        ann = live.create_relay(uc, title="Icecast xã", url="http://10.1.2.3:8000/xa", minutes=5)
        assert ann.source_url == "http://10.1.2.3:8000/xa"
        live.create_relay(uc, title="Icecast xã", url="http://192.168.5.7/xa", minutes=5)
        with pytest.raises(Invalid) as refused:
            live.create_relay(uc, title="Icecast xã", url="http://192.168.5.8/xa", minutes=5)
        assert refused.value.code == "relay_host_refused"


def test_a_bad_allowed_network_setting_is_refused_at_start() -> None:
    from pa_server.config import Settings

    with pytest.raises(ValueError, match="not a network"):
        Settings(relay_allowed_networks="10.0.0.0/8, intranet")


def _scheduled_relay(world: World) -> tuple[str, str]:
    """An approved relay of a public URL scheduled on the commune; (announcement, occurrence)."""
    with world.sessions() as s:
        ann = schedule_relay(world, s)
        occ = s.scalars(select(Occurrence).where(Occurrence.announcement_id == ann.id)).first()
        assert occ is not None
        return ann.id, occ.id


@pytest.mark.parametrize(
    "stored", ["http://127.0.0.1:8000/media/abc.mp3", "file:///etc/passwd", "pipe:0"]
)
def test_a_stored_relay_no_longer_allowed_is_refused_at_play_time(
    world: World, stored: str
) -> None:
    """A URL stored before these checks (or a setting narrowed since) never reaches ffmpeg;
    the refusal is the session's recorded failure, and other due relays still start."""
    ann_id, occ_id = _scheduled_relay(world)
    with world.sessions() as s:
        ann = s.get(Announcement, ann_id)
        occ = s.get(Occurrence, occ_id)
        assert ann is not None and occ is not None
        ann.source_url = stored  # as if written before the check existed
        play_at = occ.play_at
        s.commit()
    assert live.run_due_relays(world.hub, now=play_at - timedelta(seconds=15)) == []
    assert world.engine.assigned() == {}
    with world.sessions() as s:
        [row] = s.scalars(select(LiveSessionRow).where(LiveSessionRow.occurrence_id == occ_id))
        assert row.outcome == "failed" and row.ended_at is not None
        assert row.detail is not None and "refused" in row.detail
    # Once recorded, never retried into a crash loop.
    assert live.run_due_relays(world.hub, now=play_at - timedelta(seconds=10)) == []
