"""One-off broadcasts: a common start instant, on the retained timelines, off them when stopped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from pa_server.db.models import Announcement
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.services import broadcasts
from pa_server.services.dirty import take_plan_dirty
from pa_server.services.planning import desired_timelines
from tests.pa_server.server_fixtures import NOW, FakeDispatcher, FakeRenderer
from tests.pa_server.services.test_planning import BASE, HORIZON, seed

LEAD = timedelta(seconds=8)
EMERGENCY_LEAD = timedelta(seconds=3)
ZONE = "zone:vinh-tuong/tan-tien"


def _create(session: Session, dispatcher: FakeDispatcher, **over: object) -> str:
    ann_id = session.query(Announcement.id).scalar()
    data = BroadcastCreate.model_validate(
        {"announcement_id": ann_id, "zones": ["vinh-tuong/tan-tien"], **over}
    )
    occ = broadcasts.create_broadcast(
        session,
        data,
        dispatcher=dispatcher,
        timezone="Asia/Ho_Chi_Minh",
        now=NOW,
        lead=LEAD,
        emergency_lead=EMERGENCY_LEAD,
    )
    assert take_plan_dirty(session)  # the timelines must be republished
    session.commit()
    broadcasts.send_play(dispatcher, occ, base_url=BASE, now=NOW)
    return occ.id


def test_broadcast_starts_together_after_the_lead_and_is_on_the_timeline(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    dispatcher = FakeDispatcher()
    with sessions() as s:
        seed(s, FakeRenderer(tmp_path / "media"))
        normal = _create(s, dispatcher)
        emergency = _create(s, dispatcher, level="emergency")
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
        occ_id = _create(s, dispatcher, play_at=(NOW + timedelta(hours=1)).isoformat())
        stopped = broadcasts.stop_broadcast(s, occ_id, now=NOW)
        assert take_plan_dirty(s)
        s.commit()
        broadcasts.send_stop(dispatcher, stopped, now=NOW)
        desired = desired_timelines(s, now=NOW, horizon_until=NOW + HORIZON, base_url=BASE)
    assert occ_id not in {i.occurrence_id for i in desired.get(ZONE, ())}
    assert dispatcher.commands[-1][:2] == (ZONE, "stop")
    assert dispatcher.commands[-1][2].occurrence_id == occ_id
