"""An alert over zones with mixed policies: where the policy lets it go alone it is on air at
once, where it wants a person it waits as a draft — two parts of one alert, which an Update or a
Cancel reaches both of (real planner, FakeDispatcher)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from pa_server.alerts.policy import DEFAULT_FILE
from pa_server.auth.rights import Actor, Role
from pa_server.db.alerts import CapAlert, CapMessage
from pa_server.db.models import Announcement, Schedule
from pa_server.services import alerts
from pa_server.services.errors import Conflict
from tests.pa_server.alerts.capdocs import area, cap, later
from tests.pa_server.alerts.support import LUNG_HOA, TAN_TIEN, admin_uc, heard, seed_district
from tests.pa_server.alerts.test_alert_services import _plan
from tests.pa_server.alerts.test_alert_services import _push as push
from tests.pa_server.server_fixtures import NOW, FakeDispatcher

EXPIRES = later(NOW, hours=5, minutes=30)
#: Around both villages' points.
WIDE = area(geocode=None, polygon="21.1,105.4 21.5,105.4 21.5,105.8 21.1,105.8 21.1,105.4")
ADMIN2 = Actor(id=9, username="admin2", role=Role.ADMIN)


@pytest.fixture
def river_policy(tmp_path: Path) -> Path:
    """The shipped policy, except that in Lũng Hòa even emergencies wait for a person."""
    path = tmp_path / "policy.toml"
    path.write_text(
        DEFAULT_FILE.read_text(encoding="utf-8") + f'\n[zones."{LUNG_HOA}"]\nauto_levels = []\n',
        encoding="utf-8",
    )
    return path


def _alert(session: Session, msg: CapMessage) -> CapAlert:
    assert msg.verdict == "accepted", msg.reason
    alert = session.get(CapAlert, msg.alert_id)
    assert alert is not None
    return alert


def _split(session: Session, tmp_path: Path, policy: Path, identifier: str) -> CapAlert:
    """An emergency over both villages, pushed by `kttv` under the river policy."""
    doc = cap(identifier, NOW, expires=EXPIRES, areas=WIDE)
    return _alert(session, push(session, tmp_path, doc, alert_policy_file=policy))


def _status(session: Session, announcement_id: str | None) -> str:
    ann = session.get(Announcement, announcement_id)
    assert ann is not None
    return ann.status


def test_auto_zones_go_on_air_now_the_others_wait_for_one_click(
    session: Session, tmp_path: Path, river_policy: Path
) -> None:
    seed_district(session, tmp_path)
    alert = _split(session, tmp_path, river_policy, "LU-1")
    assert alert.level == "emergency" and alert.zones == [LUNG_HOA, TAN_TIEN]
    assert alert.state == "on_air" and alert.waiting_zones == [LUNG_HOA]
    assert _status(session, alert.announcement_id) == "approved"
    assert _status(session, alert.approval_announcement_id) == "draft"
    occs = _plan(session)
    # On air alone in Tân Tiến only: now plus the emergency lead, then hourly until expires.
    assert [o.play_at for o in occs] == [NOW + timedelta(hours=h, seconds=3) for h in range(6)]
    assert {tuple(o.targets) for o in occs} == {(f"zone:{TAN_TIEN}",)}
    assert [a.id for a in alerts.in_force(session, TAN_TIEN, NOW)] == [alert.id]
    assert alerts.in_force(session, LUNG_HOA, NOW) == []
    at = later(NOW, minutes=10)
    uc = admin_uc(session, tmp_path, now=at, alert_policy_file=river_policy)
    alerts.approve_alert(replace(uc, actor=ADMIN2), alert.id)
    assert alert.state == "on_air" and alert.waiting_zones == []
    occs = _plan(session, at)
    lung_hoa = [o for o in occs if o.targets == [f"zone:{LUNG_HOA}"]]
    assert lung_hoa and all(o.caused_by == "admin2" for o in lung_hoa)
    assert lung_hoa[0].schedule_id == alert.approval_schedule_id
    assert {o.schedule_id for o in occs} == {alert.schedule_id, alert.approval_schedule_id}
    assert [a.id for a in alerts.in_force(session, LUNG_HOA, at)] == [alert.id]
    with pytest.raises(Conflict):
        alerts.approve_alert(replace(uc, actor=ADMIN2), alert.id)


def test_an_update_reaches_both_parts(session: Session, tmp_path: Path, river_policy: Path) -> None:
    seed_district(session, tmp_path)
    first = _split(session, tmp_path, river_policy, "LU-2")
    old = (first.announcement_id, first.approval_announcement_id)
    at = later(NOW, minutes=20)
    doc = cap(
        "LU-2b",
        at,
        msg_type="Update",
        references=[("LU-2", NOW)],
        headline="Lũ quét lan rộng",
        expires=later(NOW, hours=10),
        areas=WIDE,
    )
    alert = _alert(session, push(session, tmp_path, doc, now=at, alert_policy_file=river_policy))
    assert alert.id == first.id and alert.waiting_zones == [LUNG_HOA]
    assert [_status(session, a) for a in old] == ["archived", "archived"]
    for ann_id, status in (
        (alert.announcement_id, "approved"),
        (alert.approval_announcement_id, "draft"),
    ):
        ann = session.get(Announcement, ann_id)
        assert ann is not None and ann.status == status
        assert ann.text is not None and ann.text.startswith("Lũ quét lan rộng.")
    occs = _plan(session, at)
    assert occs and {o.announcement_id for o in occs} == {alert.announcement_id}
    # A later Update that reaches Tân Tiến alone ends the waiting part.
    doc = cap("LU-2c", at, msg_type="Update", references=[("LU-2b", at)], expires=EXPIRES)
    alert = _alert(session, push(session, tmp_path, doc, now=at, alert_policy_file=river_policy))
    assert alert.zones == [TAN_TIEN] and alert.waiting_zones == []
    assert _status(session, alert.approval_announcement_id) == "archived"
    second = session.get(Schedule, alert.approval_schedule_id)
    assert second is not None and not second.enabled


def test_cancel_after_only_one_part_is_on_air(
    session: Session, tmp_path: Path, river_policy: Path
) -> None:
    seed_district(session, tmp_path)
    first = _split(session, tmp_path, river_policy, "LU-3")
    due = _plan(session)[1]  # Tân Tiến's repeat an hour on starts, then the Cancel comes
    at = due.play_at + timedelta(seconds=10)
    heard(session, "loa-01", due, at)
    _plan(session, at)
    dispatcher = FakeDispatcher()
    cancel = cap("LU-3c", at, msg_type="Cancel", references=[("LU-3", NOW)], areas=WIDE)
    alert = _alert(
        session,
        push(
            session, tmp_path, cancel, now=at, dispatcher=dispatcher, alert_policy_file=river_policy
        ),
    )
    assert alert.id == first.id and alert.state == "cancelled" and alert.waiting_zones == []
    session.refresh(due)
    assert due.status == "stopped"
    assert [b["occurrence_id"] for _, kind, b in dispatcher.commands if kind == "stop"] == [due.id]
    # Both parts end: the one on air and the draft nobody approved.
    parts = [session.get(Schedule, i) for i in (alert.schedule_id, alert.approval_schedule_id)]
    assert all(s is not None and not s.enabled for s in parts)
    assert _status(session, alert.approval_announcement_id) == "archived"
    # The notice alone, only where the alert was heard.
    planned = _plan(session, at)
    assert [o.schedule_id for o in planned] == [alert.notice_schedule_id]
    assert planned[0].targets == ["device:loa-01"]
    uc = admin_uc(session, tmp_path, now=at, alert_policy_file=river_policy)
    with pytest.raises(Conflict):
        alerts.approve_alert(replace(uc, actor=ADMIN2), alert.id)
