"""Phát khẩn cấp: an admin writes an emergency and it is on air in seconds, after one confirmation.

Presentation only: `pa_server.services.broadcasts.sound_emergency` holds the rights (admin,
explicit confirmation), the render, the broadcast and the audit entries.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pa_server.api.deps import NowDep
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor
from pa_server.services import broadcasts, programme, rights, zones
from pa_server.services.errors import ServiceError
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.messages import refusal_message, refusal_status
from pa_server.web.templating import render

router = APIRouter()

BASE = "/khan-cap"
MAX_TITLE = 300
MAX_TEXT = 2000


#: How far back the emergency page lists emergencies with their live counts.
RECENT = timedelta(hours=24)


def _context(
    db: DbDep, actor: Actor, now: datetime, values: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    recent = [
        (occ, programme.loudspeaker_counts(db, occ.id, now=now))
        for occ in programme.recent_emergencies(db, now=now, within=RECENT)
    ]
    return {
        "recent": recent,
        "title": "Phát tin khẩn cấp",
        "active": BASE,
        "values": values,
        "errors": extra.pop("errors", {}),
        "zone_choices": [
            (z.path, z.name, z.path.count("/"))
            for z in zones.list_zones(db)
            if rights.reachable_zone(actor, z.path)
        ],
        "loudspeakers": programme.zone_loudspeakers(db),
        "max_text": MAX_TEXT,
        **extra,
    }


@router.get(BASE)
def form_page(request: Request, actor: PageActor, db: DbDep, now: NowDep) -> Response:
    """The emergency form (title, what to say, where; one confirmation) and recent emergencies."""
    return render(
        request,
        "emergency_form.html",
        _context(db, actor, now, {}, tz=request.app.state.settings.timezone),
    )


@router.post(BASE)
async def sound(request: Request, uc: PageUseCase) -> Response:
    """Write, render and broadcast the emergency now."""
    form = await request.form()
    values: dict[str, Any] = {
        k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"
    }
    chosen = [v for v in form.getlist("zone") if isinstance(v, str)]
    values["zones"] = set(chosen)
    errors: dict[str, str] = {}
    if not values.get("title"):
        errors["title"] = "Vui lòng nhập tiêu đề."
    elif len(values["title"]) > MAX_TITLE:
        errors["title"] = f"Tiêu đề dài tối đa {MAX_TITLE} ký tự."
    if not values.get("text"):
        errors["text"] = "Vui lòng nhập nội dung cần phát."
    elif len(values["text"]) > MAX_TEXT:
        errors["text"] = f"Nội dung tin khẩn cấp dài tối đa {MAX_TEXT} ký tự."
    if not chosen:
        errors["zones"] = "Vui lòng chọn ít nhất một khu vực phát."
    if errors:
        ctx = _context(uc.db, uc.actor, uc.now, values, errors=errors, tz=uc.settings.timezone)
        return render(request, "emergency_form.html", ctx, status=422)
    try:
        occ = broadcasts.sound_emergency(
            uc,
            title=values["title"],
            text=values["text"],
            zones=chosen,
            confirmed=values.get("confirm") == "1",
        )
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        ctx = _context(
            uc.db, uc.actor, uc.now, values, error=refusal_message(exc), tz=uc.settings.timezone
        )
        return render(request, "emergency_form.html", ctx, status=refusal_status(exc))
    return RedirectResponse(f"/phat/{occ.id}", status_code=303)
