"""Random sequences of use cases by random people: nothing anyone may not do is ever done.

After every step, whatever it was and whether it was refused, the store must hold:
- no broadcast (occurrence) or schedule that reaches outside the zones of whoever caused it,
  and no emergency caused by anyone but an admin;
- no approved announcement whose approver is its last editor.

The oracle below is written out here, from docs/accounts.md, not taken from the code it checks.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from pa_server.auth.audit import audited
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role
from pa_server.db.engine import make_engine, session_factory
from pa_server.db.models import Announcement, Base, Occurrence, Schedule
from pa_server.schemas.announcements import AnnouncementCreate, AnnouncementUpdate
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.schemas.devices import DeviceCreate
from pa_server.schemas.schedules import ScheduleCreate, ScheduleUpdate
from pa_server.services import announcements, broadcasts, devices, schedules, zones
from pa_server.services.context import UseCase
from pa_server.services.errors import ServiceError
from pa_server.services.timelines import replan
from tests.pa_server.server_fixtures import NOW, FakeDispatcher, FakeRenderer, add_zone, use_case

ZONES = ("vt", "vt/tt", "vt/tt/t1", "vt/nk")
DEVICES = {"loa-tt": "vt/tt/t1", "loa-nk": "vt/nk"}
PEOPLE = {
    "admin": Actor(1, "admin", Role.ADMIN),
    "admin2": Actor(2, "admin2", Role.ADMIN),
    "duyet": Actor(3, "duyet", Role.APPROVER),
    "duyet-tt": Actor(4, "duyet-tt", Role.APPROVER, ("vt/tt",)),
    "op-tt": Actor(5, "op-tt", Role.OPERATOR, ("vt/tt",)),
    "op-nk": Actor(6, "op-nk", Role.OPERATOR, ("vt/nk",)),
    "op-t1": Actor(7, "op-t1", Role.OPERATOR, ("vt/tt/t1",)),
    "xem": Actor(8, "xem", Role.VIEWER),
}
TARGETS = [f"zone:{z}" for z in ZONES] + [f"device:{d}" for d in DEVICES]


def may_reach(person: str, target: str) -> bool:
    """The oracle: is `target` inside `person`'s zones?"""
    actor = PEOPLE[person]
    if actor.role is Role.VIEWER:
        return False
    if actor.role is Role.ADMIN or (actor.role is Role.APPROVER and not actor.zones):
        return True
    kind, _, name = target.partition(":")
    path = DEVICES[name] if kind == "device" else name
    return any(path == z or path.startswith(z + "/") for z in actor.zones)


def check_invariants(db: Session) -> None:
    for occ in db.scalars(select(Occurrence)):
        who = occ.caused_by
        assert who in PEOPLE, (occ.id, who)
        assert all(may_reach(who, t) for t in occ.targets), (who, occ.targets)
        if occ.priority >= 100:
            assert PEOPLE[who].role is Role.ADMIN, (who, occ.title)
    for sched in db.scalars(select(Schedule)):
        who = sched.set_by
        assert who in PEOPLE
        assert all(may_reach(who, t.target) for t in sched.targets), (who, sched.id)
        if sched.level == "emergency":
            assert PEOPLE[who].role is Role.ADMIN
    for ann in db.scalars(select(Announcement).where(Announcement.status == "approved")):
        assert ann.approver != (ann.last_editor or ann.author), ann.id


def _targets(picks: list[int]) -> tuple[list[str], list[str]]:
    chosen = [TARGETS[i % len(TARGETS)] for i in picks]
    zone_list = [t.partition(":")[2] for t in chosen if t.startswith("zone:")]
    device_list = [t.partition(":")[2] for t in chosen if t.startswith("device:")]
    return zone_list, device_list


LEVELS = st.sampled_from(["normal", "priority", "emergency"])
STEP = st.tuples(
    st.sampled_from(
        [
            "create",
            "edit_text",
            "edit_level",
            "withdraw",
            "archive",
            "redraft",
            "render",
            "approve",
            "schedule",
            "reschedule",
            "pause",
            "unschedule",
            "broadcast",
            "stop",
            "replan",
        ]
    ),
    st.sampled_from(sorted(PEOPLE)),
    st.integers(0, 7),  # which row
    st.lists(st.integers(0, 99), min_size=1, max_size=3),  # targets
    LEVELS,
    st.booleans(),  # confirmed
)


def _pick(rows: list[Any], i: int) -> Any:
    return rows[i % len(rows)] if rows else None


def _run(uc: UseCase, step: tuple[Any, ...]) -> None:
    action, _who, i, picks, level, confirmed = step
    db = uc.db
    anns = list(db.scalars(select(Announcement).order_by(Announcement.created_at, Announcement.id)))
    scheds = list(db.scalars(select(Schedule).order_by(Schedule.created_at, Schedule.id)))
    occs = list(db.scalars(select(Occurrence).where(Occurrence.immediate.is_(True))))
    ann, sched, occ = _pick(anns, i), _pick(scheds, i), _pick(occs, i)
    zone_list, device_list = _targets(picks)
    start = (NOW + timedelta(hours=1 + i)).isoformat()
    if action == "create":
        data = AnnouncementCreate(title=f"t{i}", text=f"Thông báo số {i}.", level=level)
        announcements.create_announcement(uc, data)
    elif action == "edit_text" and ann:
        announcements.update_announcement(uc, ann.id, AnnouncementUpdate(text=f"Sửa {i}."))
    elif action == "edit_level" and ann:
        announcements.update_announcement(uc, ann.id, AnnouncementUpdate(level=level))
    elif action in ("withdraw", "redraft") and ann:
        announcements.update_announcement(uc, ann.id, AnnouncementUpdate(status="draft"))
    elif action == "archive" and ann:
        announcements.update_announcement(uc, ann.id, AnnouncementUpdate(status="archived"))
    elif action == "render" and ann:
        announcements.render_announcement(uc, ann.id)
    elif action == "approve" and ann:
        announcements.approve_announcement(uc, ann.id)
    elif action == "schedule" and ann:
        body = ScheduleCreate(
            announcement_id=ann.id,
            zones=zone_list,
            devices=device_list,
            rrule="FREQ=HOURLY;INTERVAL=3",
            start=start,
            level=level,
        )
        schedules.create_schedule(uc, body, confirmed=confirmed)
    elif action == "reschedule" and sched:
        changes: dict[str, Any] = {"zones": zone_list, "devices": device_list, "level": level}
        if ann:
            changes["announcement_id"] = ann.id
        schedules.update_schedule(uc, sched.id, ScheduleUpdate(**changes), confirmed=confirmed)
    elif action == "pause" and sched:
        schedules.update_schedule(uc, sched.id, ScheduleUpdate(enabled=False))
    elif action == "unschedule" and sched:
        schedules.delete_schedule(uc, sched.id)
    elif action == "broadcast" and ann:
        body2 = BroadcastCreate(
            announcement_id=ann.id, zones=zone_list, devices=device_list, level=level
        )
        broadcasts.put_on_air(uc, body2, confirmed=confirmed)
    elif action == "stop" and occ:
        broadcasts.stop_broadcast(uc, occ.id)
    elif action == "replan":
        replan(db, now=uc.now, horizon=timedelta(hours=24))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=14))
def test_no_sequence_of_use_cases_breaks_the_rights_rules(
    tmp_path: Path, steps: list[tuple[Any, ...]]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/{abs(hash(tuple(map(str, steps))))}.db")
    Base.metadata.create_all(engine)
    sessions = audited(session_factory(engine))
    renderer = FakeRenderer(tmp_path / "media")
    dispatcher = FakeDispatcher()
    try:
        with sessions() as db:
            seed = use_case(db, PEOPLE["admin"], data_dir=tmp_path)
            for path in ZONES:
                add_zone(db, path, path, timezone="UTC")
                # No quiet hours: what is refused here is refused for rights alone.
                zones.get_zone(db, path).quiet_start = None
                zones.get_zone(db, path).quiet_end = None
            for device_id, zone in DEVICES.items():
                devices.create_device(seed, DeviceCreate(id=device_id, zone=zone))
            db.commit()
            for step in steps:
                uc = replace(
                    use_case(db, data_dir=tmp_path, renderer=renderer, dispatcher=dispatcher),
                    actor=PEOPLE[step[1]],
                )
                try:
                    _run(uc, step)
                    db.commit()
                    event(f"{step[0]}: done")  # --hypothesis-show-statistics shows the mix
                except (Forbidden, ServiceError) as exc:
                    db.rollback()
                    event(f"{step[0]}: refused ({getattr(exc, 'code', '')})")
                check_invariants(db)
            replan(db, now=NOW + timedelta(minutes=5), horizon=timedelta(hours=24))
            check_invariants(db)
    finally:
        engine.dispose()
