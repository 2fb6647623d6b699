"""A publisher locked, unlocked and given a new token — through the service, the API and the
pages — and what its pushes come to: a locked one's kept as refused (403), a replaced token's
refused at once (401), each change audited with the person who made it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pa_server.api import deps
from pa_server.auth import accounts
from pa_server.auth.errors import Forbidden
from pa_server.auth.models import AuditEntry
from pa_server.auth.rights import Actor, Role
from pa_server.db.alerts import CapAlert, CapMessage, CapPublisher
from pa_server.services import alerts
from pa_server.services.errors import Conflict, NotFound
from tests.pa_server.alerts.capdocs import cap, later
from tests.pa_server.alerts.support import as_publisher, seed_district
from tests.pa_server.alerts.test_alert_doors import PASSWORD, _push, _seed, _sign_in
from tests.pa_server.server_fixtures import NOW, Api

EXPIRES = later(NOW, hours=5)
OPERATOR = Actor(id=7, username="vanhanh", role=Role.OPERATOR)


def _kttv(session: Session) -> CapPublisher:
    return session.scalars(select(CapPublisher).where(CapPublisher.name == "kttv")).one()


def _audit(session: Session, entity: str, entity_id: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
            .order_by(AuditEntry.id)
        )
    )


def test_locked_publisher_is_kept_as_refused_until_unlocked(
    session: Session, tmp_path: Path
) -> None:
    uc, token = seed_district(session, tmp_path)
    pub = _kttv(session)
    with pytest.raises(Forbidden):
        alerts.lock_publisher(replace(uc, actor=OPERATOR), pub.id)
    uc = replace(uc)  # the session's actor is the admin again (as in one request)
    alerts.lock_publisher(uc, pub.id)
    assert not pub.active and pub.locked_at == NOW and pub.locked_by == uc.actor.username
    with pytest.raises(Conflict):
        alerts.lock_publisher(uc, pub.id)
    # Its token still names it (so the push is kept, as its), but nothing is read or played.
    assert alerts.publisher_for_token(session, token) is pub
    doc = cap("LU-1", NOW, expires=EXPIRES)
    msg = alerts.push_cap(as_publisher(uc, session), doc)
    assert (msg.verdict, msg.code, msg.source) == ("refused", "publisher_locked", "cap:kttv")
    assert msg.raw == doc.decode() and msg.identifier == "LU-1" and msg.alert_id is None
    assert session.scalar(select(CapAlert)) is None
    assert alerts.refused_pushes(session, pub) == 1
    locked = _audit(session, "cap_publishers", str(pub.id))[-1]
    assert locked.actor_name == uc.actor.username and locked.after == {
        "active": False,
        "locked_at": NOW.isoformat(),
        "locked_by": uc.actor.username,
    }
    alerts.unlock_publisher(replace(uc), pub.id)
    again = alerts.push_cap(as_publisher(uc, session), doc)
    assert again.verdict == "accepted" and again.alert_id is not None
    assert _audit(session, "cap_publishers", str(pub.id))[-1].after == {"active": True}


def test_rotated_token_replaces_the_old_at_once(session: Session, tmp_path: Path) -> None:
    uc, old = seed_district(session, tmp_path)
    pub = _kttv(session)
    with pytest.raises(Forbidden):
        alerts.rotate_publisher_token(replace(uc, actor=OPERATOR), pub.id)
    at = later(NOW, minutes=3)
    uc = replace(uc, now=at)
    same, new = alerts.rotate_publisher_token(uc, pub.id)
    assert same is pub and new != old and pub.token_rotated_at == at
    assert alerts.publisher_for_token(session, old) is None
    assert alerts.publisher_for_token(session, new) is pub
    entry = _audit(session, "cap_publishers", str(pub.id))[-1]
    # The digest never reaches the log; the rotation does, with who.
    assert entry.actor_name == uc.actor.username and entry.after == {
        "token_rotated_at": at.isoformat()
    }
    with pytest.raises(NotFound) as missing:
        alerts.rotate_publisher_token(uc, pub.id + 1000)
    assert missing.value.code == "publisher_not_found"


def test_lock_and_rotate_through_the_api(api: Api, tmp_path: Path) -> None:
    token = _seed(api, tmp_path)
    (pub,) = api.ok("GET", "/api/v1/alerts/publishers")
    assert pub["name"] == "kttv" and pub["active"] is True and "digest" not in pub
    app = api.client.app
    app.dependency_overrides[deps.current_user] = lambda: OPERATOR  # type: ignore[attr-defined]
    api.refused("POST", f"/api/v1/alerts/publishers/{pub['id']}/lock", "admin_only", 403)
    api.refused("POST", f"/api/v1/alerts/publishers/{pub['id']}/token", "admin_only", 403)
    del app.dependency_overrides[deps.current_user]  # type: ignore[attr-defined]
    app.dependency_overrides[deps.current_user] = lambda: Actor(  # type: ignore[attr-defined]
        id=5, username="quantri", role=Role.ADMIN
    )
    locked = api.ok("POST", f"/api/v1/alerts/publishers/{pub['id']}/lock")
    assert locked["active"] is False and locked["locked_by"] == "quantri"
    api.refused(
        "POST", f"/api/v1/alerts/publishers/{pub['id']}/lock", "publisher_locked_already", 409
    )
    refused = _push(api, token, cap("LU-1", NOW, expires=EXPIRES))
    assert refused.status_code == 403 and refused.json()["detail"]["code"] == "publisher_locked"
    (kept,) = api.ok("GET", "/api/v1/alerts/messages")
    assert kept["verdict"] == "refused" and kept["source"] == "cap:kttv"
    assert api.ok("GET", "/api/v1/alerts") == []
    assert api.ok("POST", f"/api/v1/alerts/publishers/{pub['id']}/unlock")["active"] is True
    rotated = api.ok("POST", f"/api/v1/alerts/publishers/{pub['id']}/token")
    assert rotated["name"] == "kttv" and rotated["token"] != token
    old = _push(api, token, cap("LU-2", NOW, expires=EXPIRES))
    assert old.status_code == 401 and old.json()["detail"]["code"] == "bad_credentials"
    assert _push(api, rotated["token"], cap("LU-2", NOW, expires=EXPIRES)).status_code == 202
    with app.state.sessions() as session:  # type: ignore[attr-defined]
        who = {e.actor_name for e in _audit(session, "cap_publishers", str(pub["id"]))[1:]}
    assert who == {"quantri"}


def test_lock_and_rotate_on_the_pages(api: Api, tmp_path: Path) -> None:
    token = _seed(api, tmp_path)
    client = api.client
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        pub_id = _kttv(session).id
        accounts.create_user(session, "duyet2", role="approver", password=PASSWORD, now=NOW)
        session.commit()
    page = f"/canh-bao/nguon/phat-hanh/{pub_id}"
    csrf = _sign_in(api, "duyet2")
    assert "Khóa nguồn" not in client.get(page).text  # offered to admins only
    r = client.post(page + "/khoa", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 403 and "Chỉ quản trị viên" in r.text
    csrf = _sign_in(api, "quantri")
    assert f'href="{page}"' in client.get("/canh-bao/nguon").text
    r = client.post(page + "/khoa", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == page
    assert _push(api, token, cap("LU-1", NOW, expires=EXPIRES)).status_code == 403
    shown = client.get(page).text
    assert "Đã khóa" in shown and "Mở khóa nguồn" in shown
    assert re.search(r'data-testid="refused-count">1<', shown)
    assert "Nguồn đang bị khóa, bị từ chối" in client.get("/canh-bao").text
    again = client.post(page + "/khoa", data={"csrf_token": csrf})
    assert again.status_code == 409 and "đã bị khóa từ trước" in again.text
    client.post(page + "/mo-khoa", data={"csrf_token": csrf}, follow_redirects=False)
    rotated = client.post(page + "/doi-khoa", data={"csrf_token": csrf})
    assert rotated.status_code == 200
    found = re.search(r'data-testid="publisher-token">([^<]+)<', rotated.text)
    assert found and found.group(1) != token
    assert found.group(1) not in client.get(page).text  # shown once
    assert _push(api, token, cap("LU-2", NOW, expires=EXPIRES)).status_code == 401
    assert _push(api, found.group(1), cap("LU-2", NOW, expires=EXPIRES)).status_code == 202
    assert client.get("/canh-bao/nguon/phat-hanh/9999").status_code == 404
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        entries = _audit(session, "cap_publishers", str(pub_id))[1:]
        assert {e.actor_name for e in entries} == {"quantri"} and len(entries) == 3
        assert session.scalar(
            select(CapMessage).where(CapMessage.verdict == "refused", CapMessage.alert_id.is_(None))
        )
