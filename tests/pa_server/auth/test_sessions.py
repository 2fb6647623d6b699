"""Sessions end on the server: signing out, disabling and removing a user stop old cookies.

A copy of the cookie taken before (another tab, a proxy log, a thief) is replayed after
each of these and must be refused on the API and on the pages, reads and writes alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pa_server.auth import accounts
from pa_server.auth.models import User
from pa_server.auth.sessions import COOKIE_NAME, CSRF_FIELD
from tests.pa_server.auth.conftest import Site


def _refused_everywhere(site: Site, cookie: str) -> None:
    assert site.as_cookie(cookie, "GET", "/api/v1/me").status_code == 401
    assert site.as_cookie(cookie, "POST", "/api/v1/tokens", json={"name": "x"}).status_code == 401
    page = site.as_cookie(cookie, "GET", "/nguoi-dung")
    assert page.status_code == 303 and page.headers["location"].startswith("/dang-nhap")


def test_signing_out_ends_the_session_on_the_server(site: Site) -> None:
    user_id = site.add_user("quantri")
    cookie = site.sign_in("quantri")
    assert site.as_cookie(cookie, "GET", "/api/v1/me").json()["username"] == "quantri"
    assert site.as_cookie(cookie, "POST", "/api/v1/tokens", json={"name": "a"}).status_code == 201

    site.client.cookies.set(COOKIE_NAME, cookie)
    out = site.client.post(
        "/dang-xuat", data={CSRF_FIELD: site.csrf_of(cookie)}, follow_redirects=False
    )
    assert out.status_code == 303
    site.client.cookies.clear()

    _refused_everywhere(site, cookie)  # the copy taken before signing out
    [entry] = site.audit_entries("sign_out")
    assert (entry.actor_name, entry.entity, entry.entity_id) == ("quantri", "users", str(user_id))
    [ended] = site.audit_entries("end_sessions")
    assert ended.after == {"user": "quantri", "reason": "sign_out"}
    # Signing in again works, with a new session.
    again = site.sign_in("quantri")
    assert site.as_cookie(again, "GET", "/api/v1/me").status_code == 200


def test_signing_out_without_a_session_changes_nothing(site: Site) -> None:
    site.client.get("/dang-nhap")
    anonymous = site.client.cookies[COOKIE_NAME]
    out = site.client.post(
        "/dang-xuat", data={CSRF_FIELD: site.csrf_of(anonymous)}, follow_redirects=False
    )
    assert out.status_code == 303
    assert site.audit_entries("sign_out") == []


def test_a_disabled_user_is_refused_at_once_cookie_and_token(site: Site) -> None:
    site.add_user("quantri")
    user_id = site.add_user("vanhanh", role="operator", zones=("huyen",))
    cookie = site.sign_in("vanhanh")
    token = site.as_cookie(cookie, "POST", "/api/v1/tokens", json={"name": "cron"}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert site.client.get("/api/v1/me", headers=bearer).status_code == 200

    with site.sessions() as db:
        user = db.get(User, user_id)
        assert user is not None
        accounts.update_user(db, user, active=False, now=datetime.now(UTC))
        db.commit()

    _refused_everywhere(site, cookie)
    assert site.client.get("/api/v1/me", headers=bearer).status_code == 401
    [ended] = site.audit_entries("end_sessions")
    assert ended.entity_id == str(user_id)
    assert ended.after == {"user": "vanhanh", "reason": "disabled"}


def test_a_removed_user_is_refused_even_if_a_new_user_gets_the_id(site: Site) -> None:
    user_id = site.add_user("cu")
    cookie = site.sign_in("cu")
    token = site.as_cookie(cookie, "POST", "/api/v1/tokens", json={"name": "cron"}).json()["token"]
    with site.sessions() as db:
        user = db.get(User, user_id)
        assert user is not None
        db.delete(user)
        db.commit()
    _refused_everywhere(site, cookie)
    bearer = {"Authorization": f"Bearer {token}"}
    assert site.client.get("/api/v1/me", headers=bearer).status_code == 401
    with site.sessions() as db:
        # SQLite gives a freed highest id to the next row: the old cookie names this id, and
        # must not fit the new user (whose epoch starts at a random number, not 0).
        reborn = accounts.create_user(
            db, "moi", role="admin", password="mat-khau-moi-2", now=datetime.now(UTC)
        )
        reborn.id = user_id
        db.commit()
    assert site.as_cookie(cookie, "GET", "/api/v1/me").status_code == 401
    assert site.client.get("/api/v1/me", headers=bearer).status_code == 401


def test_a_new_password_ends_the_old_sessions(site: Site) -> None:
    user_id = site.add_user("an")
    cookie = site.sign_in("an")
    with site.sessions() as db:
        user = db.get(User, user_id)
        assert user is not None
        accounts.update_user(db, user, password="mat-khau-moi-2", now=datetime.now(UTC))
        db.commit()
    _refused_everywhere(site, cookie)
    assert site.audit_entries("end_sessions")[0].after == {"user": "an", "reason": "password"}
