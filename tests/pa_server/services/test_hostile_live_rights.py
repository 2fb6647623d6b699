"""Hostile tests: commune A's people aim live audio, relays, schedules and loudspeakers at
commune B. Each attack goes to the use case (the API and the pages both call it) and must be
refused on the state it would produce, leaving nothing behind; what is allowed is audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pa_server.auth.errors import Forbidden
from pa_server.auth.models import AuditEntry
from pa_server.auth.rights import Actor, Role
from pa_server.db.models import Device, LiveSessionRow, Schedule
from pa_server.schemas.live import LiveCreate
from pa_server.schemas.schedules import ScheduleCreate, ScheduleUpdate
from pa_server.services import announcements, broadcasts, devices, live, schedules
from tests.pa_server.server_fixtures import NOW, TEST_APPROVER
from tests.pa_server.services.test_live import OPERATOR, URL, World

A = "vinh-tuong/tan-tien"  # loa-01, loa-02; OPERATOR's commune
B = "vinh-tuong/an-hoa"  # loa-03
OPERATOR_B = Actor(id=8, username="vanhanh-b", role=Role.OPERATOR, zones=(B,))
APPROVER_A = Actor(id=10, username="duyet-a", role=Role.APPROVER, zones=(A,))


@pytest.fixture
def world(sessions: sessionmaker[Session], tmp_path: Path) -> World:
    return World(sessions, tmp_path)


def _count(s: Session, model: Any) -> int:
    return s.scalar(select(func.count()).select_from(model)) or 0


STARTS: dict[str, Callable[[World, Session], object]] = {
    "relay on B's zone": lambda w, s: live.start_relay(
        w.uc(s, OPERATOR), w.hub, LiveCreate(title="x", zones=[B], url=URL)
    ),
    "relay on B's loudspeaker": lambda w, s: live.start_relay(
        w.uc(s, OPERATOR), w.hub, LiveCreate(title="x", devices=["loa-03"], url=URL)
    ),
    "mic on A and B": lambda w, s: live.start_mic(
        w.uc(s, OPERATOR), w.hub, LiveCreate(title="x", zones=[A, B])
    ),
    "mic on the district": lambda w, s: live.start_mic(
        w.uc(s, OPERATOR), w.hub, LiveCreate(title="x", zones=["vinh-tuong"])
    ),
    "mic on A's zone and B's loudspeaker": lambda w, s: live.start_mic(
        w.uc(s, OPERATOR), w.hub, LiveCreate(title="x", zones=[A], devices=["loa-03"])
    ),
}


@pytest.mark.parametrize("attack", sorted(STARTS))
def test_a_live_session_reaching_another_commune_is_refused(world: World, attack: str) -> None:
    with world.sessions() as s:
        with pytest.raises(Forbidden):
            STARTS[attack](world, s)
        s.rollback()
        assert _count(s, LiveSessionRow) == 0
    assert world.engine.sessions() == [] and world.dispatcher.commands == []


def test_another_communes_live_session_cannot_be_stopped_or_spoken_into(world: World) -> None:
    with world.sessions() as s:
        row, _ = live.start_mic(
            world.uc(s, OPERATOR_B), world.hub, LiveCreate(title="Họp", zones=[B])
        )
        sid, occ_id = row.id, row.occurrence_id
        assert occ_id is not None
    with world.sessions() as s:
        for attack in (
            lambda: live.stop_session(world.uc(s, OPERATOR), world.hub, sid),
            lambda: live.mic_token(world.uc(s, OPERATOR), world.hub, sid),
            lambda: broadcasts.stop_broadcast(world.uc(s, OPERATOR), occ_id),
        ):
            with pytest.raises(Forbidden):
                attack()
            s.rollback()
        # A's approver has no more right over B's session than A's operator.
        with pytest.raises(Forbidden):
            live.stop_session(world.uc(s, APPROVER_A), world.hub, sid)
        s.rollback()
    assert [x.id for x in world.engine.sessions()] == [sid]
    with world.sessions() as s:
        row = s.get(LiveSessionRow, sid)
        assert row is not None and row.ended_at is None and row.stopped_by is None
        # Its own operator may: the stop is audited under them.
        live.stop_session(world.uc(s, OPERATOR_B), world.hub, sid)
        stops = s.scalars(select(AuditEntry).where(AuditEntry.action == "stop")).all()
        assert [(e.actor_name, e.entity_id) for e in stops] == [("vanhanh-b", sid)]


def _approved_relay(world: World, s: Session) -> str:
    uc = world.uc(s, OPERATOR)
    ann = live.create_relay(uc, title="Tiếp sóng VOV1", url=URL, minutes=30)
    announcements.approve_announcement(replace(uc, actor=TEST_APPROVER), ann.id)
    s.commit()
    return ann.id


def test_a_relay_schedule_cannot_reach_or_be_moved_into_another_commune(world: World) -> None:
    with world.sessions() as s:
        ann_id = _approved_relay(world, s)
        uc = world.uc(s, OPERATOR)
        spec = {"announcement_id": ann_id, "rrule": "FREQ=DAILY;BYHOUR=5;BYMINUTE=30"}
        start = NOW.replace(hour=0) + timedelta(days=1)
        with pytest.raises(Forbidden):
            schedules.create_schedule(uc, ScheduleCreate(**spec, zones=[B], start=start))
        s.rollback()
        with pytest.raises(Forbidden):
            schedules.create_schedule(uc, ScheduleCreate(**spec, devices=["loa-03"], start=start))
        s.rollback()
        own = schedules.create_schedule(uc, ScheduleCreate(**spec, zones=[A], start=start))
        s.commit()
        sid = own.id
        # Editing it so its targets leave the commune: refused on the result, unchanged.
        for change in (
            ScheduleUpdate(zones=[B]),
            ScheduleUpdate(zones=[A], devices=["loa-03"]),
            ScheduleUpdate(zones=["vinh-tuong"]),
        ):
            with pytest.raises(Forbidden):
                schedules.update_schedule(world.uc(s, OPERATOR), sid, change)
            s.rollback()
        schedule = s.get(Schedule, sid)
        assert schedule is not None and [t.target for t in schedule.targets] == [f"zone:{A}"]
        # B's operator can neither pause nor delete A's schedule.
        with pytest.raises(Forbidden):
            schedules.update_schedule(world.uc(s, OPERATOR_B), sid, ScheduleUpdate(enabled=False))
        s.rollback()
        with pytest.raises(Forbidden):
            schedules.delete_schedule(world.uc(s, OPERATOR_B), sid)
        s.rollback()
        assert s.get(Schedule, sid) is not None


def test_a_loudspeaker_cannot_be_moved_across_communes_by_either_side(world: World) -> None:
    with world.sessions() as s:
        for actor, device_id, zone in (
            (OPERATOR, "loa-03", A),  # pull B's loudspeaker into A
            (OPERATOR, "loa-01", B),  # push A's loudspeaker into B
            (OPERATOR_B, "loa-01", B),  # B takes A's
            (APPROVER_A, "loa-03", A),
        ):
            with pytest.raises(Forbidden):
                devices.move_device(world.uc(s, actor), device_id, zone)
            s.rollback()
        assert {d.id: d.zone_path for d in s.scalars(select(Device))} == {
            "loa-01": A,
            "loa-02": A,
            "loa-03": B,
        }
