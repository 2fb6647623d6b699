"""Schedules as a service (SQLite and PostgreSQL): several times of day in one schedule, the
planner honouring them, and refusal of a schedule from which nothing would play."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from pa_server import planning
from pa_server.schemas.schedules import LunarDays, ScheduleCreate, ScheduleUpdate
from pa_server.services import schedules, timelines
from pa_server.services.errors import Invalid
from pa_server.services.timelines import load_specs
from tests.pa_server.server_fixtures import NOW, FakeRenderer, use_case
from tests.pa_server.services.support import seed

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
COMMUNE = "vinh-tuong/tan-tien"


def _ann(session: Session, schedule_id: str) -> str:
    return schedules.get_schedule(session, schedule_id).announcement_id


def test_two_times_one_schedule_planned_at_both(session: Session, tmp_path: Path) -> None:
    first = seed(session, FakeRenderer(tmp_path / "media"))
    uc = use_case(session, data_dir=tmp_path)
    made = schedules.create_schedule(
        uc,
        ScheduleCreate(
            announcement_id=_ann(session, first),
            zones=[COMMUNE],
            rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR",
            times=["17:15", "06:30"],
            start=datetime(2026, 8, 10),
            end=datetime(2026, 8, 31, 23, 59, 59),
        ),
    )
    session.commit()
    assert made.times == ["06:30", "17:15"]
    public = schedules.schedule_public(made)
    assert public.times == ["06:30", "17:15"]
    occ = timelines.preview(session, made.id, start=NOW, end=NOW + timedelta(days=7))
    local = [o.planned_at.astimezone(HCM) for o in occ]
    assert [f"{t:%a %H:%M}" for t in local] == [
        "Mon 06:30",
        "Mon 17:15",
        "Wed 06:30",
        "Wed 17:15",
        "Fri 06:30",
        "Fri 17:15",
    ]


def test_old_schedules_without_times_keep_their_rule(session: Session, tmp_path: Path) -> None:
    first = seed(session, FakeRenderer(tmp_path / "media"))  # FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0
    occ = timelines.preview(session, first, start=NOW, end=NOW + timedelta(days=1))
    assert {f"{o.planned_at.astimezone(HCM):%H:%M}" for o in occ} == {"06:00", "17:00"}


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"rrule": "FREQ=DAILY", "times": ["23:00"]}, "all_in_quiet_hours"),
        ({"rrule": "FREQ=DAILY", "times": ["04:00", "22:30"]}, "all_in_quiet_hours"),
        (
            {
                "rrule": "FREQ=DAILY",
                "times": ["07:00"],
                "start": datetime(2026, 7, 1),
                "end": datetime(2026, 7, 31),
            },
            "schedule_in_past",
        ),
        ({"rrule": None, "start": datetime(2026, 8, 1, 7, 0)}, "schedule_in_past"),
        ({"rrule": "FREQ=DAILY;BYHOUR=7", "times": ["07:00"]}, "times_conflict"),
        ({"rrule": "FREQ=DAILY;COUNT=3", "times": ["07:00"]}, "times_conflict"),
        ({"rrule": "FREQ=HOURLY", "times": ["07:00"]}, "times_conflict"),
    ],
)
def test_refused_when_nothing_would_play(
    session: Session, tmp_path: Path, fields: dict[str, object], code: str
) -> None:
    first = seed(session, FakeRenderer(tmp_path / "media"))
    uc = use_case(session, data_dir=tmp_path)
    data = {
        "announcement_id": _ann(session, first),
        "zones": [COMMUNE],
        "start": datetime(2026, 8, 10),
    }
    data.update(fields)
    with pytest.raises(Invalid) as exc:
        schedules.create_schedule(uc, ScheduleCreate.model_validate(data))
    assert exc.value.code == code


def test_pause_always_allowed_resume_checked(session: Session, tmp_path: Path) -> None:
    first = seed(session, FakeRenderer(tmp_path / "media"))
    uc = use_case(session, data_dir=tmp_path)
    targets_before = [t.id for t in schedules.get_schedule(session, first).targets]
    paused = schedules.update_schedule(
        uc, first, ScheduleUpdate(enabled=False, end=NOW + timedelta(days=3))
    )
    assert paused.enabled is False
    # Same places: the target rows stay (the audit log does not say they were replaced).
    assert [t.id for t in paused.targets] == targets_before
    later = use_case(session, data_dir=tmp_path, now=NOW + timedelta(days=400))
    with pytest.raises(Invalid) as exc:  # its end (3 days on) has long passed
        schedules.update_schedule(later, first, ScheduleUpdate(enabled=True))
    assert exc.value.code == "schedule_in_past"


def test_outlook_reports_quiet_hours_clashes_and_the_past(session: Session, tmp_path: Path) -> None:
    first = seed(session, FakeRenderer(tmp_path / "media"))  # 06:00 and 17:00 daily
    specs, _, _ = load_specs(session)
    base = specs[0]
    spec = planning.ScheduleSpec(
        id="new",
        announcement_id=base.announcement_id,
        title="Mới",
        rrule="FREQ=DAILY",
        times=(
            datetime(2000, 1, 1, 4, 30).time(),
            datetime(2000, 1, 1, 17, 0).time(),
            datetime(2000, 1, 1, 22, 0).time(),
        ),
        start=datetime(2026, 8, 10, tzinfo=HCM),
        end=None,
        exdates=(),
        timezone="Asia/Ho_Chi_Minh",
        level="normal",
        targets=(f"zone:{COMMUNE}",),
        duration_ms=10_000,
        volume=None,
        max_late_s=120,
        created_at=NOW,
    )
    now = datetime(2026, 8, 10, 12, 0, tzinfo=HCM)
    seen = schedules.outlook(session, spec, now=now, horizon=timedelta(days=2))
    assert {f"{p.astimezone(HCM):%H:%M}" for p in seen.past} == {"04:30"}
    quiet = {f"{s.planned_at.astimezone(HCM):%H:%M}" for s in seen.skipped}
    assert quiet == {"04:30", "22:00"}
    assert {c.other_title for c in seen.clashes} == {base.title}
    assert {f"{c.planned_at.astimezone(HCM):%H:%M}" for c in seen.clashes} == {"17:00"}
    played = {f"{o.planned_at.astimezone(HCM):%H:%M}" for o in seen.occurrences}
    assert played == {"17:00"}
    assert first


def test_lunar_days_at_several_times(session: Session, tmp_path: Path) -> None:
    """The lunar rule chooses the days, `times` when on each: both times on each kept day."""
    first = seed(session, FakeRenderer(tmp_path / "media"))
    uc = use_case(session, data_dir=tmp_path)
    made = schedules.create_schedule(
        uc,
        ScheduleCreate(
            announcement_id=_ann(session, first),
            zones=[COMMUNE],
            rrule=None,  # the service makes it FREQ=DAILY: every day is a candidate
            times=["17:15", "06:30"],
            lunar=LunarDays(days=[1, 15]),
            holidays="skip",
            start=datetime(2026, 8, 10),
        ),
    )
    session.commit()
    assert (made.rrule, made.times) == ("FREQ=DAILY", ["06:30", "17:15"])
    occ = timelines.preview(session, made.id, start=NOW, end=NOW + timedelta(days=40))
    local = [o.planned_at.astimezone(HCM) for o in occ]
    # Mùng 1 and rằm tháng 7 (13/08, 27/08), mùng 1 tháng 8 (11/09) of the lunar year 2026.
    assert [f"{t:%d/%m %H:%M}" for t in local] == [
        "13/08 06:30",
        "13/08 17:15",
        "27/08 06:30",
        "27/08 17:15",
        "11/09 06:30",
        "11/09 17:15",
    ]


def test_sparse_lunar_schedule_is_not_nothing_would_play(session: Session, tmp_path: Path) -> None:
    """Rằm tháng 7 on a Sunday: next in 2028, past the 400 days an ordinary rule is searched
    for, within the three years a calendar is; accepted and planned then at both times."""
    first = seed(session, FakeRenderer(tmp_path / "media"))
    uc = use_case(session, data_dir=tmp_path)
    made = schedules.create_schedule(
        uc,
        ScheduleCreate(
            announcement_id=_ann(session, first),
            zones=[COMMUNE],
            rrule="FREQ=WEEKLY;BYDAY=SU",
            times=["06:30", "19:00"],
            lunar=LunarDays(days=[15], months=[7]),
            start=datetime(2026, 8, 10),
        ),
    )
    session.commit()
    spec = next(s for s in load_specs(session)[0] if s.id == made.id)
    found = planning.expand(spec, NOW, NOW + timedelta(days=3 * 366))
    assert [f"{t.astimezone(HCM):%Y-%m-%d %H:%M}" for t in found] == [
        "2028-09-03 06:30",
        "2028-09-03 19:00",
    ]
    # A calendar that leaves nothing at all is still refused (30 Chạp is a holiday).
    with pytest.raises(Invalid) as exc:
        schedules.create_schedule(
            uc,
            ScheduleCreate(
                announcement_id=_ann(session, first),
                zones=[COMMUNE],
                times=["07:00"],
                lunar=LunarDays(days=[30], months=[12]),
                holidays="skip",
                start=datetime(2026, 8, 10),
            ),
        )
    assert exc.value.code == "calendar_never_occurs"
