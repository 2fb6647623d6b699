"""Planning over the database: idempotent occurrences, per-target timelines, cancellation."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pa_server.db.models import Occurrence
from pa_server.db.published import DbPublishedStore
from pa_server.schemas.schedules import ScheduleUpdate
from pa_server.services import schedules
from pa_server.services.timelines import desired_timelines, replan
from tests.pa_server.server_fixtures import NOW, FakeRenderer, use_case
from tests.pa_server.services.support import BASE, HORIZON, seed


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Occurrence)) or 0


def test_replanning_twice_changes_nothing(sessions: sessionmaker[Session], tmp_path) -> None:  # type: ignore[no-untyped-def]
    renderer = FakeRenderer(tmp_path / "media")
    with sessions() as s:
        seed(s, renderer)
        first = replan(s, now=NOW, horizon=HORIZON)
        s.commit()
        ids = set(s.scalars(select(Occurrence.id)))
    assert first.created == 4 and len(ids) == 4
    with sessions() as s:  # a restart: a new session, same clock
        again = replan(s, now=NOW, horizon=HORIZON)
        s.commit()
        assert (again.created, again.updated, again.cancelled) == (0, 0, 0)
        assert set(s.scalars(select(Occurrence.id))) == ids


def test_timelines_per_target_and_cancellation(sessions: sessionmaker[Session], tmp_path) -> None:  # type: ignore[no-untyped-def]
    renderer = FakeRenderer(tmp_path / "media")
    with sessions() as s:
        sched_id = seed(s, renderer)
        replan(s, now=NOW, horizon=HORIZON)
        s.commit()
        desired = desired_timelines(s, now=NOW, horizon_until=NOW + HORIZON, base_url=BASE)
    items = desired["zone:vinh-tuong/tan-tien"]
    assert [i.play_at for i in items] == sorted(i.play_at for i in items) and len(items) == 4
    assert items[0].media.url.startswith(f"{BASE}/media/") and items[0].priority == 50
    DbPublishedStore(sessions).put("zone:vinh-tuong/tan-tien", 1, "h")
    with sessions() as s:  # move the schedule to another zone: the old target empties
        uc = use_case(s, data_dir=tmp_path)
        schedules.update_schedule(uc, sched_id, ScheduleUpdate(zones=["vinh-tuong"]))
        result = replan(s, now=NOW, horizon=HORIZON)
        s.commit()
        assert result.updated == 4 and count(s) == 4
        desired = desired_timelines(s, now=NOW, horizon_until=NOW + HORIZON, base_url=BASE)
    assert desired["zone:vinh-tuong/tan-tien"] == ()
    assert len(desired["zone:vinh-tuong"]) == 4
    with sessions() as s:
        schedules.delete_schedule(use_case(s, data_dir=tmp_path), sched_id)
        result = replan(s, now=NOW, horizon=HORIZON)
        s.commit()
        assert result.cancelled == 4
        assert desired_timelines(s, now=NOW, horizon_until=NOW + HORIZON, base_url=BASE) == {
            "zone:vinh-tuong/tan-tien": ()
        }
