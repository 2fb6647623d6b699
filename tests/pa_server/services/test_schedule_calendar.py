"""Schedules with calendars through the services and the database (SQLite + PostgreSQL):
the stored lunar rule and holiday policy drive the plan, and every change is audited."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pa_server.auth.models import AuditEntry
from pa_server.db.models import Announcement, Occurrence
from pa_server.schemas.schedules import LunarDays, ScheduleCreate, ScheduleUpdate
from pa_server.services import schedules
from pa_server.services.errors import Invalid
from pa_server.services.timelines import replan
from tests.pa_server.server_fixtures import FakeRenderer, use_case
from tests.pa_server.services.support import seed

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _create(s: Session, tmp: Path, ann_id: str, **over: object) -> str:
    data = ScheduleCreate(
        announcement_id=ann_id,
        zones=["vinh-tuong/tan-tien"],
        rrule="FREQ=DAILY;BYHOUR=7,18;BYMINUTE=0",
        start=datetime(2026, 12, 1),
        **over,  # type: ignore[arg-type]
    )
    return schedules.create_schedule(use_case(s, data_dir=tmp), data).id


def _days(s: Session, schedule_id: str) -> set[date]:
    rows = s.scalars(select(Occurrence).where(Occurrence.schedule_id == schedule_id))
    return {o.planned_at.astimezone(VN).date() for o in rows}


def _plan_days(s: Session, first: date, count: int) -> None:
    for offset in range(0, count, 2):
        day = first + timedelta(days=offset)
        replan(
            s, now=datetime(day.year, day.month, day.day, tzinfo=VN), horizon=timedelta(hours=48)
        )


def test_skip_holidays_has_no_occurrence_on_tet(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    renderer = FakeRenderer(tmp_path / "media")
    with sessions() as s:
        seed(s, renderer)
        ann_id = s.scalars(select(Announcement.id)).one()
        skip = _create(s, tmp_path, ann_id, holidays="skip")
        only = _create(s, tmp_path, ann_id, holidays="only")
        s.commit()
        for tet in (date(2027, 2, 4), date(2028, 1, 24)):  # 29 Tết … mùng 5
            _plan_days(s, tet, 8)
        s.commit()
        tet_days = {date(2027, 2, 6), date(2027, 2, 7), date(2028, 1, 26), date(2028, 1, 27)}
        assert not tet_days & _days(s, skip)
        assert tet_days <= _days(s, only)
        assert date(2027, 2, 11) in _days(s, skip) and date(2027, 2, 11) not in _days(s, only)


def test_lunar_schedule_plans_on_lunar_days_and_is_audited(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    renderer = FakeRenderer(tmp_path / "media")
    with sessions() as s:
        seed(s, renderer)
        ann_id = s.scalars(select(Announcement.id)).one()
        eve = _create(s, tmp_path, ann_id, lunar=LunarDays(days=[30], months=[12]))
        s.commit()
        _plan_days(s, date(2027, 2, 3), 6)
        s.commit()
        assert _days(s, eve) == {date(2027, 2, 5)}  # tháng Chạp has 29 days: its last day
        audited = s.scalars(
            select(AuditEntry).where(AuditEntry.entity == "schedules", AuditEntry.entity_id == eve)
        ).all()
        assert (
            audited
            and audited[0].after
            and audited[0].after["lunar"]
            == {
                "days": [30],
                "months": [12],
            }
        )
        uc = use_case(s, data_dir=tmp_path)
        schedules.update_schedule(uc, eve, ScheduleUpdate(title="Giao thừa", holidays="include"))
        s.commit()
        row = schedules.get_schedule(s, eve)
        assert row.lunar == {"days": [30], "months": [12]} and row.title == "Giao thừa"
        # 30 Chạp is New Year's Eve, a public holiday: skipping holidays would leave nothing.
        with pytest.raises(Invalid) as caught:
            schedules.update_schedule(uc, eve, ScheduleUpdate(holidays="skip"))
        assert caught.value.code == "calendar_never_occurs"
        s.rollback()
        assert schedules.get_schedule(s, eve).holidays == "include"
