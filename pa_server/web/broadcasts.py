"""Phát ngay: an approved announcement on air now; stop it; cancel an emergency in one click."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import (
    Actor,
    may_act_in_zone,
    require_admin,
    require_level,
    require_targets,
)
from pa_server.db.models import Occurrence
from pa_server.messaging.bus import BusError
from pa_server.schemas.announcements import AnnouncementCreate, RenderOptions
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.services import announcements, broadcasts, renditions, zones
from pa_server.services.errors import ServiceError
from pa_server.web.deps import DbDep, PageActor
from pa_server.web.messages import service_message
from pa_server.web.templating import render

log = logging.getLogger(__name__)
router = APIRouter()

BASE = "/phat"
EMERGENCY_PRIORITY = 100
#: Who "approves" a cancel message: it only withdraws an emergency, so it need not wait.
CANCEL_APPROVER = "hủy tin khẩn cấp"
CANCEL_TEXT = (
    "Thông báo hủy. Tin khẩn cấp “{title}” vừa phát đã được hủy bỏ. "
    "Đề nghị bà con không thực hiện theo tin này. Xin cảm ơn bà con."
)


def _now() -> datetime:
    return datetime.now(UTC)


def _zone_choices(db: DbDep, actor: Actor) -> list[tuple[str, str, int]]:
    return [
        (z.path, z.name, z.path.count("/"))
        for z in zones.list_zones(db)
        if may_act_in_zone(actor, z.path)
    ]


def _send(request: Request, db: DbDep, data: BroadcastCreate) -> Occurrence:
    """Store the broadcast, commit, then publish `play` (a broadcast on air always has its row)."""
    dispatcher = getattr(request.app.state, "dispatcher", None)
    settings = request.app.state.settings
    occ = broadcasts.create_broadcast(
        db,
        data,
        dispatcher=dispatcher,
        timezone=settings.timezone,
        now=_now(),
        lead=timedelta(seconds=settings.broadcast_lead_s),
        emergency_lead=timedelta(seconds=settings.emergency_lead_s),
    )
    db.commit()
    assert dispatcher is not None  # create_broadcast refuses without one
    try:
        broadcasts.send_play(dispatcher, occ, base_url=settings.resolved_public_url, now=_now())
    except BusError as exc:
        # Stored and committed: the retained timelines carry it at the next planner cycle.
        log.warning("broadcast %s: play not sent (%s); timelines will carry it", occ.id, exc)
    return occ


@router.get("/thong-bao/{announcement_id}/phat-ngay")
def form_page(request: Request, announcement_id: str, actor: PageActor, db: DbDep) -> Response:
    """The "broadcast now" form of an approved announcement."""
    ann = announcements.get_announcement(db, announcement_id)
    return render(request, "broadcast_form.html", _form_ctx(db, actor, ann, {"level": ann.level}))


def _form_ctx(db: DbDep, actor: Actor, ann: Any, values: dict[str, Any], **extra: Any) -> Any:
    return {
        "title": "Phát ngay",
        "active": "/thong-bao",
        "ann": ann,
        "values": values,
        "errors": extra.pop("errors", {}),
        "zone_choices": _zone_choices(db, actor),
        **extra,
    }


@router.post("/thong-bao/{announcement_id}/phat-ngay")
async def broadcast_now(
    request: Request, announcement_id: str, actor: PageActor, db: DbDep
) -> Response:
    """Put an approved announcement on air now on the chosen zones."""
    ann = announcements.get_announcement(db, announcement_id)
    form = await request.form()
    chosen = [v for v in form.getlist("zone") if isinstance(v, str)]
    level = str(form.get("level", ann.level))
    values = {"level": level, "zones": set(chosen), "confirm": form.get("confirm") == "1"}
    errors: dict[str, str] = {}
    if not chosen:
        errors["zones"] = "Vui lòng chọn ít nhất một khu vực phát."
    try:
        require_targets(actor, [f"zone:{z}" for z in chosen])
    except Forbidden as exc:
        errors["zones"] = exc.message_vi
    try:
        require_level(actor, level, confirmed=bool(values["confirm"]))
    except Forbidden as exc:
        errors["level"] = exc.message_vi
    if errors:
        ctx = _form_ctx(db, actor, ann, values, errors=errors)
        return render(request, "broadcast_form.html", ctx, status=422)
    try:
        occ = _send(
            request,
            db,
            BroadcastCreate(
                announcement_id=ann.id,
                zones=chosen,
                level=level,
            ),
        )
    except ServiceError as exc:
        ctx = _form_ctx(db, actor, ann, values, error=service_message(exc))
        return render(request, "broadcast_form.html", ctx, status=422)
    return RedirectResponse(f"{BASE}/{occ.id}", status_code=303)


@router.get(BASE + "/{occurrence_id}")
def broadcast_page(
    request: Request, occurrence_id: str, actor: PageActor, db: DbDep, tb: str = ""
) -> Response:
    """One broadcast: per-device delivery, stop, and the cancel message of an emergency."""
    try:
        detail = broadcasts.broadcast_detail(db, occurrence_id)
    except ServiceError as exc:
        raise Forbidden("not_found", "Không tìm thấy buổi phát.") from exc
    flash = {"stopped": "Đã dừng phát.", "cancelled": "Đã dừng và phát thông báo hủy."}.get(tb)
    ann = announcements.get_announcement(db, detail.announcement_id)
    # A cancel message is itself emergency-level (heard over everything) but has no cancel.
    is_cancel = ann.approver == CANCEL_APPROVER
    return render(
        request,
        "broadcast.html",
        {
            "title": detail.title,
            "active": "/",
            "b": detail,
            "emergency": detail.priority >= EMERGENCY_PRIORITY,
            "cancellable": detail.priority >= EMERGENCY_PRIORITY and not is_cancel,
            "flash": flash,
            "tz": request.app.state.settings.timezone,
        },
    )


def _stop(request: Request, db: DbDep, actor: Actor, occurrence_id: str) -> Occurrence:
    occ = broadcasts.get_occurrence(db, occurrence_id)
    require_targets(actor, occ.targets)
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is None:
        raise Forbidden("bus_unavailable", "Chưa gửi được: kết nối MQTT chưa chạy.")
    occ = broadcasts.stop_broadcast(db, occurrence_id, now=_now())
    db.commit()
    broadcasts.send_stop(dispatcher, occ, now=_now())
    return occ


@router.post(BASE + "/{occurrence_id}/dung")
def stop(request: Request, occurrence_id: str, actor: PageActor, db: DbDep) -> Response:
    """Stop the broadcast wherever it plays."""
    _stop(request, db, actor, occurrence_id)
    return RedirectResponse(f"{BASE}/{occurrence_id}?tb=stopped", status_code=303)


@router.post(BASE + "/{occurrence_id}/huy")
def cancel_emergency(request: Request, occurrence_id: str, actor: PageActor, db: DbDep) -> Response:
    """One click: stop the emergency and broadcast "Thông báo hủy" on the same targets."""
    require_admin(actor)
    occ = _stop(request, db, actor, occurrence_id)
    if occ.priority < EMERGENCY_PRIORITY:
        raise Forbidden("not_emergency", "Chỉ tin khẩn cấp mới có thông báo hủy.")
    text = CANCEL_TEXT.format(title=occ.title)
    ann = announcements.create_announcement(
        db,
        AnnouncementCreate(title=f"Thông báo hủy: {occ.title}"[:300], text=text, level="emergency"),
        author=actor.name,
        now=_now(),
    )
    settings = request.app.state.settings
    renditions.render_announcement(
        db,
        ann,
        RenderOptions(),
        renderer=getattr(request.app.state, "renderer", None),
        default_engine=settings.tts_engine,
        recordings_dir=settings.data_dir / "recordings",
        now=_now(),
    )
    announcements.approve_announcement(db, ann.id, approver=CANCEL_APPROVER, now=_now())
    zones_ = [t.partition(":")[2] for t in occ.targets if t.startswith("zone:")]
    devices_ = [t.partition(":")[2] for t in occ.targets if t.startswith("device:")]
    cancel = _send(
        request,
        db,
        BroadcastCreate(announcement_id=ann.id, zones=zones_, devices=devices_, level="emergency"),
    )
    return RedirectResponse(f"{BASE}/{cancel.id}?tb=cancelled", status_code=303)
