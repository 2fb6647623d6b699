"""Sign-in and sign-out pages."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from pa_server.api.deps import NowDep
from pa_server.auth import accounts
from pa_server.auth.deps import AuthState, auth_state, client_address, require_form_csrf
from pa_server.auth.errors import BadCredentials, RateLimited
from pa_server.auth.sessions import COOKIE_NAME, Session
from pa_server.services import accounts as account_cases
from pa_server.web.deps import BrowserSession, DbDep
from pa_server.web.templating import render

log = logging.getLogger(__name__)
router = APIRouter()

SIGN_IN = "/dang-nhap"


def set_session_cookie(response: Response, state: AuthState, session: Session) -> None:
    """Send `session` as the HttpOnly, SameSite=Lax cookie (Secure behind https)."""
    response.set_cookie(
        COOKIE_NAME,
        state.codec.dumps(session),
        max_age=state.codec.max_age_s,
        httponly=True,
        samesite="lax",
        secure=state.secure_cookie,
        path="/",
    )


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in; anything else (other hosts) becomes "/"."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get(SIGN_IN)
def sign_in_form(request: Request, session: BrowserSession, next: str = "/") -> Response:
    """The sign-in form; gives the browser an anonymous session so the form has a CSRF token."""
    if session is None:
        session = Session.anonymous()
        request.state.session = session
    response = render(
        request,
        "signin.html",
        {"title": "Đăng nhập", "values": {}, "errors": {}, "next_url": safe_next(next)},
    )
    set_session_cookie(response, auth_state(request), session)
    return response


@router.post(SIGN_IN)
async def sign_in(
    request: Request,
    db: DbDep,
    session: BrowserSession,
    now: NowDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password; on success a fresh session cookie and the page asked for."""
    await require_form_csrf(request, session)
    state = auth_state(request)
    errors: dict[str, str] = {}
    if not username.strip():
        errors["username"] = "Vui lòng nhập tên đăng nhập."
    if not password:
        errors["password"] = "Vui lòng nhập mật khẩu."  # noqa: S105 (a message, not a secret)
    status, message, retry_after = 422, None, 0
    if not errors:
        try:
            user = account_cases.sign_in(
                db,
                username,
                password,
                address=client_address(request),
                limiter=state.limiter,
                now=now,
            )
        except RateLimited as exc:
            status, message, retry_after = 429, exc.message_vi, exc.retry_after_s
        except BadCredentials as exc:
            log.warning("failed sign-in for %r from %s", username[:64], client_address(request))
            status, message = 401, exc.message_vi
        else:
            redirect = RedirectResponse(safe_next(next), status_code=303)
            set_session_cookie(redirect, state, Session.signed_in(user.id, user.session_epoch))
            return redirect
    response = render(
        request,
        "signin.html",
        {
            "title": "Đăng nhập",
            "values": {"username": username},
            "errors": errors,
            "error": message,
            "next_url": safe_next(next),
        },
        status=status,
    )
    if status == 429:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.post("/dang-xuat")
async def sign_out(request: Request, db: DbDep, session: BrowserSession, now: NowDep) -> Response:
    """End the session on the server (not just in this browser) and go to the sign-in page."""
    await require_form_csrf(request, session)
    user = accounts.user_for_session(db, session)
    if user is not None:
        # A copy of the cookie (another tab, a proxy log, a thief) must not outlive the
        # sign-out: the server ends the session, the browser merely forgets it.
        account_cases.sign_out(db, user, address=client_address(request), now=now)
    response = RedirectResponse(SIGN_IN, status_code=303)
    set_session_cookie(response, auth_state(request), Session.anonymous())
    return response
