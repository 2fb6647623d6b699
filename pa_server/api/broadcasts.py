"""/api/v1/broadcasts: occurrences with delivery; immediate broadcasts and stop."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from pa_server.api.deps import (
    CurrentUser,
    DispatcherDep,
    Limit,
    NowDep,
    Offset,
    SessionDep,
    SettingsDep,
)
from pa_server.api.rights import ConfirmEmergency, check_occurrence, check_targets
from pa_server.messaging.bus import BusError
from pa_server.schemas.broadcasts import BroadcastCreate, BroadcastDetail, BroadcastPublic
from pa_server.schemas.common import DEFAULT_LIMIT, Page
from pa_server.services import broadcasts
from pa_server.services.timelines import require_dispatcher
from pa_server.services.validation import check_timezone, in_zone

log = logging.getLogger(__name__)

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


@router.post("", response_model=BroadcastDetail, status_code=status.HTTP_201_CREATED)
def create_broadcast(
    data: BroadcastCreate,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    now: NowDep,
    user: CurrentUser,
    confirm_emergency: ConfirmEmergency = False,
) -> BroadcastDetail:
    """Play an approved announcement on zones and/or devices, all together, in a few seconds."""
    check_targets(
        session,
        user,
        data.zones,
        data.devices,
        level=data.level,
        announcement_id=data.announcement_id,
        confirmed=confirm_emergency,
    )
    occ = broadcasts.create_broadcast(
        session,
        data,
        dispatcher=dispatcher,
        timezone=settings.timezone,
        now=now,
        lead=timedelta(seconds=settings.broadcast_lead_s),
        emergency_lead=timedelta(seconds=settings.emergency_lead_s),
    )
    # Stored first, sent second: a broadcast on air always has its record.
    session.commit()
    assert dispatcher is not None
    try:
        broadcasts.send_play(dispatcher, occ, base_url=settings.resolved_public_url, now=now)
    except BusError as exc:
        # Stored and committed: the retained timelines carry it at the next planner cycle, so
        # the broadcast still happens; only the fast path failed.
        log.warning(
            "broadcast %s: play command not sent (%s); timelines will carry it", occ.id, exc
        )
    return broadcasts.broadcast_detail(session, occ.id)


@router.post("/{occurrence_id}/stop", response_model=BroadcastDetail)
def stop_broadcast(
    occurrence_id: str,
    session: SessionDep,
    dispatcher: DispatcherDep,
    now: NowDep,
    user: CurrentUser,
) -> BroadcastDetail:
    """Stop a broadcast wherever it plays, and take it off the timelines."""
    check_occurrence(session, user, occurrence_id)
    sender = require_dispatcher(dispatcher)
    occ = broadcasts.stop_broadcast(session, occurrence_id, now=now)
    session.commit()
    # A stop that the broker does not take becomes a 503 (`broker_unavailable`): what plays now
    # keeps playing, so the operator must know and retry (stopping twice is harmless).
    broadcasts.send_stop(sender, occ, now=now)
    return broadcasts.broadcast_detail(session, occ.id)
