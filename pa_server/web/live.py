"""Phát trực tiếp: start a relay or a microphone session, follow it, stop it, hear its recording.

Presentation only: `pa_server.services.live` holds the rights (targets, level, quiet hours),
the session's row, the engine and the audit entries. When live audio is off (Snapcast not
installed) the page says why, in Vietnamese, with the command that installs it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from pa_server.api.deps import LiveDep
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor
from pa_server.db.models import LiveSessionRow
from pa_server.live.errors import INSTALL_COMMAND
from pa_server.schemas.common import whole_number
from pa_server.schemas.live import MAX_MINUTES, LiveCreate
from pa_server.services import live, rights, zones
from pa_server.services.errors import ServiceError
from pa_server.web import labels
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.messages import refusal_field, refusal_message, refusal_status
from pa_server.web.templating import render

router = APIRouter()

BASE = "/truc-tiep"
LIST_SIZE = 50


def _tz(request: Request) -> str:
    tz: str = request.app.state.settings.timezone
    return tz


def mic_page(
    request: Request, row: LiveSessionRow, token: str, *, reached: list[str] | None = None
) -> HTMLResponse:
    """The page that streams this browser's microphone into session `row` (its token)."""
    return render(
        request,
        "live_mic.html",
        {
            "title": row.title or "Phát trực tiếp",
            "active": BASE,
            "session": row,
            "session_id": row.id,
            "token": token,
            "targets": row.targets,
            "reached": reached or [],
        },
    )


def _context(
    db: DbDep, actor: Actor, hub: live.LiveHub, values: dict[str, Any], tz: str, **extra: Any
) -> dict[str, Any]:
    rows, total = live.list_sessions(db, limit=LIST_SIZE)
    return {
        "title": "Phát trực tiếp",
        "active": BASE,
        "values": values,
        "errors": extra.pop("errors", {}),
        "available": hub.available,
        "reason": hub.reason_vi,
        "install_command": INSTALL_COMMAND,
        "zone_choices": [
            (z.path, z.name, z.path.count("/"))
            for z in zones.list_zones(db)
            if rights.reachable_zone(actor, z.path)
        ],
        "level_options": labels.options("level"),
        "max_minutes": MAX_MINUTES,
        "sessions": rows,
        "total": total,
        "tz": tz,
        **extra,
    }


@router.get(BASE)
def live_page(
    request: Request,
    actor: PageActor,
    db: DbDep,
    hub: LiveDep,
    chuong_trinh: Annotated[str, Query(alias="chuong-trinh", max_length=64)] = "",
) -> Response:
    """Start a relay or a microphone session; every session with its outcome and recording.

    `?chuong-trinh=<id>` fills the form from an approved relay ("Tiếp sóng ngay").
    """
    values: dict[str, Any] = {"source": "mic", "minutes": "30", "level": "normal"}
    program = live.relay_program(db, chuong_trinh) if chuong_trinh else None
    if program is not None:
        values |= {
            "source": "relay",
            "title": program.title,
            "url": program.source_url or "",
            "minutes": str((program.relay_duration_s or 1800) // 60),
            "level": program.level,
        }
    return render(request, "live.html", _context(db, actor, hub, values, _tz(request)))


@router.post(BASE + "/chuong-trinh")
async def new_program(request: Request, uc: PageUseCase, hub: LiveDep) -> Response:
    """A relay to schedule ("Tiếp sóng VOV1, 30 phút"): a draft announcement to approve."""
    form = await request.form()
    values: dict[str, Any] = {
        f"p_{k}": v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"
    }
    errors: dict[str, str] = {}
    minutes = values.get("p_minutes", "")
    if not values.get("p_title"):
        errors["p_title"] = "Vui lòng nhập tiêu đề."
    elif len(values["p_title"]) > 300:  # what the API's schema allows; never cut silently
        errors["p_title"] = "Tiêu đề dài quá 300 ký tự, hãy viết ngắn lại."
    if not values.get("p_url"):
        errors["p_url"] = "Vui lòng nhập địa chỉ nghe trực tiếp của đài."
    elif len(values["p_url"]) > 1000:
        errors["p_url"] = "Địa chỉ dài quá 1000 ký tự."
    if not 1 <= (whole_number(minutes) or 0) <= MAX_MINUTES:
        errors["p_minutes"] = f"Thời lượng là số phút từ 1 đến {MAX_MINUTES}."
    if not errors:
        try:
            ann = live.create_relay(
                uc,
                title=values["p_title"],
                url=values["p_url"],
                minutes=int(minutes),
                level=values.get("p_level") or "normal",
            )
        except (Forbidden, ServiceError) as exc:
            uc.db.rollback()
            if exc.code in ("bad_source_url", "relay_host_refused"):
                errors["p_url"] = refusal_message(exc)
            else:
                errors["p_title"] = refusal_message(exc)
        else:
            return RedirectResponse(f"/thong-bao/{ann.id}", status_code=303)
    values |= {"source": "mic", "minutes": "30", "level": "normal"}
    ctx = _context(uc.db, uc.actor, hub, values, uc.settings.timezone, errors=errors)
    return render(request, "live.html", ctx, status=422)


@router.post(BASE)
async def start(request: Request, uc: PageUseCase, hub: LiveDep) -> Response:
    """Start the session the form describes: the microphone page, or the relay's own page."""
    form = await request.form()
    values: dict[str, Any] = {
        k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"
    }
    chosen = [v for v in form.getlist("zone") if isinstance(v, str)]
    values["zones"] = set(chosen)
    relay = values.get("source") == "relay"
    errors: dict[str, str] = {}
    if not values.get("title"):
        errors["title"] = "Vui lòng nhập tiêu đề."
    if relay and not values.get("url"):
        errors["url"] = "Vui lòng nhập địa chỉ nghe trực tiếp của đài."
    minutes = values.get("minutes", "")
    if not 1 <= (whole_number(minutes) or 0) <= MAX_MINUTES:
        errors["minutes"] = f"Thời lượng là số phút từ 1 đến {MAX_MINUTES}."
    if not chosen:
        errors["zones"] = "Vui lòng chọn ít nhất một khu vực phát."
    data: LiveCreate | None = None
    if not errors:
        try:
            data = LiveCreate(
                title=values["title"],
                zones=chosen,
                level=values.get("level") or "normal",
                minutes=int(minutes),
                url=values.get("url") if relay else None,
            )
        except ValidationError:
            errors["title"] = "Thông tin nhập chưa hợp lệ, vui lòng kiểm tra lại."
    if errors or data is None:
        ctx = _context(uc.db, uc.actor, hub, values, uc.settings.timezone, errors=errors)
        return render(request, "live.html", ctx, status=422)
    confirmed = values.get("confirm") == "1"
    try:
        if relay:
            row = live.start_relay(uc, hub, data, confirmed=confirmed)
            return RedirectResponse(f"{BASE}/{row.id}", status_code=303)
        row, _token = live.start_mic(uc, hub, data, confirmed=confirmed)
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        field = refusal_field(exc)
        if exc.code in ("bad_source_url", "source_url_required", "relay_host_refused"):
            field = "url"
        message = refusal_message(exc)
        ctx = _context(
            uc.db,
            uc.actor,
            hub,
            values,
            uc.settings.timezone,
            errors={field: message} if field else {},
            error=None if field else message,
        )
        return render(request, "live.html", ctx, status=refusal_status(exc))
    # The microphone page issues its own token: a reload never posts the form again.
    return RedirectResponse(f"{BASE}/{row.id}/micro", status_code=303)


@router.get(BASE + "/{session_id}")
def session_page(
    request: Request, session_id: str, actor: PageActor, db: DbDep, hub: LiveDep, tb: str = ""
) -> Response:
    """One session: who is on air, where, the loudspeakers reached, its outcome and recording."""
    row = live.get_session(db, session_id)
    running = row.ended_at is None
    return render(
        request,
        "live_session.html",
        {
            "title": row.title,
            "active": BASE,
            "s": row,
            "running": running,
            "reached": hub.reached(row.device_ids) if running else [],
            "may_speak": running
            and row.kind == "mic"
            and (row.started_by == actor.username or actor.role.value == "admin"),
            "flash": {"stopped": "Đã dừng phát trực tiếp."}.get(tb),
            "tz": _tz(request),
        },
    )


@router.get(BASE + "/{session_id}/micro")
def speak_page(session_id: str, request: Request, uc: PageUseCase, hub: LiveDep) -> Response:
    """The microphone page again (a reload, or another device of the same person)."""
    row, token = live.mic_token(uc, hub, session_id)
    return mic_page(request, row, token, reached=hub.reached(row.device_ids))


@router.post(BASE + "/{session_id}/dung")
def stop(session_id: str, uc: PageUseCase, hub: LiveDep) -> Response:
    """End the session now, wherever it plays."""
    live.stop_session(uc, hub, session_id)
    return RedirectResponse(f"{BASE}/{session_id}?tb=stopped", status_code=303)
