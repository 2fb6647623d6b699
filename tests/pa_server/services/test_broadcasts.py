"""One-off broadcasts: a common start instant, on the retained timelines, off them when stopped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pa_server.db.models import Announcement, Occurrence
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.services import broadcasts, devices, reports
from pa_server.services.context import UseCase
from pa_server.services.dirty import take_plan_dirty
from pa_server.services.timelines import desired_timelines, replan
from tests.pa_server.server_fixtures import NOW, FakeDispatcher, FakeRenderer, add_zone, use_case
from tests.pa_server.services.support import BASE, HORIZON, seed

LEAD = timedelta(seconds=8)
EMERGENCY_LEAD = timedelta(seconds=3)
ZONE = "zone:vinh-tuong/tan-tien"


def _uc(session: Session, dispatcher: FakeDispatcher, tmp_path: Path) -> UseCase:
    return use_case(
        session,
        data_dir=tmp_path,
        dispatcher=dispatcher,
        broadcast_lead_s=LEAD.total_seconds(),
        emergency_lead_s=EMERGENCY_LEAD.total_seconds(),
    )


def _create(uc: UseCase, **over: object) -> str:
    ann_id = uc.db.query(Announcement.id).scalar()
    data = BroadcastCreate.model_validate(
        {"announcement_id": ann_id, "zones": ["vinh-tuong/tan-tien"], **over}
    )
    occ = broadcasts.put_on_air(uc, data, confirmed=over.get("level") == "emergency")
    assert take_plan_dirty(uc.db)  # the timelines must be republished
    return occ.id


def test_broadcast_starts_together_after_the_lead_and_is_on_the_timeline(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    dispatcher = FakeDispatcher()
    with sessions() as s:
        seed(s, FakeRenderer(tmp_path / "media"))
        uc = _uc(s, dispatcher, tmp_path)
        normal = _create(uc)
        emergency = _create(uc, level="emergency")
    plays = {item.occurrence_id: item for _, kind, item in dispatcher.commands if kind == "play"}
    # Every agent gets the same absolute instant: none starts "when the message arrives".
    assert plays[normal].play_at == NOW + LEAD
    assert plays[emergency].play_at == NOW + EMERGENCY_LEAD
    assert plays[emergency].priority == 100
    with sessions() as s:
        desired = desired_timelines(s, now=NOW, horizon_until=NOW + HORIZON, base_url=BASE)
    # An agent offline now finds the same occurrence (same id, same instant) when it connects.
    on_timeline = {i.occurrence_id: i for i in desired[ZONE]}
    assert on_timeline[normal] == plays[normal]
    assert on_timeline[emergency] == plays[emergency]
    # ...until its lateness window has passed.
    late = NOW + LEAD + timedelta(seconds=301)
    with sessions() as s:
        desired = desired_timelines(s, now=late, horizon_until=late + HORIZON, base_url=BASE)
    assert normal not in {i.occurrence_id for i in desired.get(ZONE, ())}


def test_stop_takes_the_broadcast_off_the_timelines(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    dispatcher = FakeDispatcher()
    with sessions() as s:
        seed(s, FakeRenderer(tmp_path / "media"))
        uc = _uc(s, dispatcher, tmp_path)
        occ_id = _create(uc, play_at=(NOW + timedelta(hours=1)).isoformat())
        broadcasts.stop_broadcast(uc, occ_id)
        assert take_plan_dirty(s)
        desired = desired_timelines(s, now=NOW, horizon_until=NOW + HORIZON, base_url=BASE)
    assert occ_id not in {i.occurrence_id for i in desired.get(ZONE, ())}
    assert dispatcher.commands[-1][:2] == (ZONE, "stop")
    assert dispatcher.commands[-1][2]["occurrence_id"] == occ_id


def test_reports_keep_the_devices_an_occurrence_was_meant_for(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    dispatcher = FakeDispatcher()
    with sessions() as s:
        seed(s, FakeRenderer(tmp_path / "media"))
        replan(s, now=NOW, horizon=HORIZON)
        uc = _uc(s, dispatcher, tmp_path)
        occ_id = _create(uc)
        old_row = _create(uc)
        # A row from before migration 0003: nothing recorded, reports use today's zones.
        s.get_one(Occurrence, old_row).expected_devices = None
        add_zone(s, "vinh-tuong/an-tuong", "An Tường")
        s.commit()
    with sessions() as s:
        assert s.get_one(Occurrence, occ_id).expected_devices == {"loa-01": "vinh-tuong/tan-tien"}
        # Later the loudspeaker is moved to another commune.
        devices.move_device(_uc(s, dispatcher, tmp_path), "loa-01", "vinh-tuong/an-tuong")
        replan(s, now=NOW + timedelta(minutes=1), horizon=HORIZON)
        s.commit()
        detail = broadcasts.broadcast_detail(s, occ_id)
        window = {"start": NOW - timedelta(hours=1), "end": NOW + timedelta(minutes=1)}
        then = reports.playback_report(s, zone="vinh-tuong/tan-tien", **window)
        now_ = reports.playback_report(s, zone="vinh-tuong/an-tuong", **window)
        future = desired_timelines(s, now=NOW, horizon_until=NOW + HORIZON, base_url=BASE)
        planned = [
            o.expected_devices
            for o in s.scalars(select(Occurrence).where(Occurrence.immediate.is_(False)))
        ]
    assert detail.delivery.expected == 1
    assert detail.devices[0].zone == "vinh-tuong/tan-tien"  # where it was, not where it is
    # The broadcast sent to tân-tiến stays on tân-tiến's account; the unrecorded old row
    # follows today's zones, where tân-tiến has no device left.
    assert [(r.zone, r.device_id, r.planned) for r in then.rows] == [
        ("vinh-tuong/tan-tien", "loa-01", 1)
    ]
    assert [(r.zone, r.device_id, r.planned) for r in now_.rows] == [
        ("vinh-tuong/an-tuong", "loa-01", 0)
    ]
    # Upcoming schedule occurrences follow the move (the zone now has no device).
    assert planned and all(e == {} for e in planned)
    assert future[ZONE] and {i.occurrence_id for i in future[ZONE]} >= {occ_id}
