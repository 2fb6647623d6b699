"""FastAPI dependencies that tell who is asking: `CurrentUser` for the API, `PageUser` for pages.

- API (`/api/v1`): a bearer token (`Authorization: Bearer pa_…`) or the page session cookie.
  No credentials → 401 with `WWW-Authenticate: Bearer`. A cookie-authenticated request that
  changes something must also send the session's CSRF token in `X-CSRF-Token` (a bearer token
  is not sent by browsers on their own, so it needs none).
- Pages: the session cookie; without one the browser is sent to the sign-in page.

Either way the database session of the request learns the actor, so the audit log names them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from pa_server.auth import accounts, audit
from pa_server.auth.errors import BadCredentials, BadCsrf, NotSignedIn
from pa_server.auth.models import User
from pa_server.auth.ratelimit import SignInLimiter
from pa_server.auth.rights import Actor
from pa_server.auth.sessions import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionCodec,
    check_csrf,
)
from pa_server.auth.tokens import bearer_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class AuthState:
    """What the app keeps for authentication (on `app.state.auth`)."""

    codec: SessionCodec
    limiter: SignInLimiter
    secure_cookie: bool
    sessions: sessionmaker[DbSession]


def auth_state(request: Request) -> AuthState:
    """The app's `AuthState`."""
    state: AuthState = request.app.state.auth
    return state


def client_address(request: Request) -> str:
    """The caller's address (the direct peer; a proxy in front should be configured to pass it)."""
    return request.client.host if request.client else ""


def get_db(request: Request) -> Iterator[DbSession]:
    """One database session per request, closed afterwards."""
    with auth_state(request).sessions() as db:
        db.info[audit.INFO_ADDRESS] = client_address(request)
        yield db


DbDep = Annotated[DbSession, Depends(get_db)]


def browser_session(request: Request) -> Session | None:
    """The session the cookie carries, or None (missing, forged or expired)."""
    session = auth_state(request).codec.loads(request.cookies.get(COOKIE_NAME))
    request.state.session = session
    return session


BrowserSession = Annotated[Session | None, Depends(browser_session)]


def _signed_in(db: DbSession, user: User, request: Request) -> User:
    db.info[audit.INFO_ACTOR] = accounts.actor_of(user)
    request.state.user = user
    return user


def api_user(request: Request, db: DbDep, session: BrowserSession) -> User:
    """The person behind an API request (bearer token or session cookie), or 401."""
    token = bearer_token(request.headers.get("authorization"))
    if token is not None:
        try:
            user = accounts.user_for_token(db, token, now=datetime.now(UTC))
        except BadCredentials as exc:
            raise HTTPException(
                401, detail="invalid_token", headers={"WWW-Authenticate": "Bearer"}
            ) from exc
        db.commit()  # keeps last_used_at
        return _signed_in(db, user, request)
    by_cookie = accounts.user_for_session(db, session)
    if by_cookie is None or session is None:
        raise HTTPException(401, detail="not_authenticated", headers={"WWW-Authenticate": "Bearer"})
    if request.method not in SAFE_METHODS:
        try:
            check_csrf(session, request.headers.get(CSRF_HEADER))
        except BadCsrf as exc:
            raise HTTPException(403, detail="csrf_failed") from exc
    return _signed_in(db, by_cookie, request)


CurrentUser = Annotated[User, Depends(api_user)]


def api_actor(user: CurrentUser) -> Actor:
    """The rights view of the API caller."""
    return accounts.actor_of(user)


CurrentActor = Annotated[Actor, Depends(api_actor)]


async def page_user(request: Request, db: DbDep, session: BrowserSession) -> User:
    """The signed-in person on a page; raises `NotSignedIn` (→ sign-in page) otherwise.

    For a POST it checks the form's CSRF token too, so no page form can skip it.
    """
    user = accounts.user_for_session(db, session)
    if user is None or session is None:
        raise NotSignedIn(request.url.path)
    if request.method not in SAFE_METHODS:
        await require_form_csrf(request, session)
    return _signed_in(db, user, request)


async def require_form_csrf(request: Request, session: Session | None) -> None:
    """Raise `BadCsrf` unless the posted form (or header) carries this session's token."""
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    check_csrf(session, submitted)


PageUser = Annotated[User, Depends(page_user)]


def page_actor(user: PageUser) -> Actor:
    """The rights view of the signed-in page user."""
    return accounts.actor_of(user)


PageActor = Annotated[Actor, Depends(page_actor)]
