"""Accounts kept in the database: create users, sign in, resolve sessions and API tokens."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from pa_server.auth import audit
from pa_server.auth.errors import AccountError, BadCredentials
from pa_server.auth.models import ApiToken, User
from pa_server.auth.passwords import WeakPassword, hash_password, needs_rehash, verify_password
from pa_server.auth.ratelimit import SignInLimiter
from pa_server.auth.rights import Actor, Role
from pa_server.auth.sessions import Session
from pa_server.auth.tokens import new_token, token_digest

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ZONE_RE = re.compile(r"^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*$")


def actor_of(user: User) -> Actor:
    """The rights-relevant view of `user`."""
    return Actor(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        zones=tuple(user.zones),
        full_name=user.full_name,
    )


def _check_fields(username: str, role: str, zones: Sequence[str]) -> None:
    if not USERNAME_RE.match(username):
        raise AccountError(
            "bad_username",
            "Tên đăng nhập chỉ gồm chữ thường không dấu, số, dấu chấm, gạch (2–64 ký tự).",
            "username",
        )
    if role not in {r.value for r in Role}:
        raise AccountError("bad_role", f"Vai trò không hợp lệ: “{role}”.", "role")
    for zone in zones:
        if not ZONE_RE.match(zone):
            raise AccountError("bad_zone", f"Đường dẫn khu vực không hợp lệ: “{zone}”.", "zones")
    if role == Role.OPERATOR and not zones:
        raise AccountError(
            "operator_needs_zone", "Người vận hành phải được giao ít nhất một khu vực.", "zones"
        )


def create_user(
    db: DbSession,
    username: str,
    *,
    role: str,
    password: str,
    zones: Sequence[str] = (),
    full_name: str = "",
    now: datetime,
) -> User:
    """Add a user (not committed); raises `AccountError` for a bad field or a taken name."""
    username = username.strip().lower()
    zones = [z.strip().strip("/") for z in zones if z.strip()]
    _check_fields(username, role, zones)
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError("duplicate_user", f"Tên đăng nhập “{username}” đã có.", "username")
    try:
        password_hash = hash_password(password)
    except WeakPassword as exc:
        raise AccountError("weak_password", str(exc), "password") from exc
    user = User(
        username=username,
        full_name=full_name.strip(),
        role=role,
        zones=zones,
        password_hash=password_hash,
        # Random, not 0: SQLite gives a deleted user's id to the next one, and a cookie of
        # the deleted user must not fit the new one.
        session_epoch=secrets.randbelow(2**30),
        active=True,
        created_at=now,
    )
    db.add(user)
    db.flush()
    return user


def authenticate(
    db: DbSession,
    username: str,
    password: str,
    *,
    address: str,
    limiter: SignInLimiter,
    now: datetime,
) -> User:
    """The user whose password this is; raises `RateLimited` or `BadCredentials`."""
    username = username.strip().lower()
    limiter.check(username, address, now=now)
    user = db.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        limiter.record_failure(username, address, now=now)
        raise BadCredentials(username)
    limiter.record_success(username, address)
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def end_sessions(db: DbSession, user: User, *, reason: str, now: datetime) -> None:
    """End every open session of `user` on the server, and log it naming them.

    The one way sessions end before they expire: signing out, a new password, a new role,
    disabling. Cookies carry the user's session epoch, checked on every request
    (`user_for_session`); moving it on voids every cookie issued before, even one a thief
    copied, wherever it is replayed.
    """
    user.session_epoch += 1
    db.flush()
    audit.record(
        db,
        "end_sessions",
        "sessions",
        str(user.id),
        after={"user": user.username, "reason": reason},
        now=now,
    )


def user_for_session(db: DbSession, session: Session | None) -> User | None:
    """The active user a session cookie names, unless their sessions were ended since."""
    if session is None or session.user_id is None:
        return None
    user = db.get(User, session.user_id)
    if user is None or not user.active or user.session_epoch != session.epoch:
        return None
    return user


def create_token(db: DbSession, user: User, name: str, *, now: datetime) -> tuple[str, ApiToken]:
    """A new API token for `user` and its row; the plain token is returned once, never stored."""
    name = name.strip()
    if not name:
        raise AccountError("bad_token_name", "Vui lòng đặt tên cho mã truy cập.", "name")
    token = new_token()
    row = ApiToken(user_id=user.id, name=name[:100], digest=token_digest(token), created_at=now)
    db.add(row)
    db.flush()
    return token, row


def user_for_token(db: DbSession, token: str, *, now: datetime) -> User:
    """The active user owning `token`; raises `BadCredentials` for an unknown or revoked one."""
    row = db.scalar(select(ApiToken).where(ApiToken.digest == token_digest(token)))
    if row is None or row.revoked_at is not None:
        raise BadCredentials("unknown or revoked API token")
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        raise BadCredentials("API token of a disabled user")
    row.last_used_at = now
    return user


def revoke_token(db: DbSession, token_id: int, *, now: datetime) -> None:
    """Stop a token from working (the row stays, for the audit log)."""
    row = db.get(ApiToken, token_id)
    if row is None:
        raise AccountError("unknown_token", "Không tìm thấy mã truy cập.")
    row.revoked_at = row.revoked_at or now


def list_users(db: DbSession) -> list[User]:
    """Every user, by name."""
    return list(db.scalars(select(User).order_by(User.username)))


def update_user(
    db: DbSession,
    user: User,
    *,
    role: str | None = None,
    zones: Sequence[str] | None = None,
    active: bool | None = None,
    password: str | None = None,
    now: datetime | None = None,
) -> User:
    """Change a user; a new password, role or deactivation ends their open sessions."""
    new_role = user.role if role is None else role
    new_zones = list(user.zones) if zones is None else [z.strip().strip("/") for z in zones]
    _check_fields(user.username, new_role, new_zones)
    reasons: list[str] = []
    if password is not None:
        try:
            user.password_hash = hash_password(password)
        except WeakPassword as exc:
            raise AccountError("weak_password", str(exc), "password") from exc
        reasons.append("password")
    if new_role != user.role:
        reasons.append("role")
    if active is not None and active != user.active:
        reasons.append("enabled" if active else "disabled")
    user.role, user.zones = new_role, new_zones
    if active is not None:
        user.active = active
    if reasons:
        end_sessions(db, user, reason=",".join(reasons), now=now or datetime.now(UTC))
    db.flush()
    return user
