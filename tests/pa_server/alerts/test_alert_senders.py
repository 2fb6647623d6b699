"""CAP key squatting: a publisher may only use the CAP senders an admin gave it.

Duplicates and references match on `sender,identifier,sent` whoever brought them, and a
publisher writes its own `<sender>`: unbound, one publisher could send another's predictable
key first, so the real alert would be dropped as a duplicate and its Updates and Cancels would
hit the squatter's alert. These tests send that attack through a push and a feed, and check
that the real alert then plays; that two relays given one sender still broadcast an alert once;
and that only admins change the senders, on the service, the API and the page, audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.orm import Session

from pa_server.api import deps
from pa_server.auth.errors import Forbidden
from pa_server.auth.models import AuditEntry
from pa_server.auth.rights import Actor, Role
from pa_server.db.alerts import CapAlert, CapMessage, CapPublisher
from pa_server.db.engine import alembic_config, make_engine, scratch_database
from pa_server.db.models import Schedule
from pa_server.services import alerts
from pa_server.services.errors import Invalid
from tests.pa_server.alerts.capdocs import SENDER, cap, later
from tests.pa_server.alerts.support import TAN_TIEN, admin_uc, as_publisher, seed_district
from tests.pa_server.alerts.test_alert_doors import Feed, _push, _seed, _sign_in
from tests.pa_server.alerts.test_alert_services import _plan
from tests.pa_server.server_fixtures import NOW, Api

EXPIRES = later(NOW, hours=5)
OPERATOR = Actor(id=7, username="vanhanh", role=Role.OPERATOR)
SQUATTER_SENDER = "tinh@example.vn"


def _publisher(session: Session, name: str) -> CapPublisher:
    return session.scalars(select(CapPublisher).where(CapPublisher.name == name)).one()


def _squatter(session: Session, tmp_path: Path) -> CapPublisher:
    """A second publisher over the same zones, given its own sender only."""
    alerts.create_publisher(admin_uc(session, tmp_path), "tinh", ["vinh-tuong"], [SQUATTER_SENDER])
    session.commit()
    return _publisher(session, "tinh")


def _refused_squat(msg: CapMessage) -> None:
    assert (msg.verdict, msg.code, msg.source) == ("refused", "sender_not_allowed", "cap:tinh")
    assert msg.sender == SENDER and msg.alert_id is None and msg.key is None


def test_a_squatted_push_is_refused_and_the_real_alert_plays(
    session: Session, tmp_path: Path
) -> None:
    seed_district(session, tmp_path)
    _squatter(session, tmp_path)
    squatter = as_publisher(admin_uc(session, tmp_path), session, "tinh")
    # The real publisher's next key, sent first by the other publisher under the real sender.
    _refused_squat(alerts.push_cap(squatter, cap("LU-1", NOW, expires=EXPIRES, headline="Giả")))
    assert session.scalar(select(CapAlert)) is None and _plan(session) == []
    real = alerts.push_cap(
        as_publisher(admin_uc(session, tmp_path), session), cap("LU-1", NOW, expires=EXPIRES)
    )
    assert real.verdict == "accepted", real.reason
    alert = session.get(CapAlert, real.alert_id)
    assert alert is not None and alert.state == "on_air" and alert.publisher == "cap:kttv"
    assert alert.headline != "Giả"
    occs = _plan(session)
    assert occs and all(o.caused_by == "cap:kttv" for o in occs)
    # Its Cancel reaches it (not a squatter's alert); a squatted Cancel does not.
    at = later(NOW, minutes=5)
    cancel = cap("LU-1c", at, msg_type="Cancel", references=[("LU-1", NOW)])
    _refused_squat(alerts.push_cap(replace(squatter, now=at), cancel))
    session.refresh(alert)
    assert alert.state == "on_air"
    done = alerts.push_cap(
        as_publisher(admin_uc(session, tmp_path, now=at), session),
        cap("LU-1d", at, msg_type="Cancel", references=[("LU-1", NOW)]),
    )
    assert done.verdict == "accepted" and done.alert_id == alert.id, done.reason
    session.refresh(alert)
    assert alert.state == "cancelled"
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "cap_refused").order_by(AuditEntry.id)
    )
    assert entry is not None and entry.actor_name == "cap:tinh"
    assert entry.after is not None and entry.after["code"] == "sender_not_allowed"


def test_a_squatted_push_through_the_api_is_403(api: Api, tmp_path: Path) -> None:
    token = _seed(api, tmp_path)
    with api.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        _, other = alerts.create_publisher(
            admin_uc(session, tmp_path), "tinh", ["vinh-tuong"], [SQUATTER_SENDER]
        )
        session.commit()
    refused = _push(api, other, cap("LU-1", NOW, expires=EXPIRES))
    assert refused.status_code == 403
    assert refused.json()["detail"]["code"] == "sender_not_allowed"
    (kept,) = api.ok("GET", "/api/v1/alerts/messages")
    assert kept["verdict"] == "refused" and kept["source"] == "cap:tinh"
    # Its own sender is honoured (it is a publisher, not a suspect).
    own = _push(api, other, cap("TINH-1", NOW, expires=EXPIRES, sender=SQUATTER_SENDER))
    assert own.status_code == 202, own.text
    real = _push(api, token, cap("LU-1", NOW, expires=EXPIRES))
    assert real.status_code == 202 and real.json()["verdict"] == "accepted", real.text


@pytest.fixture
def two_feeds() -> Iterator[tuple[Feed, Feed]]:
    served = (Feed(), Feed())
    yield served
    for one in served:
        one.server.shutdown()


def _poll(session: Session, tmp_path: Path, feed_id: int) -> None:
    uc = admin_uc(session, tmp_path)
    with httpx.Client(timeout=5) as client:
        assert alerts.poll_feed(replace(uc, actor=alerts.FEED_POLLER), feed_id, client)
    session.commit()


def test_a_squatted_feed_entry_is_refused_and_the_real_feed_plays(
    session: Session, tmp_path: Path, two_feeds: tuple[Feed, Feed]
) -> None:
    uc, _ = seed_district(session, tmp_path)
    squatter = _squatter(session, tmp_path)
    bad_feed, real_feed = two_feeds
    bad = alerts.add_feed(replace(uc), squatter.id, bad_feed.url)
    real = alerts.add_feed(replace(uc), _publisher(session, "kttv").id, real_feed.url)
    session.commit()
    # The very same bytes: the squatter's copy, kept first, must not keep the real one out.
    doc = cap("FE-1", NOW, expires=EXPIRES)
    bad_feed.publish(doc, etag='"a"')
    real_feed.publish(doc, etag='"b"')
    _poll(session, tmp_path, bad.id)
    (squatted,) = session.scalars(select(CapMessage)).all()
    _refused_squat(squatted)
    assert squatted.door == "feed" and squatted.feed_id == bad.id
    _poll(session, tmp_path, real.id)
    accepted = session.scalar(select(CapMessage).where(CapMessage.feed_id == real.id))
    assert accepted is not None and accepted.verdict == "accepted", accepted
    alert = session.get(CapAlert, accepted.alert_id)
    assert alert is not None and alert.state == "on_air" and alert.zones == [TAN_TIEN]
    assert _plan(session)


def test_two_relays_of_one_sender_still_broadcast_once(session: Session, tmp_path: Path) -> None:
    seed_district(session, tmp_path)
    alerts.create_publisher(admin_uc(session, tmp_path), "relay", ["vinh-tuong"], [SENDER])
    session.commit()
    first = alerts.push_cap(
        as_publisher(admin_uc(session, tmp_path), session), cap("LU-1", NOW, expires=EXPIRES)
    )
    again = alerts.push_cap(
        as_publisher(admin_uc(session, tmp_path), session, "relay"),
        cap("LU-1", NOW, expires=EXPIRES),
    )
    assert first.verdict == "accepted" and (again.verdict, again.code) == (
        "duplicate",
        "cap_duplicate",
    )
    assert session.scalar(select(func.count()).select_from(CapAlert)) == 1
    assert session.scalar(select(func.count()).select_from(Schedule)) == 1


def test_only_admins_set_senders_and_it_is_audited(session: Session, tmp_path: Path) -> None:
    uc, _ = seed_district(session, tmp_path)
    pub = _publisher(session, "kttv")
    with pytest.raises(Forbidden):
        alerts.set_publisher_senders(replace(uc, actor=OPERATOR), pub.id, ["x@example.vn"])
    for bad in ([], ["  "], ["a b"], ["a,b"], ["a<b"], [f"s{i}@x.vn" for i in range(21)]):
        with pytest.raises(Invalid) as refused:
            alerts.set_publisher_senders(replace(uc), pub.id, bad)
        assert refused.value.code == "bad_senders"
    assert pub.senders == [SENDER]
    with pytest.raises(Invalid) as unnamed:
        alerts.create_publisher(replace(uc), "moi", ["vinh-tuong"], [])
    assert unnamed.value.code == "bad_senders"
    session.rollback()
    assert session.scalar(select(CapPublisher).where(CapPublisher.name == "moi")) is None
    uc = replace(uc)
    changed = alerts.set_publisher_senders(uc, pub.id, [" new@nchmf.gov.vn", "new@nchmf.gov.vn"])
    assert changed.senders == ["new@nchmf.gov.vn"]
    entry = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "cap_publishers", AuditEntry.entity_id == str(pub.id))
        .order_by(AuditEntry.id.desc())
    ).first()
    assert entry is not None and entry.actor_name == uc.actor.username
    assert entry.after == {"senders": ["new@nchmf.gov.vn"]}
    # From now on the old sender is refused, the new one heard.
    old = alerts.push_cap(as_publisher(uc, session), cap("LU-1", NOW, expires=EXPIRES))
    assert (old.verdict, old.code) == ("refused", "sender_not_allowed")
    new = alerts.push_cap(
        as_publisher(uc, session), cap("LU-1", NOW, expires=EXPIRES, sender="new@nchmf.gov.vn")
    )
    assert new.verdict == "accepted", new.reason


def test_senders_through_the_api(api: Api, tmp_path: Path) -> None:
    _seed(api, tmp_path)
    (pub,) = api.ok("GET", "/api/v1/alerts/publishers")
    assert pub["senders"] == [SENDER]
    path = f"/api/v1/alerts/publishers/{pub['id']}/senders"
    app = api.client.app
    app.dependency_overrides[deps.current_user] = lambda: OPERATOR  # type: ignore[attr-defined]
    api.refused("POST", path, "admin_only", 403, json={"senders": ["x@example.vn"]})
    del app.dependency_overrides[deps.current_user]  # type: ignore[attr-defined]
    app.dependency_overrides[deps.current_user] = lambda: Actor(  # type: ignore[attr-defined]
        id=5, username="quantri", role=Role.ADMIN
    )
    api.refused("POST", path, "bad_senders", 422, json={"senders": ["a b"]})
    changed = api.ok("POST", path, json={"senders": [SENDER, "kttv@nchmf.gov.vn"]})
    assert changed["senders"] == [SENDER, "kttv@nchmf.gov.vn"]
    api.refused(
        "POST",
        "/api/v1/alerts/publishers",
        "bad_senders",
        422,
        json={"name": "moi", "zones": ["vinh-tuong"], "senders": []},
    )
    made = api.ok(
        "POST",
        "/api/v1/alerts/publishers",
        201,
        json={"name": "moi", "zones": ["vinh-tuong"], "senders": ["kttv@nchmf.gov.vn"]},
    )
    assert made["senders"] == ["kttv@nchmf.gov.vn"] and made["token"]


def test_senders_on_the_pages(api: Api, tmp_path: Path) -> None:
    _seed(api, tmp_path)
    client = api.client
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        pub_id = _publisher(session, "kttv").id
    page = f"/canh-bao/nguon/phat-hanh/{pub_id}"
    csrf = _sign_in(api, "vanhanh")
    shown = client.get(page).text
    assert SENDER in shown and "Lưu người gửi" not in shown  # offered to admins only
    r = client.post(page + "/nguoi-gui", data={"csrf_token": csrf, "senders": "x@example.vn"})
    assert r.status_code == 403 and "Chỉ quản trị viên" in r.text
    csrf = _sign_in(api, "quantri")
    assert "ví dụ kttv@nchmf.gov.vn" in client.get(page).text
    bad = client.post(page + "/nguoi-gui", data={"csrf_token": csrf, "senders": "a&b"})
    assert bad.status_code == 422 and "Hãy ghi từ 1 đến 20 địa chỉ người gửi" in bad.text
    r = client.post(
        page + "/nguoi-gui",
        data={"csrf_token": csrf, "senders": f"{SENDER}, kttv@nchmf.gov.vn"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == page
    found = re.search(r'data-testid="publisher-senders">(.*?)</dd>', client.get(page).text)
    assert found and "kttv@nchmf.gov.vn" in found.group(1) and SENDER in found.group(1)
    # A new publisher names its senders on the sources page.
    none = client.post(
        "/canh-bao/nguon/phat-hanh",
        data={"csrf_token": csrf, "name": "moi", "zone": "vinh-tuong", "senders": ""},
    )
    assert none.status_code == 422 and "Hãy ghi từ 1 đến 20 địa chỉ người gửi" in none.text
    made = client.post(
        "/canh-bao/nguon/phat-hanh",
        data={"csrf_token": csrf, "name": "moi", "zone": "vinh-tuong", "senders": "a@b.vn"},
    )
    assert made.status_code == 200 and 'data-testid="publisher-token"' in made.text
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert _publisher(session, "moi").senders == ["a@b.vn"]
        who = session.scalars(
            select(AuditEntry.actor_name).where(
                AuditEntry.entity == "cap_publishers", AuditEntry.entity_id == str(pub_id)
            )
        ).all()
        assert who[-1] == "quantri"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str | None
) -> Iterator[str]:
    """A database of this test's own, not migrated yet (on each engine we run on)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if pg_url is None:
        pytest.skip("PA_TEST_DATABASE_URL not set: PostgreSQL tests skipped")
    with scratch_database(pg_url) as url:
        yield url


def test_migration_gives_existing_publishers_the_senders_they_used(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    config = alembic_config(engine)
    command.upgrade(config, "0012")
    with engine.begin() as conn:
        meta = MetaData()
        pubs = Table("cap_publishers", meta, autoload_with=conn)
        messages = Table("cap_messages", meta, autoload_with=conn)
        when = datetime(2026, 8, 10)
        for pub_id, name in ((1, "kttv"), (2, "im-lang")):
            conn.execute(
                pubs.insert().values(
                    id=pub_id, name=name, zones=["vinh-tuong"], active=True, created_at=when
                )
            )
        for i, (source, sender, verdict) in enumerate(
            (
                ("cap:kttv", SENDER, "accepted"),
                ("cap:kttv", SENDER, "duplicate"),
                ("cap:kttv", "b@example.vn", "out_of_scope"),
                # Never read: whatever the bytes claimed is not taken as its sender.
                ("cap:kttv", "gia@example.vn", "invalid"),
                ("cap:kttv", "khoa@example.vn", "refused"),
                ("quantri", "nap@example.vn", "accepted"),
            )
        ):
            conn.execute(
                messages.insert().values(
                    id=f"m{i}",
                    received_at=when,
                    door="push",
                    source=source,
                    raw="<alert/>",
                    verdict=verdict,
                    reason="",
                    identifier=f"X-{i}",
                    sender=sender,
                    sent="",
                    msg_type="Alert",
                    references=[],
                )
            )
    command.upgrade(config, "0013")
    with engine.connect() as conn:
        pubs = Table("cap_publishers", MetaData(), autoload_with=conn)
        rows = conn.execute(select(pubs.c.name, pubs.c.senders).order_by(pubs.c.id)).all()
    assert [tuple(row) for row in rows] == [
        ("kttv", ["b@example.vn", SENDER]),
        ("im-lang", []),
    ]
    command.downgrade(config, "0012")
    engine.dispose()
