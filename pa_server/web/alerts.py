"""Cảnh báo: CAP alerts received, the upload door, one-click approval, and (admins) the sources,
feeds with their health, the geocode table and the zones' points; each publisher's page, where
an admin locks, unlocks it or gives it a new push token.

Presentation only: every action is a `pa_server.services.alerts` use case.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from pa_server.alerts import CapError
from pa_server.alerts.cap import InfoSpec, parse_cap
from pa_server.api.deps import RowId
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role
from pa_server.config import Settings
from pa_server.db.alerts import CapMessage
from pa_server.db.models import Announcement
from pa_server.services import alerts, zones
from pa_server.services.errors import ServiceError
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.errors import error_page
from pa_server.web.messages import refusal_message, refusal_status
from pa_server.web.templating import render, templates

router = APIRouter()


def source_name(source: str) -> str:
    """Who brought a message, in words: a publisher (`cap:<name>`) or a person's user name."""
    kind, _, name = source.partition(":")
    if kind == "cap" and name:
        return f"nguồn {name}"
    return "hệ thống" if kind == "system" else source


templates.env.filters["cap_source"] = source_name

BASE = "/canh-bao"
SOURCES = f"{BASE}/nguon"
PUBLISHERS = f"{SOURCES}/phat-hanh"


#: Wording of the alert services' refusal codes (others: `web.messages`).
MESSAGES_VI = {
    "alert_not_draft": "Cảnh báo này không còn chờ duyệt.",
    "alert_has_text": "Cảnh báo này đã có lời đọc hoặc đã kết thúc.",
    "alert_no_zone": "Cảnh báo không khớp khu vực nào: hãy khai báo mã vùng hoặc tọa độ trước.",
    "bad_publisher_name": "Tên nguồn chỉ gồm chữ thường không dấu, số, dấu chấm, gạch.",
    "bad_zones": "Hãy ghi ít nhất một khu vực (đường dẫn) nguồn được phát tới.",
    "duplicate_publisher": "Tên nguồn này đã có.",
    "bad_url": "Địa chỉ kênh phải bắt đầu bằng http:// hoặc https://.",
    "unknown_publisher": "Hãy chọn nguồn phát hành.",
    "bad_interval": "Chu kỳ đọc từ 1 phút đến 1 ngày.",
    "bad_geocode": "Hãy nhập loại mã và giá trị mã vùng, như ghi trong bản tin cảnh báo.",
    "bad_point": "Vĩ độ trong khoảng ±90, kinh độ trong khoảng ±180, nhập đủ cả hai.",
    "empty_text": "Vui lòng nhập tiêu đề và lời đọc.",
    "publisher_not_found": "Không có nguồn này.",
    "publisher_locked_already": "Nguồn này đã bị khóa từ trước.",
    "publisher_not_locked": "Nguồn này đang không bị khóa.",
    "bad_senders": "Hãy ghi từ 1 đến 20 địa chỉ người gửi, cách nhau bởi dấu phẩy; mỗi địa chỉ"
    " không có khoảng trắng, < hoặc &, ví dụ kttv@nchmf.gov.vn.",
}


def _why(exc: Forbidden | ServiceError) -> str:
    return MESSAGES_VI.get(exc.code) or refusal_message(exc)


def _list_context(db: DbDep, actor: Actor, settings: Settings, **extra: Any) -> dict[str, Any]:
    found = alerts.list_alerts(db)
    return {
        "title": "Cảnh báo",
        "active": BASE,
        "alerts": found,
        # A message is named by its alert's headline: identifiers are codes, not names.
        "headlines": {a.id: a.headline for a in found},
        "messages": alerts.list_messages(db, limit=30),
        "may_upload": alerts.may_upload(settings, actor),
        "is_admin": actor.role is Role.ADMIN,
        **extra,
    }


@router.get(BASE)
def alert_list(request: Request, actor: PageActor, db: DbDep) -> Response:
    """Alerts and the latest messages received (every verdict), and the upload form."""
    ctx = _list_context(db, actor, request.app.state.settings)
    return render(request, "alerts.html", ctx)


@router.post(f"{BASE}/nap")
async def upload(request: Request, uc: PageUseCase) -> Response:
    """Receive an uploaded CAP file; show the message with its verdict."""
    form = await request.form()
    file = form.get("file")
    data = await file.read() if isinstance(file, UploadFile) else b""
    if not data:
        ctx = _list_context(
            uc.db, uc.actor, uc.settings, error="Vui lòng chọn tệp bản tin CAP (.xml)."
        )
        return render(request, "alerts.html", ctx, status=422)
    try:
        row = alerts.upload_cap(uc, data)
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        ctx = _list_context(uc.db, uc.actor, uc.settings, error=_why(exc))
        return render(request, "alerts.html", ctx, status=refusal_status(exc))
    return RedirectResponse(f"{BASE}/ban-tin/{row.id}", status_code=303)


@router.get(SOURCES)
def sources(request: Request, actor: PageActor, db: DbDep) -> Response:
    """Publishers, feeds and their health, the geocode table, the zones' points."""
    return render(request, "alert_sources.html", _sources_context(db))


@router.get(BASE + "/ban-tin/{message_id}")
def message_page(request: Request, message_id: str, actor: PageActor, db: DbDep) -> Response:
    """One message received: its verdict, reason and raw XML."""
    try:
        row = alerts.get_message(db, message_id)
    except ServiceError:
        return error_page(request, 404, "Không có bản tin này.")
    return render(
        request,
        "alert_message.html",
        {"title": "Bản tin cảnh báo", "active": BASE, "m": row},
    )


def _original(messages: list[CapMessage]) -> InfoSpec | None:
    """What the publisher wrote (the latest accepted message's first info): the person who
    writes an alert's Vietnamese words has to read it first."""
    for message in messages:
        if message.verdict == "accepted":
            try:
                return parse_cap(message.raw.encode()).first_info()
            except CapError:
                return None
    return None


def _alert_context(db: DbDep, alert_id: str, **extra: Any) -> dict[str, Any] | None:
    try:
        alert = alerts.get_alert(db, alert_id)
    except ServiceError:
        return None
    ann = db.get(Announcement, alert.announcement_id) if alert.announcement_id else None
    messages = alerts.list_messages(db, alert_id=alert.id)
    return {
        "title": alert.headline or "Cảnh báo",
        "active": BASE,
        "a": alert,
        "ann": ann,
        "messages": messages,
        "original": _original(messages) if alert.state == "needs_text" else None,
        "errors": extra.pop("errors", {}),
        "values": extra.pop("values", {}),
        **extra,
    }


@router.get(BASE + "/{alert_id}")
def alert_page(request: Request, alert_id: str, actor: PageActor, db: DbDep) -> Response:
    """One alert: what the publisher said beside the draft that would be read; approve it."""
    ctx = _alert_context(db, alert_id)
    if ctx is None:
        return error_page(request, 404, "Không có cảnh báo này.")
    return render(request, "alert.html", ctx)


@router.post(BASE + "/{alert_id}/duyet")
async def approve(request: Request, alert_id: str, uc: PageUseCase) -> Response:
    """One click: approve the alert's draft; its repeats start."""
    try:
        alerts.approve_alert(uc, alert_id)
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        ctx = _alert_context(uc.db, alert_id, error=_why(exc))
        if ctx is None:
            return error_page(request, 404, "Không có cảnh báo này.")
        return render(request, "alert.html", ctx, status=refusal_status(exc))
    return RedirectResponse(f"{BASE}/{alert_id}", status_code=303)


@router.post(BASE + "/{alert_id}/loi-doc")
async def write_text(request: Request, alert_id: str, uc: PageUseCase) -> Response:
    """A person writes the Vietnamese words of an alert received in another language."""
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("title", "text")}
    errors = {}
    if not values["title"]:
        errors["title"] = "Vui lòng nhập tiêu đề."
    if not values["text"]:
        errors["text"] = "Vui lòng nhập lời đọc."
    try:
        if not errors:
            alerts.write_alert_text(uc, alert_id, values["title"], values["text"])
            return RedirectResponse(f"{BASE}/{alert_id}", status_code=303)
        status, message = 422, None
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        status, message = refusal_status(exc), _why(exc)
    ctx = _alert_context(uc.db, alert_id, errors=errors, values=values, error=message)
    if ctx is None:
        return error_page(request, 404, "Không có cảnh báo này.")
    return render(request, "alert.html", ctx, status=status)


# ---- sources (admins) -----------------------------------------------------------------------


def _sources_context(db: DbDep, **extra: Any) -> dict[str, Any]:
    publishers = alerts.list_publishers(db)
    return {
        "title": "Nguồn cảnh báo",
        "active": BASE,
        "publishers": publishers,
        "publisher_names": {p.id: p.name for p in publishers},
        "feeds": alerts.list_feeds(db),
        "geocodes": alerts.list_geocodes(db),
        "zones": zones.list_zones(db),
        "values": extra.pop("values", {}),
        **extra,
    }


async def _act(request: Request, uc: PageUseCase, action: str) -> Response:
    form = await request.form()
    values: dict[str, Any] = {
        k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"
    }
    token = None
    try:
        if action == "publisher":
            chosen = [z for z in form.getlist("zone") if isinstance(z, str)]
            values["zones"] = chosen
            _, token = alerts.create_publisher(
                uc, values.get("name", ""), chosen, _sender_list(values.get("senders"))
            )
        elif action == "feed":
            alerts.add_feed(
                uc,
                _int(values.get("publisher_id")),
                values.get("url", ""),
                _int(values.get("interval_min"), 5) * 60,
            )
        elif action == "geocode":
            alerts.set_geocode(
                uc, values.get("value_name", ""), values.get("value", ""), values.get("zone", "")
            )
        elif action == "point":
            alerts.set_zone_point(
                uc, values.get("zone", ""), _float(values.get("lat")), _float(values.get("lon"))
            )
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        ctx = _sources_context(uc.db, error=_why(exc), values=values)
        return render(request, "alert_sources.html", ctx, status=refusal_status(exc))
    if token is not None:
        # Shown once: only its digest is kept.
        ctx = _sources_context(uc.db, new_token=token, new_publisher=values.get("name", ""))
        return render(request, "alert_sources.html", ctx)
    return RedirectResponse(SOURCES, status_code=303)


def _sender_list(text: str | None) -> list[str]:
    """Senders typed in one field, separated by commas or spaces (CAP forbids both in one)."""
    return [s for s in re.split(r"[\s,]+", text or "") if s]


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text or default)
    except ValueError:
        return -1


def _float(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return 999.0  # refused by the service as out of range


@router.post(SOURCES + "/phat-hanh")
async def add_publisher(request: Request, uc: PageUseCase) -> Response:
    """A new publisher; its push token is shown once."""
    return await _act(request, uc, "publisher")


@router.post(SOURCES + "/kenh")
async def add_feed(request: Request, uc: PageUseCase) -> Response:
    """A feed URL to poll."""
    return await _act(request, uc, "feed")


@router.post(SOURCES + "/ma-vung")
async def add_geocode(request: Request, uc: PageUseCase) -> Response:
    """A geocode → zone row."""
    return await _act(request, uc, "geocode")


@router.post(SOURCES + "/toa-do")
async def set_point(request: Request, uc: PageUseCase) -> Response:
    """A zone's point for polygons and circles."""
    return await _act(request, uc, "point")


def _remove(request: Request, uc: PageUseCase, remove: Callable[[], None]) -> Response:
    try:
        remove()
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        ctx = _sources_context(uc.db, error=_why(exc))
        return render(request, "alert_sources.html", ctx, status=refusal_status(exc))
    return RedirectResponse(SOURCES, status_code=303)


@router.post(SOURCES + "/kenh/{feed_id}/xoa")
async def remove_feed(request: Request, feed_id: RowId, uc: PageUseCase) -> Response:
    """Stop polling a feed."""
    return _remove(request, uc, lambda: alerts.remove_feed(uc, feed_id))


@router.post(SOURCES + "/ma-vung/{geocode_id}/xoa")
async def remove_geocode(request: Request, geocode_id: RowId, uc: PageUseCase) -> Response:
    """Forget a geocode row."""
    return _remove(request, uc, lambda: alerts.remove_geocode(uc, geocode_id))


# ---- one publisher (admins act) -------------------------------------------------------------


def _publisher_context(db: DbDep, actor: Actor, publisher_id: int, **extra: Any) -> dict[str, Any]:
    pub = alerts.get_publisher(db, publisher_id)
    return {
        "title": f"Nguồn {pub.name}",
        "active": BASE,
        "p": pub,
        "is_admin": actor.role is Role.ADMIN,
        "refused": alerts.refused_pushes(db, pub),
        "refused_sender": alerts.refused_pushes(db, pub, "sender_not_allowed"),
        "messages": alerts.list_messages(db, limit=30, source=alerts.PUBLISHER_PREFIX + pub.name),
        **extra,
    }


@router.get(PUBLISHERS + "/{publisher_id}")
def publisher_page(request: Request, publisher_id: RowId, actor: PageActor, db: DbDep) -> Response:
    """One publisher: its zones, whether it is locked, its token's age, what it sent lately."""
    try:
        ctx = _publisher_context(db, actor, publisher_id)
    except ServiceError:
        return error_page(request, 404, "Không có nguồn này.")
    return render(request, "alert_publisher.html", ctx)


def _on_publisher(
    request: Request, uc: PageUseCase, publisher_id: int, act: Callable[[], str | None]
) -> Response:
    """Run one publisher use case; a new token is shown on the page this once."""
    try:
        token = act()
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        try:
            ctx = _publisher_context(uc.db, uc.actor, publisher_id, error=_why(exc))
        except ServiceError:
            return error_page(request, 404, "Không có nguồn này.")
        return render(request, "alert_publisher.html", ctx, status=refusal_status(exc))
    if token is not None:
        # Shown once: only its digest is kept.
        ctx = _publisher_context(uc.db, uc.actor, publisher_id, new_token=token)
        return render(request, "alert_publisher.html", ctx)
    return RedirectResponse(f"{PUBLISHERS}/{publisher_id}", status_code=303)


@router.post(PUBLISHERS + "/{publisher_id}/khoa")
async def lock_publisher(request: Request, publisher_id: RowId, uc: PageUseCase) -> Response:
    """Lock a publisher: its pushes are refused (and kept as refused)."""

    def lock() -> None:
        alerts.lock_publisher(uc, publisher_id)

    return _on_publisher(request, uc, publisher_id, lock)


@router.post(PUBLISHERS + "/{publisher_id}/mo-khoa")
async def unlock_publisher(request: Request, publisher_id: RowId, uc: PageUseCase) -> Response:
    """Unlock a publisher."""

    def unlock() -> None:
        alerts.unlock_publisher(uc, publisher_id)

    return _on_publisher(request, uc, publisher_id, unlock)


@router.post(PUBLISHERS + "/{publisher_id}/nguoi-gui")
async def set_senders(request: Request, publisher_id: RowId, uc: PageUseCase) -> Response:
    """Replace the CAP senders the publisher may use."""
    form = await request.form()
    text = form.get("senders")

    def change() -> None:
        alerts.set_publisher_senders(
            uc, publisher_id, _sender_list(text if isinstance(text, str) else None)
        )

    return _on_publisher(request, uc, publisher_id, change)


@router.post(PUBLISHERS + "/{publisher_id}/doi-khoa")
async def rotate_token(request: Request, publisher_id: RowId, uc: PageUseCase) -> Response:
    """A new push token, shown once; the old one is refused from now on."""
    return _on_publisher(
        request, uc, publisher_id, lambda: alerts.rotate_publisher_token(uc, publisher_id)[1]
    )
