"""Error pages for people: Vietnamese HTML for page addresses, the API's JSON shape for /api/.

A page that does not exist, an item that is gone, a refusal and a server fault each get a
Vietnamese page with a way back; the JSON error body stays for machines (`pa_server.api.errors`).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from pa_server.api import errors as api_errors
from pa_server.auth import accounts
from pa_server.auth.deps import browser_session
from pa_server.services.errors import NotFound, ServiceError
from pa_server.web.messages import service_message
from pa_server.web.templating import render

log = logging.getLogger(__name__)

#: Addresses answered for machines: they keep the JSON error body.
MACHINE_PREFIXES = ("/api/", "/media/", "/metrics", "/healthz", "/openapi.json", "/docs")

#: Status → (title, message) of the page shown.
PAGES_VI: dict[int, tuple[str, str]] = {
    400: ("Yêu cầu không hợp lệ", "Trình duyệt gửi yêu cầu không đúng. Vui lòng thử lại."),
    403: ("Không được phép", "Tài khoản của bạn không được làm việc này."),
    404: (
        "Không tìm thấy",
        "Trang hoặc mục bạn tìm không có hoặc đã bị xóa. Kiểm tra lại địa chỉ.",
    ),
    405: ("Không mở được trang", "Trang này không mở được theo cách này."),
    409: ("Không làm được lúc này", "Trạng thái hiện tại không cho phép việc này."),
    413: ("Tệp quá lớn", "Tệp gửi lên quá lớn."),
    422: ("Thông tin chưa hợp lệ", "Thông tin gửi lên chưa hợp lệ, vui lòng kiểm tra lại."),
    429: ("Quá nhiều yêu cầu", "Bạn thao tác quá nhanh. Vui lòng thử lại sau ít phút."),
    500: (
        "Có lỗi xảy ra",
        "Máy chủ gặp lỗi khi mở trang này. Lỗi đã được ghi lại; vui lòng thử lại sau.",
    ),
    503: ("Hệ thống chưa sẵn sàng", "Một phần hệ thống đang tạm dừng. Vui lòng thử lại sau."),
}


def for_machines(request: Request) -> bool:
    """True for addresses that answer JSON (the API, media, health and metrics)."""
    return request.url.path == "/api" or request.url.path.startswith(MACHINE_PREFIXES)


def _recognise(request: Request) -> None:
    """Put the signed-in person on the request, so an error page shows their usual menu.

    An unknown address never ran the page's sign-in dependency; the session cookie is read
    here instead (nothing is refused: an error page never asks anyone to sign in).
    """
    if getattr(request.state, "user", None) is not None:
        return
    sessions = getattr(request.app.state, "sessions", None)
    if sessions is None or getattr(request.app.state, "auth", None) is None:
        return
    try:
        session = browser_session(request)
        with sessions() as db:
            user = accounts.user_for_session(db, session)
            if user is not None:
                request.state.user = accounts.actor_of(user)
    except Exception:  # the error page must render even when the store is what failed
        log.warning("could not recognise the person on an error page", exc_info=True)


def error_page(
    request: Request, status: int, message: str | None = None, title: str | None = None
) -> Response:
    """The Vietnamese error page for `status` (message and title may be given)."""
    _recognise(request)
    default_title, default_message = PAGES_VI.get(status, PAGES_VI[500 if status >= 500 else 400])
    return render(
        request,
        "message.html",
        {
            "title": title or default_title,
            "message": message or default_message,
            "back_url": "/",
            "status": status,
        },
        status=status,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if for_machines(request):
        return await api_errors._http_error(request, exc)
    response = error_page(request, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if for_machines(request):
        return await api_errors._service_error(request, exc)
    status = exc.status if 400 <= exc.status < 600 else 500
    title = PAGES_VI[404][0] if isinstance(exc, NotFound) else None
    return error_page(request, status, service_message(exc), title)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if for_machines(request):
        return await api_errors._validation_error(request, exc)
    # A page address with a malformed part (/nguoi-dung/abc) names nothing that exists.
    return error_page(request, 404)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if for_machines(request):
        return api_errors.error_response(500, "internal_error", "internal server error")
    return error_page(request, 500)


def install(app: FastAPI) -> None:
    """Register the page-or-JSON handlers (after `pa_server.api.errors.install`)."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
