"""Accounts in the database: users, sign-in, sessions, tokens, and the append-only audit log."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from pa_server.auth import accounts, audit
from pa_server.auth.errors import AccountError, BadCredentials, RateLimited
from pa_server.auth.models import AuditEntry, User
from pa_server.auth.ratelimit import SignInLimiter
from pa_server.auth.rights import Actor, Role
from pa_server.auth.sessions import Session

NOW = datetime(2026, 8, 10, 6, 0, tzinfo=UTC)
PASSWORD = "mat-khau-dai-1"


@pytest.fixture
def db(session: DbSession) -> DbSession:
    """A session on a migrated SQLite file, and on PostgreSQL when there is one (audited)."""
    return session


def test_create_and_authenticate(db: DbSession) -> None:
    user = accounts.create_user(
        db, "VanHanh", role="operator", password=PASSWORD, zones=["/huyen/xa-a/"], now=NOW
    )
    db.commit()
    assert user.username == "vanhanh" and user.zones == ["huyen/xa-a"]
    limiter = SignInLimiter()
    got = accounts.authenticate(db, "vanhanh", PASSWORD, address="ip", limiter=limiter, now=NOW)
    assert got.id == user.id
    assert accounts.actor_of(got) == Actor(user.id, "vanhanh", Role.OPERATOR, ("huyen/xa-a",))
    with pytest.raises(BadCredentials):
        accounts.authenticate(db, "vanhanh", "sai-mat-khau", address="ip", limiter=limiter, now=NOW)
    with pytest.raises(BadCredentials):
        accounts.authenticate(db, "khongco", PASSWORD, address="ip", limiter=limiter, now=NOW)


def test_sign_in_locked_after_five_failures_even_with_right_password(db: DbSession) -> None:
    accounts.create_user(db, "an", role="viewer", password=PASSWORD, now=NOW)
    limiter = SignInLimiter()
    for _ in range(5):
        with pytest.raises(BadCredentials):
            accounts.authenticate(db, "an", "sai", address="ip", limiter=limiter, now=NOW)
    with pytest.raises(RateLimited):
        accounts.authenticate(db, "an", PASSWORD, address="ip", limiter=limiter, now=NOW)
    later = NOW + timedelta(minutes=5, seconds=1)
    assert accounts.authenticate(db, "an", PASSWORD, address="ip", limiter=limiter, now=later)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"username": "a b", "role": "viewer"}, "username"),
        ({"username": "binh", "role": "boss"}, "role"),
        ({"username": "binh", "role": "operator"}, "zones"),
        ({"username": "binh", "role": "viewer", "zones": ["Xã A"]}, "zones"),
        ({"username": "binh", "role": "viewer", "password": "ngan"}, "password"),
    ],
)
def test_bad_user_fields(db: DbSession, kwargs: dict[str, object], field: str) -> None:
    args = {"password": PASSWORD, **kwargs}
    with pytest.raises(AccountError) as exc:
        accounts.create_user(db, now=NOW, **args)  # type: ignore[arg-type]
    assert exc.value.field == field
    assert db.scalar(select(User).where(User.username == "binh")) is None


def test_duplicate_username(db: DbSession) -> None:
    accounts.create_user(db, "an", role="viewer", password=PASSWORD, now=NOW)
    with pytest.raises(AccountError) as exc:
        accounts.create_user(db, "AN", role="viewer", password=PASSWORD, now=NOW)
    assert exc.value.code == "duplicate_user"


def test_session_voided_by_epoch_and_deactivation(db: DbSession) -> None:
    user = accounts.create_user(db, "an", role="approver", password=PASSWORD, now=NOW)
    session = Session.signed_in(user.id, user.session_epoch)
    assert accounts.user_for_session(db, session) is user
    assert accounts.user_for_session(db, Session.anonymous()) is None
    accounts.update_user(db, user, password="mat-khau-moi-2")
    assert accounts.user_for_session(db, session) is None
    fresh = Session.signed_in(user.id, user.session_epoch)
    accounts.update_user(db, user, active=False)
    assert accounts.user_for_session(db, fresh) is None


def test_api_token(db: DbSession) -> None:
    user = accounts.create_user(
        db, "script", role="operator", password=PASSWORD, zones=["huyen"], now=NOW
    )
    token, row = accounts.create_token(db, user, "cron", now=NOW)
    db.commit()
    logged = len(audit.entries(db))
    assert accounts.user_for_token(db, token, now=NOW) is user
    db.commit()
    assert len(audit.entries(db)) == logged  # using a token is not a change
    assert row.last_used_at == NOW
    with pytest.raises(BadCredentials):
        accounts.user_for_token(db, token + "x", now=NOW)
    accounts.revoke_token(db, row.id, now=NOW)
    with pytest.raises(BadCredentials):
        accounts.user_for_token(db, token, now=NOW)


def test_every_change_is_audited_with_actor_before_after(db: DbSession) -> None:
    admin = Actor(99, "quantri", Role.ADMIN)
    db.info[audit.INFO_ACTOR] = admin
    db.info[audit.INFO_ADDRESS] = "10.0.0.5"
    user = accounts.create_user(db, "an", role="viewer", password=PASSWORD, now=NOW)
    db.commit()
    accounts.update_user(db, user, role="approver")
    db.commit()
    db.delete(user)
    db.commit()
    got = list(reversed(audit.entries(db, entity="users")))
    assert [e.action for e in got] == ["create", "update", "delete"]
    assert {e.actor_name for e in got} == {"quantri"}
    assert got[0].address == "10.0.0.5"
    assert got[0].before is None and got[0].after is not None
    assert got[0].after["username"] == "an" and got[0].after["password_hash"] == "***"
    epoch = got[0].after["session_epoch"]
    assert got[1].before == {"role": "viewer", "session_epoch": epoch}
    assert got[1].after == {"role": "approver", "session_epoch": epoch + 1}
    assert got[2].before is not None and got[2].before["username"] == "an"


def test_rolled_back_change_leaves_no_log(db: DbSession) -> None:
    accounts.create_user(db, "an", role="viewer", password=PASSWORD, now=NOW)
    db.rollback()
    assert audit.entries(db) == []


def test_audit_log_cannot_be_edited(engine: Engine, db: DbSession) -> None:
    audit.record(db, "sign_in", "users", "1", now=NOW)
    db.commit()
    assert audit.entries(db)[0].actor_name == "system"
    for stmt in ("UPDATE audit_log SET actor_name = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(stmt))
    assert db.scalar(select(AuditEntry.actor_name)) == "system"


def test_unaudited_tables_are_real_tables_and_console_sessions_are_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pa_server.cli import console_sessions
    from pa_server.config import get_settings
    from pa_server.db.models import Base

    assert set(Base.metadata.tables) >= audit.UNAUDITED_TABLES
    monkeypatch.setenv("PA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        sessions = console_sessions()
    finally:
        get_settings.cache_clear()
    assert event.contains(sessions, "after_flush", audit._after_flush)
    assert not event.contains(DbSession, "after_flush", audit._after_flush)


def test_every_new_session_factory_is_audited_exactly_once() -> None:
    """Factories made and dropped one after another (each test, each app start) all log.

    SQLAlchemy's event registry is keyed by id() and outlived a collected factory, so a new one
    at a recycled address was taken for hooked already (`event.contains`) and its sessions went
    unaudited: a test run lost a publisher's whole audit trail that way.
    """
    for _ in range(200):
        sessions = audit.audited(audit.audited(sessionmaker()))
        with sessions() as db:
            assert len(db.dispatch.after_flush) == 1
        del sessions, db
        gc.collect()
