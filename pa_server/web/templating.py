"""Jinja2 set-up for the Vietnamese pages: one environment, shared context, date formats."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pa_server.auth.rights import ROLE_LABELS_VI, Role
from pa_server.auth.sessions import CSRF_FIELD
from pa_server.web.recurrence import WEEKDAY_LABELS_VI

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

#: The staff navigation: (path, label). Order is the order of the menu.
NAV: tuple[tuple[str, str], ...] = (
    ("/", "Tổng quan"),
    ("/thong-bao", "Thông báo"),
    ("/lich-phat", "Lịch phát"),
    ("/thiet-bi", "Thiết bị"),
    ("/bao-cao", "Báo cáo"),
    ("/nhat-ky", "Nhật ký"),
    ("/nguoi-dung", "Người dùng"),
)

LEVEL_LABELS_VI = {"normal": "Thông thường", "priority": "Ưu tiên", "emergency": "Khẩn cấp"}
STATUS_LABELS_VI = {"draft": "Chờ duyệt", "approved": "Đã duyệt", "archived": "Lưu trữ"}
OCCURRENCE_STATUS_LABELS_VI = {
    "planned": "Đã lên lịch",
    "sent": "Đã gửi",
    "stopped": "Đã dừng",
    "cancelled": "Đã hủy",
}

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _local(
    value: datetime | None, fmt: str = "%H:%M %d/%m/%Y", tz: str = "Asia/Ho_Chi_Minh"
) -> str:
    """An instant shown in local time ("06:00 10/08/2026")."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _local_long(value: datetime | None, tz: str = "Asia/Ho_Chi_Minh") -> str:
    """ "06:00, Thứ hai 10/08/2026" in local time."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M}, {WEEKDAY_LABELS_VI[local.weekday()]} {local:%d/%m/%Y}"


templates.env.filters["local"] = _local
templates.env.filters["local_long"] = _local_long
templates.env.globals.update(
    NAV=NAV,
    CSRF_FIELD=CSRF_FIELD,
    LEVELS=LEVEL_LABELS_VI,
    STATUSES=STATUS_LABELS_VI,
    OCCURRENCE_STATUSES=OCCURRENCE_STATUS_LABELS_VI,
    ROLES={r.value: label for r, label in ROLE_LABELS_VI.items()},
    ROLE_ORDER=[r.value for r in Role],
    ROLE_OPTIONS=[(r.value, ROLE_LABELS_VI[r]) for r in Role],
)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render template `name` with the signed-in user and their CSRF token in reach."""
    ctx: dict[str, Any] = {"user": getattr(request.state, "user", None)}
    session = getattr(request.state, "session", None)
    ctx["csrf_token"] = session.csrf if session is not None else ""
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status)
