"""From CAP message to what plays where and when: alert, update, cancel, expiry, refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pa_server.auth.models import AuditEntry
from pa_server.db.alerts import CapAlert, CapMessage
from pa_server.db.models import Announcement, Occurrence, Schedule
from pa_server.services import alerts
from pa_server.services.alerts import Door
from pa_server.services.timelines import replan
from tests.pa_server.alerts.capdocs import (
    POLYGON,
    SENDER,
    area,
    cap,
    entity_bomb,
    invalid_schema,
    later,
)
from tests.pa_server.alerts.support import (
    LUNG_HOA,
    TAN_TIEN,
    admin_uc,
    as_publisher,
    heard,
    seed_district,
)
from tests.pa_server.server_fixtures import NOW, TEST_APPROVER, FakeDispatcher

HORIZON = timedelta(hours=48)
EXPIRES = later(NOW, hours=5, minutes=30)


def _plan(session: Session, at=NOW) -> list[Occurrence]:  # type: ignore[no-untyped-def]
    replan(session, now=at, horizon=HORIZON)
    session.flush()
    return list(
        session.scalars(
            select(Occurrence)
            .where(Occurrence.status == "planned", Occurrence.play_at >= at)
            .order_by(Occurrence.play_at)
        )
    )


def _push(session: Session, tmp_path: Path, doc: bytes, **kw: object) -> CapMessage:
    uc = as_publisher(admin_uc(session, tmp_path, **kw), session)
    return alerts.push_cap(uc, doc)


def test_extreme_immediate_goes_on_air_alone_and_repeats_hourly_until_expires(
    session: Session, tmp_path: Path
) -> None:
    seed_district(session, tmp_path)
    msg = _push(session, tmp_path, cap("LU-1", NOW, expires=EXPIRES))
    assert msg.verdict == "accepted", msg.reason
    alert = session.get(CapAlert, msg.alert_id)
    assert alert is not None and alert.state == "on_air" and alert.level == "emergency"
    assert alert.zones == [TAN_TIEN] and alert.publisher == "cap:kttv"
    ann = session.get(Announcement, alert.announcement_id)
    assert ann is not None and ann.status == "approved" and ann.approver == "cap:kttv"
    assert ann.text is not None and ann.text.startswith("Lũ quét trên sông Phan.")
    assert "di chuyển lên chỗ cao" in ann.text
    occs = _plan(session)
    # Now plus the emergency lead, then every hour, none after expires (05:30 later).
    assert [o.play_at for o in occs] == [NOW + timedelta(hours=h, seconds=3) for h in range(6)]
    assert all(o.targets == [f"zone:{TAN_TIEN}"] and o.priority == 100 for o in occs)
    assert all(o.caused_by == "cap:kttv" for o in occs)
    # Planned later (an hour on): still nothing after expires.
    assert max(o.play_at for o in _plan(session, later(NOW, hours=4))) < EXPIRES
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "cap_accepted"))
    assert entry is not None and entry.actor_name == "cap:kttv"


def test_severe_alert_waits_for_one_click_approval(session: Session, tmp_path: Path) -> None:
    seed_district(session, tmp_path)
    msg = _push(session, tmp_path, cap("LU-2", NOW, severity="Severe", expires=EXPIRES))
    alert = session.get(CapAlert, msg.alert_id)
    assert alert is not None and alert.state == "draft" and alert.level == "priority"
    assert _plan(session) == []  # held until someone approves
    approver = replace(admin_uc(session, tmp_path), actor=TEST_APPROVER)
    alerts.approve_alert(approver, alert.id)
    occs = _plan(session)
    # Priority repeats every 3 hours (the shipped policy) from now plus the normal lead.
    assert [o.play_at for o in occs] == [NOW + timedelta(hours=h, seconds=8) for h in (0, 3)]
    assert all(o.caused_by == "duyet" for o in occs)


def test_update_replaces_text_zones_and_repeats(session: Session, tmp_path: Path) -> None:
    seed_district(session, tmp_path)
    first = _push(session, tmp_path, cap("LU-3", NOW, expires=EXPIRES))
    _plan(session)
    at = later(NOW, minutes=20)
    doc = cap(
        "LU-3b",
        at,
        msg_type="Update",
        references=[("LU-3", NOW)],
        headline="Lũ quét lan rộng",
        severity="Severe",
        expires=later(NOW, hours=10),
        areas=area(geocode=None, polygon="21.1,105.4 21.5,105.4 21.5,105.8 21.1,105.8 21.1,105.4"),
    )
    msg = _push(session, tmp_path, doc, now=at)
    assert msg.verdict == "accepted" and msg.alert_id == first.alert_id, msg.reason
    alert = session.get(CapAlert, first.alert_id)
    assert alert is not None and alert.zones == [LUNG_HOA, TAN_TIEN]
    assert alert.state == "draft"  # now "priority": the policy wants a person again
    new = session.get(Announcement, alert.announcement_id)
    assert new is not None and new.text is not None and new.text.startswith("Lũ quét lan rộng.")
    assert _plan(session, at) == []  # the old words stopped; the new wait for approval
    alerts.approve_alert(
        replace(admin_uc(session, tmp_path, now=at), actor=TEST_APPROVER), alert.id
    )
    occs = _plan(session, at)
    assert {o.announcement_id for o in occs} == {new.id}
    assert occs[0].targets == [f"zone:{LUNG_HOA}", f"zone:{TAN_TIEN}"]
    assert [o.play_at - occs[0].play_at for o in occs][:2] == [timedelta(0), timedelta(hours=3)]


def test_cancel_stops_the_due_repeat_and_tells_only_where_it_was_heard(
    session: Session, tmp_path: Path
) -> None:
    seed_district(session, tmp_path)
    first = _push(session, tmp_path, cap("LU-4", NOW, expires=EXPIRES))
    occs = _plan(session)
    due = occs[1]  # the repeat an hour on: it starts, then the Cancel comes
    at = due.play_at + timedelta(seconds=10)
    heard(session, "loa-01", due, at)
    _plan(session, at)
    dispatcher = FakeDispatcher()
    cancel = cap("LU-4c", at, msg_type="Cancel", references=[("LU-4", NOW)])
    msg = _push(session, tmp_path, cancel, now=at, dispatcher=dispatcher)
    assert msg.verdict == "accepted" and msg.alert_id == first.alert_id
    session.refresh(due)
    assert due.status == "stopped" and due.stopped_by == "cap:kttv"
    stops = [body["occurrence_id"] for _, kind, body in dispatcher.commands if kind == "stop"]
    assert stops == [due.id]
    alert = session.get(CapAlert, first.alert_id)
    assert alert is not None and alert.state == "cancelled"
    planned = _plan(session, at)
    # Nothing of the alert any more; the notice alone, on the loudspeaker that sounded it.
    assert [o.schedule_id for o in planned] == [alert.notice_schedule_id]
    notice = session.get(Schedule, alert.notice_schedule_id)
    assert notice is not None and [t.target for t in notice.targets] == ["device:loa-01"]
    assert planned[0].play_at == at + timedelta(seconds=3)


def test_cancel_before_anyone_heard_it_says_nothing(session: Session, tmp_path: Path) -> None:
    seed_district(session, tmp_path)
    _push(session, tmp_path, cap("LU-5", NOW, expires=EXPIRES))
    _plan(session)
    msg = _push(session, tmp_path, cap("LU-5c", NOW, msg_type="Cancel", references=[("LU-5", NOW)]))
    alert = session.get(CapAlert, msg.alert_id)
    assert alert is not None and alert.state == "cancelled" and alert.notice_schedule_id is None
    assert _plan(session) == []


def test_refused_messages_are_kept_with_their_reason(session: Session, tmp_path: Path) -> None:
    seed_district(session, tmp_path)
    cases = {
        "invalid": invalid_schema(NOW),
        "expired": cap("OLD-1", later(NOW, hours=-5), expires=later(NOW, hours=-1)),
        "unknown_reference": cap(
            "UP-9", NOW, msg_type="Update", references=[("NEVER-SEEN", NOW)], expires=EXPIRES
        ),
        "not_actual": cap("EX-1", NOW, status="Exercise", expires=EXPIRES),
    }
    for verdict, doc in cases.items():
        msg = _push(session, tmp_path, doc)
        assert msg.verdict == verdict, (verdict, msg.reason)
        assert msg.reason and msg.raw == doc.decode()
        assert msg.alert_id is None
    bomb = _push(session, tmp_path, entity_bomb())
    assert bomb.verdict == "invalid" and bomb.code == "cap_unsafe_xml"
    bad = session.scalar(select(CapMessage).where(CapMessage.code == "cap_schema"))
    assert bad is not None and "Huge" in bad.reason and bad.identifier == "BAD-1"
    assert session.scalar(select(CapAlert)) is None
    assert _plan(session) == []


def test_duplicate_is_kept_but_not_played_twice(session: Session, tmp_path: Path) -> None:
    seed_district(session, tmp_path)
    doc = cap("LU-6", NOW, expires=EXPIRES)
    _push(session, tmp_path, doc)
    again = _push(session, tmp_path, doc)
    assert again.verdict == "duplicate"
    assert len(session.scalars(select(Schedule)).all()) == 1


def test_non_vietnamese_alert_waits_for_a_person_to_write_it(
    session: Session, tmp_path: Path
) -> None:
    seed_district(session, tmp_path)
    msg = _push(
        session,
        tmp_path,
        cap("EN-1", NOW, language="en-US", headline="Flash flood", expires=EXPIRES),
    )
    alert = session.get(CapAlert, msg.alert_id)
    assert alert is not None and alert.state == "needs_text" and alert.announcement_id is None
    assert _plan(session) == []
    uc = admin_uc(session, tmp_path)
    alerts.write_alert_text(uc, alert.id, "Lũ quét", "Bà con vùng trũng lên chỗ cao ngay.")
    assert alert.state == "draft"
    alerts.approve_alert(
        replace(uc, actor=TEST_APPROVER.__class__(id=9, username="admin2", role=uc.actor.role)),
        alert.id,
    )
    assert [o.title for o in _plan(session)][:1] == ["Lũ quét"]


def test_polygon_and_circle_reach_the_zones_whose_point_lies_inside(
    session: Session, tmp_path: Path
) -> None:
    seed_district(session, tmp_path)
    square = _push(
        session,
        tmp_path,
        cap("PO-1", NOW, expires=EXPIRES, areas=area(geocode=None, polygon=POLYGON)),
    )
    assert session.get(CapAlert, square.alert_id).zones == [TAN_TIEN]  # type: ignore[union-attr]
    circle = _push(
        session,
        tmp_path,
        cap("CI-1", NOW, expires=EXPIRES, areas=area(geocode=None, circle="21.40,105.70 5")),
    )
    assert session.get(CapAlert, circle.alert_id).zones == [LUNG_HOA]  # type: ignore[union-attr]
    nowhere = _push(
        session, tmp_path, cap("NO-1", NOW, expires=EXPIRES, areas=area(geocode=("VN-XA", "77777")))
    )
    alert = session.get(CapAlert, nowhere.alert_id)
    assert alert is not None and alert.state == "no_zone"


def test_publisher_outside_its_zones_is_refused_and_kept(session: Session, tmp_path: Path) -> None:
    uc, _ = seed_district(session, tmp_path)
    alerts.create_publisher(uc, "lung-hoa", [LUNG_HOA], [SENDER])
    other = as_publisher(admin_uc(session, tmp_path), session, "lung-hoa")
    msg = alerts.receive(other, cap("LU-7", NOW, expires=EXPIRES), Door("push"))
    assert msg.verdict == "out_of_scope" and msg.source == "cap:lung-hoa"
    assert session.scalar(select(CapAlert)) is None


def test_public_list_shows_alerts_in_force(session: Session, tmp_path: Path) -> None:
    seed_district(session, tmp_path)
    _push(session, tmp_path, cap("LU-8", NOW, expires=EXPIRES))
    assert [a.headline for a in alerts.in_force(session, TAN_TIEN, NOW)] == [
        "Lũ quét trên sông Phan"
    ]
    assert [a.headline for a in alerts.in_force(session, "vinh-tuong", NOW)] == [
        "Lũ quét trên sông Phan"
    ]
    assert alerts.in_force(session, LUNG_HOA, NOW) == []
    assert alerts.in_force(session, TAN_TIEN, EXPIRES) == []


def test_a_start_with_a_fraction_of_a_second_is_still_planned(
    session: Session, tmp_path: Path
) -> None:
    seed_district(session, tmp_path)
    at = NOW + timedelta(microseconds=777_000)
    msg = _push(session, tmp_path, cap("LU-9", NOW, expires=later(NOW, minutes=30)), now=at)
    assert msg.verdict == "accepted"
    # RRULE instants are whole seconds: the first one is the next whole second after the lead.
    assert [o.play_at for o in _plan(session, at)] == [NOW + timedelta(seconds=4)]
