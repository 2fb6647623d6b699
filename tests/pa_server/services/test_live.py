"""Live sessions as use cases: rights on the session as it would be, its row, audit, delivery."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import Item
from pa_server.auth.errors import Forbidden
from pa_server.auth.models import AuditEntry
from pa_server.auth.rights import Actor, Role
from pa_server.config import Settings
from pa_server.db.models import Announcement, LiveSessionRow, Occurrence, Zone
from pa_server.live.engine import FakeLiveEngine
from pa_server.live.sources import MicRegistry, SilentRelay
from pa_server.schemas.devices import DeviceCreate
from pa_server.schemas.live import LiveCreate as LiveStart
from pa_server.schemas.schedules import ScheduleCreate
from pa_server.services import announcements, devices, live, programme, reports, schedules
from pa_server.services.context import UseCase
from pa_server.services.errors import Conflict, Invalid, Unavailable
from pa_server.services.live import LiveHub
from pa_server.services.timelines import desired_timelines, replan
from tests.pa_server.server_fixtures import NOW, TEST_APPROVER, FakeDispatcher, add_zone, use_case

LEAD = timedelta(seconds=8)
ZONE = "zone:vinh-tuong/tan-tien"
OPERATOR = Actor(id=7, username="vanhanh", role=Role.OPERATOR, zones=("vinh-tuong/tan-tien",))
BASE = "http://pa.test:8000"
URL = "http://radio.test/vov1.mp3"


def _seed(session: Session, tmp_path: Path) -> None:
    for path, name in (
        ("vinh-tuong", "Vĩnh Tường"),
        ("vinh-tuong/tan-tien", "Tân Tiến"),
        ("vinh-tuong/an-hoa", "An Hòa"),
    ):
        add_zone(session, path, name, timezone="Asia/Ho_Chi_Minh", now=NOW)
    uc = use_case(session, data_dir=tmp_path)
    devices.create_device(uc, DeviceCreate(id="loa-01", zone="vinh-tuong/tan-tien"))
    devices.create_device(uc, DeviceCreate(id="loa-02", zone="vinh-tuong/tan-tien"))
    devices.create_device(uc, DeviceCreate(id="loa-03", zone="vinh-tuong/an-hoa"))
    session.commit()


class World:
    def __init__(self, sessions: sessionmaker[Session], tmp_path: Path) -> None:
        self.sessions = sessions
        self.tmp_path = tmp_path
        self.engine = FakeLiveEngine(clock=lambda: NOW + timedelta(minutes=5))
        self.dispatcher = FakeDispatcher()
        self.replans = 0
        self.hub = LiveHub(
            self.engine,
            relay_source=SilentRelay,
            sessions=sessions,
            dispatcher=lambda: self.dispatcher,
            on_plan_change=self._replan,
        )
        with sessions() as s:
            _seed(s, tmp_path)

    def _replan(self) -> None:
        self.replans += 1

    def uc(self, session: Session, actor: Actor | None = None) -> UseCase:
        uc = use_case(
            session,
            data_dir=self.tmp_path,
            dispatcher=self.dispatcher,
            broadcast_lead_s=LEAD.total_seconds(),
        )
        return replace(uc, actor=actor) if actor is not None else uc


@pytest.fixture
def world(sessions: sessionmaker[Session], tmp_path: Path) -> World:
    return World(sessions, tmp_path)


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_relay_goes_on_air_as_a_signed_live_item_on_the_targets_timeline(world: World) -> None:
    with world.sessions() as s:
        row = live.start_relay(
            world.uc(s, OPERATOR),
            world.hub,
            LiveStart(title="Tiếp sóng VOV1", zones=["vinh-tuong/tan-tien"], minutes=30, url=URL),
        )
        sid, occ_id = row.id, row.occurrence_id
    # The engine plays it on the zone's loudspeakers, and only those.
    assert world.engine.assigned() == {"loa-01": "live-1", "loa-02": "live-1"}
    with world.sessions() as s:
        row = s.get(LiveSessionRow, sid)
        assert row is not None and occ_id is not None
        assert (row.kind, row.source_url, row.started_by) == ("relay", URL, "vanhanh")
        assert row.targets == [ZONE] and row.device_ids == ["loa-01", "loa-02"]
        assert row.until == NOW + LEAD + timedelta(minutes=30) and row.ended_at is None
        # Who started it is in the audit log (the row's insert, under the operator).
        assert any(e.actor_name == "vanhanh" for e in _audit(s, "create") if e.entity_id == sid)
        desired = desired_timelines(
            s, now=NOW, horizon_until=NOW + timedelta(hours=1), base_url=BASE
        )
    [item] = [i for i in desired[ZONE] if i.occurrence_id == occ_id]
    assert item.live is not None and item.media is None
    assert (item.live.stream, item.play_at, item.until) == ("live-1", NOW + LEAD, row.until)
    # An agent offline a moment still joins: the whole window is its lateness bound.
    assert item.max_late_s == 30 * 60
    plays = [(t, body) for t, kind, body in world.dispatcher.commands if kind == "play"]
    assert plays == [(ZONE, item)]
    assert Item.model_validate(item.model_dump()).is_live


def test_stop_records_the_outcome_takes_it_off_the_timelines_and_sends_stop(world: World) -> None:
    with world.sessions() as s:
        row = live.start_relay(
            world.uc(s, OPERATOR),
            world.hub,
            LiveStart(title="Tiếp sóng", zones=["vinh-tuong/tan-tien"], url=URL),
        )
        sid, occ_id = row.id, row.occurrence_id
    with world.sessions() as s:
        live.stop_session(world.uc(s, OPERATOR), world.hub, sid)
    assert world.engine.assigned() == {}
    with world.sessions() as s:
        row = s.get(LiveSessionRow, sid)
        assert row is not None
        assert (row.outcome, row.stopped_by) == ("stopped", "vanhanh")
        occ = s.get(Occurrence, occ_id)
        assert occ is not None and occ.status == "stopped"
        assert [e.actor_name for e in _audit(s, "stop")] == ["vanhanh"]
        assert len(_audit(s, "live_end")) == 1
        # A person stopped it: the pages say "đã dừng".
        assert _state(s, occ_id) == "stopped"
        desired = desired_timelines(
            s, now=NOW, horizon_until=NOW + timedelta(hours=1), base_url=BASE
        )
        with pytest.raises(Conflict):
            live.stop_session(world.uc(s, OPERATOR), world.hub, sid)
    assert occ_id not in {i.occurrence_id for i in desired.get(ZONE, ())}
    assert (ZONE, "stop", {"occurrence_id": occ_id}) in world.dispatcher.commands
    assert world.replans == 1


def test_a_failed_source_is_recorded_alerted_and_stopped(world: World) -> None:
    with world.sessions() as s:
        row = live.start_relay(
            world.uc(s), world.hub, LiveStart(title="VOV", zones=["vinh-tuong"], url=URL)
        )
        sid, occ_id = row.id, row.occurrence_id
    world.engine.end(sid, "failed", "Connection refused")
    with world.sessions() as s:
        row = s.get(LiveSessionRow, sid)
        assert row is not None and (row.outcome, row.detail) == ("failed", "Connection refused")
        [alert] = _audit(s, "live_failed")
        assert alert.entity_id == sid
        occ = s.get(Occurrence, occ_id)
        assert occ is not None and occ.status == "stopped"
        # Off the timelines like a stop, but nobody stopped it: the pages say "lỗi".
        assert _state(s, occ_id) == "failed"
    assert {t for t, kind, _ in world.dispatcher.commands if kind == "stop"} == {"zone:vinh-tuong"}


def test_a_microphone_session_registers_its_token_and_ends_finished(world: World) -> None:
    with world.sessions() as s:
        row, token = live.start_mic(
            world.uc(s, OPERATOR), world.hub, LiveStart(title="Họp", zones=["vinh-tuong/tan-tien"])
        )
        sid = row.id
    mic = world.hub.mics.claim(sid, token)
    mic.push(b"\x00\x01" * 4800)
    mic.end()  # the page's "Kết thúc"
    assert len(world.engine.all[sid].pcm) > 0
    with world.sessions() as s:
        row = s.get(LiveSessionRow, sid)
        assert row is not None and row.kind == "mic" and row.outcome == "finished"
    with pytest.raises(PermissionError):
        world.hub.mics.claim(sid, token)  # forgotten with the session


def test_rights_are_checked_on_the_session_as_it_would_be(world: World) -> None:
    with world.sessions() as s:
        # An operator only on its own zones, and never an emergency.
        with pytest.raises(Forbidden):
            live.start_relay(
                world.uc(s, OPERATOR),
                world.hub,
                LiveStart(title="x", zones=["vinh-tuong"], url=URL),
            )
        with pytest.raises(Forbidden):
            live.start_mic(
                world.uc(s, OPERATOR),
                world.hub,
                LiveStart(title="x", zones=["vinh-tuong/tan-tien"], level="emergency"),
                confirmed=True,
            )
        # An admin's emergency needs the confirmation.
        with pytest.raises(Forbidden):
            live.start_mic(
                world.uc(s),
                world.hub,
                LiveStart(title="Lũ", zones=["vinh-tuong"], level="emergency"),
            )
        viewer = Actor(id=9, username="xem", role=Role.VIEWER)
        with pytest.raises(Forbidden):
            live.start_mic(
                world.uc(s, viewer), world.hub, LiveStart(title="x", zones=["vinh-tuong"])
            )
        with pytest.raises(Invalid):
            live.start_relay(
                world.uc(s),
                world.hub,
                LiveStart(title="x", zones=["vinh-tuong"], url="file:///etc/passwd"),
            )
        assert s.scalar(select(LiveSessionRow.id)) is None
        row, _ = live.start_mic(
            world.uc(s),
            world.hub,
            LiveStart(title="Lũ", zones=["vinh-tuong"], level="emergency"),
            confirmed=True,
        )
        # An operator cannot stop an admin's emergency, even one that reaches its zone.
        with pytest.raises(Forbidden):
            live.stop_session(world.uc(s, OPERATOR), world.hub, row.id)
        with pytest.raises(Forbidden):
            live.mic_token(world.uc(s, OPERATOR), world.hub, row.id)
    assert len(world.engine.sessions()) == 1
    assert world.engine.all[row.id].session.targets == {"loa-01", "loa-02", "loa-03"}


def test_quiet_hours_hold_back_all_but_an_emergency(world: World) -> None:
    with world.sessions() as s:
        zone = s.get(Zone, "vinh-tuong")
        assert zone is not None
        # 05:00 in Hà Nội is NOW: quiet until 05:30.
        zone.quiet_start, zone.quiet_end = time(22, 0), time(5, 30)
        s.commit()
        with pytest.raises(Invalid) as refused:
            live.start_mic(world.uc(s), world.hub, LiveStart(title="x", zones=["vinh-tuong"]))
        assert refused.value.code == "quiet_hours"
        row, _ = live.start_mic(
            world.uc(s),
            world.hub,
            LiveStart(title="Lũ", zones=["vinh-tuong"], level="emergency"),
            confirmed=True,
        )
        occ = s.get(Occurrence, row.occurrence_id)
        assert occ is not None and occ.priority == 100


def test_live_is_unavailable_with_the_vietnamese_reason(world: World) -> None:
    hub = LiveHub(None, reason_vi="Chưa cài Snapcast nên chưa phát trực tiếp được.")
    with world.sessions() as s, pytest.raises(Unavailable) as refused:
        live.start_mic(world.uc(s), hub, LiveStart(title="x", zones=["vinh-tuong"]))
    assert refused.value.code == "live_unavailable"
    assert "Snapcast" in refused.value.message


def schedule_relay(world: World, s: Session) -> Announcement:
    """A relay of `URL` for 30 min, approved, daily at 05:30 on the commune, planned."""
    uc = world.uc(s)
    ann = live.create_relay(uc, title="Tiếp sóng VOV1", url=URL, minutes=30)
    announcements.approve_announcement(replace(uc, actor=TEST_APPROVER), ann.id)
    schedules.create_schedule(
        uc,
        ScheduleCreate(
            announcement_id=ann.id,
            zones=["vinh-tuong/tan-tien"],
            rrule="FREQ=DAILY;BYHOUR=5;BYMINUTE=30",
            start=NOW.replace(hour=0),
        ),
    )
    s.commit()
    replan(s, now=NOW, horizon=timedelta(hours=48))
    s.commit()
    return ann


def test_a_scheduled_relay_is_approved_planned_and_started_before_its_time(world: World) -> None:
    with world.sessions() as s:
        ann = schedule_relay(world, s)
        occ = s.scalars(select(Occurrence).where(Occurrence.announcement_id == ann.id)).first()
        assert occ is not None and occ.live is None
        assert occ.until == occ.play_at + timedelta(minutes=30)
        play_at, occ_id = occ.play_at, occ.id
        # Nothing to play before its session runs.
        desired = desired_timelines(
            s, now=NOW, horizon_until=NOW + timedelta(hours=1), base_url=BASE
        )
        assert occ_id not in {i.occurrence_id for i in desired.get(ZONE, ())}
    assert live.run_due_relays(world.hub, now=play_at - timedelta(minutes=5)) == []
    [sid] = live.run_due_relays(world.hub, now=play_at - timedelta(seconds=15))
    assert live.run_due_relays(world.hub, now=play_at - timedelta(seconds=10)) == []  # once
    assert world.engine.assigned() == {"loa-01": "live-1", "loa-02": "live-1"}
    with world.sessions() as s:
        row = s.get(LiveSessionRow, sid)
        assert row is not None and row.source_url == URL and row.occurrence_id == occ_id
        # A later replan keeps the live object (the planner does not own it).
        replan(s, now=play_at - timedelta(seconds=10), horizon=timedelta(hours=48))
        s.commit()
        desired = desired_timelines(
            s,
            now=play_at - timedelta(seconds=10),
            horizon_until=play_at + timedelta(hours=1),
            base_url=BASE,
        )
    [item] = [i for i in desired[ZONE] if i.occurrence_id == occ_id]
    assert item.live is not None and item.until == play_at + timedelta(minutes=30)
    # Receipts for it land in the report like a file's.
    assert reports is not None


def _open_hub(settings: Settings, world: World) -> LiveHub:
    """The hub `pa-server run` would open with `settings` (no bus behind it)."""
    return live.open_hub(
        settings,
        world.sessions,
        MicRegistry(),
        dispatcher=lambda: None,
        on_plan_change=lambda: None,
    )


def test_without_snapserver_live_is_off_with_the_install_command(
    world: World, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", snapserver_binary="/nonexistent/snapserver")
    hub = _open_hub(settings, world)
    assert hub.engine is None and not hub.available
    assert hub.reason_vi is not None and "sudo apt-get install snapserver" in hub.reason_vi


def test_pa_live_false_starts_no_snapserver_and_says_live_is_switched_off(
    world: World, tmp_path: Path
) -> None:
    # A session left running by a killed process: switched off or not, no engine runs it.
    with world.sessions() as s:
        sid = live.start_relay(
            world.uc(s), world.hub, LiveStart(title="VOV", zones=["vinh-tuong"], url=URL)
        ).id
    data = tmp_path / "off"
    # `snapserver_binary` that would fail differently ("install it") if it were looked for.
    settings = Settings(data_dir=data, live=False, snapserver_binary="/nonexistent/snapserver")
    hub = _open_hub(settings, world)
    assert hub.engine is None and not hub.available
    assert hub.reason_vi == live.SWITCHED_OFF_VI
    assert not (data / "live").exists()  # no snapserver work directory was made
    with world.sessions() as s:
        row = s.get(LiveSessionRow, sid)
        assert row is not None and row.outcome == "failed"
        # What the API and the pages show: the Vietnamese sentence, not an English cause.
        with pytest.raises(Unavailable) as refused:
            live.start_relay(
                world.uc(s), hub, LiveStart(title="VOV", zones=["vinh-tuong"], url=URL)
            )
    assert refused.value.code == "live_unavailable"
    assert refused.value.message == live.SWITCHED_OFF_VI


def test_sessions_cut_by_a_restart_are_closed_as_failed(world: World) -> None:
    with world.sessions() as s:
        row = live.start_relay(
            world.uc(s), world.hub, LiveStart(title="VOV", zones=["vinh-tuong"], url=URL)
        )
        sid = row.id
    # The process dies: the engine and its callbacks are gone, the row still says running.
    assert live.close_orphans(world.sessions, now=NOW + timedelta(minutes=1)) == 1
    with world.sessions() as s:
        row = s.get(LiveSessionRow, sid)
        assert row is not None and row.outcome == "failed" and row.detail
        assert [e.entity_id for e in _audit(s, "live_failed")] == [sid]
        occ = s.get(Occurrence, row.occurrence_id)
        assert occ is not None and occ.status == "stopped"
        assert _state(s, occ.id) == "failed"


def _state(session: Session, occ_id: str | None) -> str:
    """The broadcast's state as the live counts and the programme of its zone say it."""
    assert occ_id is not None
    now = NOW + timedelta(minutes=6)
    said = programme.loudspeaker_counts(session, occ_id, now=now).state
    place = programme.Place(zone="vinh-tuong", devices=frozenset({"loa-01", "loa-02", "loa-03"}))
    entries = programme.programme(
        session, place, start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=1), now=now
    )
    assert [e.state for e in entries if e.id == occ_id] == [said]
    return said
