"""Phát ngay: an approved announcement on air now; stop it; cancel an emergency in one click.

Presentation only: each action is one service call (`pa_server.services.broadcasts`), which
holds the rights, the audit entry and the order of commit and publish.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from devices.protocol import EMERGENCY_PRIORITY
from pa_server.api.deps import NowDep
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role
from pa_server.db.models import Announcement
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.services import (
    announcements,
    broadcasts,
    live,
    programme,
    reports,
    rights,
    search,
    zones,
)
from pa_server.services.errors import ServiceError
from pa_server.web import labels
from pa_server.web.deps import DbDep, PageActor, PageUseCase
from pa_server.web.messages import refusal_field, refusal_message, refusal_status
from pa_server.web.paging import PER_PAGE, page_number, paginate
from pa_server.web.templating import render

router = APIRouter()

BASE = "/phat"


def _zone_choices(db: DbDep, actor: Actor) -> list[tuple[str, str, int]]:
    return [
        (z.path, z.name, z.path.count("/"))
        for z in zones.list_zones(db)
        if rights.reachable_zone(actor, z.path)
    ]


def _form_ctx(
    db: DbDep, actor: Actor, ann: Announcement, values: dict[str, Any], **extra: Any
) -> Any:
    return {
        "title": "Phát ngay",
        "active": "/thong-bao",
        "ann": ann,
        "values": values,
        "errors": extra.pop("errors", {}),
        "zone_choices": _zone_choices(db, actor),
        **extra,
    }


@router.get("/thong-bao/{announcement_id}/phat-ngay")
def form_page(request: Request, announcement_id: str, actor: PageActor, db: DbDep) -> Response:
    """The "broadcast now" form of an approved announcement."""
    ann = announcements.get_announcement(db, announcement_id)
    return render(request, "broadcast_form.html", _form_ctx(db, actor, ann, {"level": ann.level}))


@router.post("/thong-bao/{announcement_id}/phat-ngay")
async def broadcast_now(request: Request, announcement_id: str, uc: PageUseCase) -> Response:
    """Put an announcement on air now on the chosen zones."""
    ann = announcements.get_announcement(uc.db, announcement_id)
    form = await request.form()
    chosen = [v for v in form.getlist("zone") if isinstance(v, str)]
    level = str(form.get("level", ann.level))
    confirmed = form.get("confirm") == "1"
    values = {"level": level, "zones": set(chosen), "confirm": confirmed}
    if not chosen:
        errors = {"zones": "Vui lòng chọn ít nhất một khu vực phát."}
        ctx = _form_ctx(uc.db, uc.actor, ann, values, errors=errors)
        return render(request, "broadcast_form.html", ctx, status=422)
    try:
        occ = broadcasts.put_on_air(
            uc,
            BroadcastCreate(announcement_id=ann.id, zones=chosen, level=level),
            confirmed=confirmed,
        )
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        field, message = refusal_field(exc), refusal_message(exc)
        said = {"errors": {field: message}} if field else {"error": message}
        ctx = _form_ctx(uc.db, uc.actor, ann, values, **said)
        return render(request, "broadcast_form.html", ctx, status=refusal_status(exc))
    return RedirectResponse(f"{BASE}/{occ.id}", status_code=303)


@router.get(BASE)
def list_page(
    request: Request, actor: PageActor, db: DbDep, now: NowDep, q: str = "", trang: str = ""
) -> Response:
    """Buổi phát: every broadcast, newest first, searchable, with the total."""
    term = search.term(q)
    page = page_number(trang)
    rows, total = broadcasts.list_broadcasts(
        db, start=None, end=None, limit=PER_PAGE, offset=(page - 1) * PER_PAGE, search=term
    )
    tallies = programme.delivery_tallies(db, [b.id for b in rows])
    failed = programme.failed_live(db, rows)
    # Said as on the broadcast's own page (its live counts), not as the stored status.
    states = {
        b.id: programme.broadcast_state(
            status=b.status,
            play_at=b.play_at,
            duration_ms=b.duration_ms,
            max_late_s=b.max_late_s,
            tally=tallies[b.id],
            now=now,
            source_failed=b.id in failed,
        )
        for b in rows
    }
    return render(
        request,
        "broadcasts.html",
        {
            "title": "Buổi phát",
            "active": "/chuong-trinh",
            "rows": rows,
            "tallies": tallies,
            "states": states,
            "q": term or "",
            "paging": paginate(page, total, query={"q": term or ""}),
            "tz": request.app.state.settings.timezone,
        },
    )


def _counts_json(counts: programme.LoudspeakerCounts) -> dict[str, Any]:
    t = counts.tally
    return {
        "targeted": counts.targeted,
        "online": counts.online,
        "offline": counts.offline,
        "never": counts.never,
        "reached": counts.reached,
        "finished": t.finished,
        "playing": t.playing,
        "failed": t.failed + t.missed,
        "state": counts.state,
        "state_text": labels.label("broadcast_state", counts.state),
        "sentence": labels.tally_sentence(t),
    }


@router.get(BASE + "/{occurrence_id}/so-loa")
def live_counts(occurrence_id: str, actor: PageActor, db: DbDep, now: NowDep) -> Response:
    """The broadcast's loudspeaker counts as JSON, for the page's live update (polled)."""
    counts = programme.loudspeaker_counts(db, occurrence_id, now=now)
    return JSONResponse(_counts_json(counts), headers={"Cache-Control": "no-store"})


@router.get(BASE + "/{occurrence_id}/bang-chung")
def proof_page(
    request: Request, occurrence_id: str, actor: PageActor, db: DbDep, format: str = ""
) -> Response:
    """Proof of broadcast: planned against played, per loudspeaker; `?format=csv` to download."""
    tz = request.app.state.settings.timezone
    proof = reports.broadcast_proof(db, occurrence_id)
    if format == "csv":
        body = reports.proof_csv(
            proof,
            tz=tz,
            state_labels=dict(labels.options("receipt")),
            notes=labels.device_error,
        )
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="bang-chung-phat.csv"'},
        )
    played = sum(1 for r in proof.rows if r.state == "finished")
    lates = [r.late_ms for r in proof.rows if r.late_ms is not None]
    return render(
        request,
        "proof.html",
        {
            "title": f"Bằng chứng phát: {proof.title}",
            "active": "/chuong-trinh",
            "proof": proof,
            "played": played,
            "max_late_ms": max(lates) if lates else None,
            "tz": tz,
        },
    )


@router.get(BASE + "/{occurrence_id}/ghi-am")
def recording(request: Request, occurrence_id: str, actor: PageActor, db: DbDep) -> Response:
    """A live broadcast's recording, downloaded by a signed-in person (the report's link)."""
    path = reports.recording_file(db, request.app.state.settings.media_dir, occurrence_id)
    return FileResponse(path, media_type="audio/mpeg", filename=f"ghi-am-{occurrence_id}.mp3")


@router.get(BASE + "/{occurrence_id}")
def broadcast_page(
    request: Request, occurrence_id: str, actor: PageActor, db: DbDep, now: NowDep, tb: str = ""
) -> Response:
    """One broadcast: per-device delivery, stop, and the cancel message of an emergency."""
    detail = broadcasts.broadcast_detail(db, occurrence_id)
    counts = programme.loudspeaker_counts(db, occurrence_id, now=now)
    flash = {
        "stopped": "Đã dừng phát.",
        "cancelled": "Đã dừng và phát thông báo hủy tới các loa đã phát tin khẩn cấp.",
        "stopped-none": "Đã dừng tin khẩn cấp. Chưa loa nào phát nên không cần thông báo hủy.",
    }.get(tb)
    # A live session (microphone, relay by hand) has no announcement, and no cancel notice.
    ann = (
        announcements.get_announcement(db, detail.announcement_id)
        if detail.announcement_id
        else None
    )
    emergency = detail.priority >= EMERGENCY_PRIORITY
    live_id = live.session_of(db, detail.id)
    return render(
        request,
        "broadcast.html",
        {
            "title": detail.title,
            "active": "/chuong-trinh",
            "b": detail,
            "emergency": emergency,
            "cancellable": emergency
            and ann is not None
            and not broadcasts.is_cancel_notice(ann)
            and actor.role is Role.ADMIN,
            "flash": flash,
            "live_id": live_id,
            "counts": counts,
            "tz": request.app.state.settings.timezone,
        },
    )


@router.post(BASE + "/{occurrence_id}/dung")
def stop(occurrence_id: str, uc: PageUseCase) -> Response:
    """Stop the broadcast wherever it plays."""
    broadcasts.stop_broadcast(uc, occurrence_id)
    return RedirectResponse(f"{BASE}/{occurrence_id}?tb=stopped", status_code=303)


@router.post(BASE + "/{occurrence_id}/huy")
def cancel_emergency(occurrence_id: str, uc: PageUseCase) -> Response:
    """One click: stop the emergency and tell the loudspeakers that played it it is void."""
    notice = broadcasts.cancel_emergency(uc, occurrence_id)
    if notice is None:
        return RedirectResponse(f"{BASE}/{occurrence_id}?tb=stopped-none", status_code=303)
    return RedirectResponse(f"{BASE}/{notice.id}?tb=cancelled", status_code=303)
