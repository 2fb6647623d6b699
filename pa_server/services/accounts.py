"""People and their API tokens, one function per use case (the API and the pages call these).

Adding and changing accounts is an admin's; anyone manages their own tokens. The account rules
themselves (names, roles, zones, passwords, ending sessions) live in `pa_server.auth.accounts`;
this module adds who may, and the clock of the request. Every change is row-audited under the
person acting (`UseCase` puts them in the session).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from pa_server.auth import accounts, audit
from pa_server.auth.errors import AccountError, Forbidden
from pa_server.auth.models import ApiToken, User
from pa_server.auth.ratelimit import SignInLimiter
from pa_server.auth.rights import require_admin
from pa_server.db.models import Zone
from pa_server.services.context import UseCase
from pa_server.services.errors import Invalid, NotFound


def _require_zones(uc: UseCase, zones: Sequence[str] | None) -> None:
    """An account can only be given zones that exist (a typo would give rights nowhere)."""
    for zone in zones or ():
        path = zone.strip().strip("/")
        if path and uc.db.get(Zone, path) is None:
            raise AccountError("unknown_zone", "Khu vực được giao không tồn tại.", "zones")


def _own_account(uc: UseCase) -> User:
    user = uc.db.get(User, uc.actor.id)
    if user is None:
        raise NotFound("user_not_found", "the signed-in account no longer exists")
    return user


def create_token(uc: UseCase, name: str) -> tuple[str, ApiToken]:
    """A new API token for the person acting; the secret is returned once, never stored."""
    try:
        return accounts.create_token(uc.db, _own_account(uc), name, now=uc.now)
    except AccountError as exc:
        raise Invalid(exc.code, "a token needs a name") from exc


def revoke_token(uc: UseCase, token_id: int) -> None:
    """Revoke one of the acting person's own tokens (another's is not found)."""
    row = uc.db.get(ApiToken, token_id)
    if row is None or row.user_id != uc.actor.id:
        raise NotFound("unknown_token", f"no token {token_id} of yours")
    accounts.revoke_token(uc.db, token_id, now=uc.now)


def add_user(
    uc: UseCase,
    username: str,
    *,
    role: str,
    password: str,
    zones: Sequence[str] = (),
    full_name: str = "",
) -> User:
    """Add an account (admins). `AccountError` names the field at fault."""
    require_admin(uc.actor)
    _require_zones(uc, zones)
    return accounts.create_user(
        uc.db, username, role=role, password=password, zones=zones, full_name=full_name, now=uc.now
    )


def change_user(
    uc: UseCase,
    user_id: int,
    *,
    active: bool | None = None,
    role: str | None = None,
    zones: Sequence[str] | None = None,
) -> User:
    """Lock, unlock, or change another account's role and zones (admins, never their own)."""
    require_admin(uc.actor)
    user = uc.db.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", f"no user {user_id}")
    if user.id == uc.actor.id:
        raise Forbidden("self_change", "Không tự khóa hoặc đổi vai trò của chính mình.")
    _require_zones(uc, zones)
    return accounts.update_user(uc.db, user, active=active, role=role, zones=zones, now=uc.now)


def sign_in(
    db: Session,
    username: str,
    password: str,
    *,
    address: str,
    limiter: SignInLimiter,
    now: datetime,
) -> User:
    """Check a password (rate-limited per user and address); the sign-in is logged and kept.

    Raises `BadCredentials` or `RateLimited`. Committed here: the page sets its cookie next.
    """
    user = accounts.authenticate(db, username, password, address=address, limiter=limiter, now=now)
    db.info[audit.INFO_ACTOR] = accounts.actor_of(user)
    db.info[audit.INFO_ADDRESS] = address
    audit.record(db, "sign_in", "users", str(user.id), now=now)
    db.commit()
    return user


def sign_out(db: Session, user: User, *, address: str, now: datetime) -> None:
    """End every session of `user` on the server (a copied cookie dies too), logged, committed."""
    db.info[audit.INFO_ACTOR] = accounts.actor_of(user)
    db.info[audit.INFO_ADDRESS] = address
    audit.record(db, "sign_out", "users", str(user.id), now=now)
    accounts.end_sessions(db, user, reason="sign_out", now=now)
    db.commit()
