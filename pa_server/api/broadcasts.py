"""/api/v1/broadcasts: occurrences with delivery; immediate broadcasts and stop."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse

from pa_server.api.deps import ConfirmEmergency, Limit, Offset, SessionDep, SettingsDep, UseCaseDep
from pa_server.schemas.broadcasts import (
    BroadcastCreate,
    BroadcastDetail,
    BroadcastPublic,
    EmergencyCreate,
)
from pa_server.schemas.common import DEFAULT_LIMIT, Page
from pa_server.services import broadcasts, reports
from pa_server.services.validation import check_timezone, in_zone

router = APIRouter(prefix="/broadcasts", tags=["broadcasts"])


@router.get("", response_model=Page[BroadcastPublic])
def list_broadcasts(
    session: SessionDep,
    settings: SettingsDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[BroadcastPublic]:
    """Occurrences playing in `[from, to)` (naive = server time zone) with delivery counts."""
    tz = check_timezone(settings.timezone)
    items, total = broadcasts.list_broadcasts(
        session,
        start=in_zone(start, tz) if start else None,
        end=in_zone(end, tz) if end else None,
        limit=limit,
        offset=offset,
    )
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/{occurrence_id}", response_model=BroadcastDetail)
def get_broadcast(occurrence_id: str, session: SessionDep) -> BroadcastDetail:
    """One occurrence with every device's delivery: fetched, started, finished, failed, missed."""
    return broadcasts.broadcast_detail(session, occurrence_id)


@router.get(
    "/{occurrence_id}/recording",
    response_class=FileResponse,
    responses={200: {"content": {"audio/mpeg": {}}}},
)
def get_recording(occurrence_id: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """A live broadcast's recording (MP3), the proof of what was said; 404 when it kept none."""
    path = reports.recording_file(session, settings.media_dir, occurrence_id)
    return FileResponse(path, media_type="audio/mpeg", filename=f"ghi-am-{occurrence_id}.mp3")


@router.post("", response_model=BroadcastDetail, status_code=status.HTTP_201_CREATED)
def create_broadcast(
    data: BroadcastCreate, uc: UseCaseDep, confirm_emergency: ConfirmEmergency = False
) -> BroadcastDetail:
    """Play an announcement on zones and/or devices, all together, in a few seconds."""
    occ = broadcasts.put_on_air(uc, data, confirmed=confirm_emergency)
    return broadcasts.broadcast_detail(uc.db, occ.id)


@router.post("/emergency", response_model=BroadcastDetail, status_code=status.HTTP_201_CREATED)
def sound_emergency(
    data: EmergencyCreate, uc: UseCaseDep, confirm_emergency: ConfirmEmergency = False
) -> BroadcastDetail:
    """Write, render and broadcast an emergency at once (admins; no second approver)."""
    occ = broadcasts.sound_emergency(
        uc,
        title=data.title,
        text=data.text,
        zones=data.zones,
        devices=data.devices,
        confirmed=confirm_emergency,
    )
    return broadcasts.broadcast_detail(uc.db, occ.id)


@router.post("/{occurrence_id}/stop", response_model=BroadcastDetail)
def stop_broadcast(occurrence_id: str, uc: UseCaseDep) -> BroadcastDetail:
    """Stop a broadcast wherever it plays, and take it off the timelines."""
    occ = broadcasts.stop_broadcast(uc, occurrence_id)
    return broadcasts.broadcast_detail(uc.db, occ.id)


@router.post("/{occurrence_id}/cancel", response_model=BroadcastDetail)
def cancel_emergency(occurrence_id: str, uc: UseCaseDep) -> BroadcastDetail:
    """Stop an emergency; the loudspeakers that started it hear that it is void (admins).

    Answers the cancel notice's broadcast, or the stopped emergency when none had started.
    """
    notice = broadcasts.cancel_emergency(uc, occurrence_id)
    return broadcasts.broadcast_detail(uc.db, notice.id if notice else occurrence_id)
