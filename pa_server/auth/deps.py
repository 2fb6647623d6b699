"""Who is asking: the request-level checks the API and page dependencies are built from.

- API (`/api/v1`): a bearer token (`Authorization: Bearer pa_…`) or the page session cookie.
  No credentials → 401 with `WWW-Authenticate: Bearer`. A cookie-authenticated request that
  changes something must also send the session's CSRF token in `X-CSRF-Token` (a bearer token
  is not sent by browsers on their own, so it needs none).
- Pages: the session cookie; without one the browser is sent to the sign-in page; every POST
  must carry the form's CSRF token.

Either way the request's database session learns the actor, so the audit log names them.
These functions take the database session as an argument; the FastAPI `Annotated` aliases
that wire them live beside the other dependencies (`pa_server.api.deps`, `pa_server.web.deps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.orm import Session as DbSession
from starlette.datastructures import FormData, UploadFile

from pa_server.auth import accounts, audit
from pa_server.auth.errors import BadText, NotSignedIn
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
from pa_server.schemas.common import unsafe_character

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Form fields typed in a <textarea>: line breaks and tabs belong there, nowhere else.
MULTI_LINE_FIELDS = frozenset({"text", "reason"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass
class AuthState:
    """What the app keeps for authentication (on `app.state.auth`)."""

    codec: SessionCodec
    limiter: SignInLimiter
    secure_cookie: bool


def auth_state(request: Request) -> AuthState:
    """The app's `AuthState`."""
    state: AuthState = request.app.state.auth
    return state


def client_address(request: Request) -> str:
    """The caller's address (the direct peer; a proxy in front should be configured to pass it)."""
    return request.client.host if request.client else ""


def browser_session(request: Request) -> Session | None:
    """The session the cookie carries, or None (missing, forged or expired)."""
    session = auth_state(request).codec.loads(request.cookies.get(COOKIE_NAME))
    request.state.session = session
    return session


def _signed_in(db: DbSession, user: User, request: Request) -> Actor:
    actor = accounts.actor_of(user)
    db.info[audit.INFO_ACTOR] = actor
    db.info[audit.INFO_ADDRESS] = client_address(request)
    # A frozen snapshot: error pages render after the database session has gone.
    request.state.user = actor
    return actor


def authenticate_api(request: Request, db: DbSession) -> Actor:
    """The person behind an API request (bearer token or session cookie).

    Raises `BadCredentials` (bad token) or `NotSignedIn` (→ 401), `BadCsrf` (→ 403).
    """
    token = bearer_token(request.headers.get("authorization"))
    if token is not None:
        user = accounts.user_for_token(db, token, now=datetime.now(UTC))
        return _signed_in(db, user, request)
    session = browser_session(request)
    by_cookie = accounts.user_for_session(db, session)
    if by_cookie is None or session is None:
        raise NotSignedIn(request.url.path)
    if request.method not in SAFE_METHODS:
        check_csrf(session, request.headers.get(CSRF_HEADER))
    return _signed_in(db, by_cookie, request)


async def authenticate_page(request: Request, db: DbSession) -> Actor:
    """The signed-in person on a page; raises `NotSignedIn` (→ sign-in page) or `BadCsrf`."""
    session = browser_session(request)
    user = accounts.user_for_session(db, session)
    if user is None or session is None:
        raise NotSignedIn(request.url.path)
    if request.method not in SAFE_METHODS:
        await require_form_csrf(request, session)
    return _signed_in(db, user, request)


def check_form_text(form: FormData) -> None:
    """Raise `BadText` if a field (or an uploaded file's name) holds a control character."""
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            text, multiline = value.filename or "", False
        else:
            text, multiline = value, name in MULTI_LINE_FIELDS
        why = unsafe_character(name) or unsafe_character(text, multiline=multiline)
        if why is not None:
            raise BadText(name, why)


async def require_form_csrf(request: Request, session: Session | None) -> None:
    """Raise `BadCsrf` unless the posted form (or header) carries this session's token.

    Every page POST passes here first, so this is also where a form's text is checked for
    control characters (`BadText`): no handler sees a NUL (PostgreSQL would refuse it: a 500).
    """
    form = None
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        form = await request.form()  # parsed once: Starlette keeps it for the handler
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None and form is not None:
        value = form.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    check_csrf(session, submitted)
    if form is not None:
        check_form_text(form)
