"""The staff pages (Vietnamese, server-rendered) and the public page residents see."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from pa_server.auth.deps import AuthState
from pa_server.auth.errors import (
    AuthError,
    BadCredentials,
    BadCsrf,
    BadText,
    Forbidden,
    NotSignedIn,
)
from pa_server.auth.ratelimit import SignInLimiter
from pa_server.auth.sessions import SessionCodec, cookie_is_secure, load_or_create_secret
from pa_server.config import Settings
from pa_server.web import (
    alerts,
    announcements,
    broadcasts,
    emergency,
    errors,
    fleet,
    live,
    messages,
    operations,
    pages,
    programme,
    public,
    schedules,
    signin,
    users,
)
from pa_server.web.templating import render

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _api_error(status: int, exc: AuthError) -> JSONResponse:
    # The API's one error shape: {"detail": {"code", "message"}}.
    body = {"detail": {"code": exc.code, "message": str(exc)}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status, headers=headers)


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    if _wants_json(request):
        return _api_error(401, exc)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{signin.SIGN_IN}?next={quote(target)}", status_code=303)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadCsrf | Forbidden)
    if _wants_json(request):
        return _api_error(403, exc)
    if exc.code == "not_found":
        # Pages raise Forbidden("not_found") for a missing item: it is a 404, said as such.
        return errors.error_page(request, 404, exc.message_vi)
    title = "Không gửi được biểu mẫu" if isinstance(exc, BadCsrf) else "Không được phép"
    return render(
        request,
        "message.html",
        {"title": title, "message": forbidden_message(exc), "back_url": "/"},
        status=403,
    )


def forbidden_message(exc: AuthError) -> str:
    """A refusal's page wording (slug-free for rights refusals)."""
    return messages.forbidden_message(exc) if isinstance(exc, Forbidden) else exc.message_vi


async def _bad_text(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadText)
    if _wants_json(request):
        return _api_error(422, exc)
    return errors.error_page(request, 422, exc.message_vi, title="Không gửi được biểu mẫu")


def install_web(app: FastAPI, settings: Settings) -> None:
    """Add accounts, the staff pages, the public pages and the static files to `app`."""
    app.state.auth = AuthState(
        codec=SessionCodec(load_or_create_secret(settings.data_dir)),
        limiter=SignInLimiter(),
        secure_cookie=cookie_is_secure(settings.resolved_public_url),
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Pages are HTML for people, not API operations: they stay out of the OpenAPI spec.
    app.include_router(signin.router, include_in_schema=False)
    app.include_router(operations.router, include_in_schema=False)
    app.include_router(fleet.router, include_in_schema=False)
    app.include_router(announcements.router, include_in_schema=False)
    app.include_router(schedules.router, include_in_schema=False)
    app.include_router(broadcasts.router, include_in_schema=False)
    app.include_router(emergency.router, include_in_schema=False)
    app.include_router(live.router, include_in_schema=False)
    app.include_router(alerts.router, include_in_schema=False)
    app.include_router(programme.router, include_in_schema=False)
    app.include_router(pages.router, include_in_schema=False)
    app.include_router(users.router, include_in_schema=False)
    app.include_router(public.router, include_in_schema=False)
    errors.install(app)
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(BadCredentials, _not_signed_in)
    app.add_exception_handler(BadCsrf, _refused)
    app.add_exception_handler(Forbidden, _refused)
    app.add_exception_handler(BadText, _bad_text)
