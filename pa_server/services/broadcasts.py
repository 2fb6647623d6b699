"""Broadcasts: occurrences seen with their per-device delivery; immediate play and stop."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.protocol import StopBody
from pa_server.db.models import Occurrence, Receipt
from pa_server.planning import LEVEL_PRIORITY
from pa_server.planning.zones import Resolved, ZoneIndex
from pa_server.schemas.broadcasts import (
    BroadcastCreate,
    BroadcastDetail,
    BroadcastPublic,
    DeliveryCounts,
    DeviceDelivery,
)
from pa_server.schemas.schedules import OccurrencePublic
from pa_server.services.announcements import require_approved
from pa_server.services.audience import Audience, device_zones
from pa_server.services.devices import require_device
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound
from pa_server.services.timelines import (
    DispatcherLike,
    occurrence_item,
    require_dispatcher,
    tree_specs,
)
from pa_server.services.validation import check_timezone, check_volume, in_zone
from pa_server.services.zones import require_zone

DELIVERY_TYPES = ("fetched", "started", "finished", "failed", "skipped", "missed")


def get_occurrence(session: Session, occurrence_id: str) -> Occurrence:
    """The occurrence, or `NotFound`."""
    occ = session.get(Occurrence, occurrence_id)
    if occ is None:
        raise NotFound("broadcast_not_found", f"no broadcast {occurrence_id!r}")
    return occ


def _receipts(session: Session, ids: list[str]) -> dict[str, dict[str, dict[str, Receipt]]]:
    """occurrence id → device id → type → receipt."""
    out: dict[str, dict[str, dict[str, Receipt]]] = defaultdict(lambda: defaultdict(dict))
    if ids:
        for r in session.scalars(select(Receipt).where(Receipt.occurrence_id.in_(ids))):
            out[r.occurrence_id][r.device_id][r.type] = r
    return out


def list_broadcasts(
    session: Session,
    *,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[BroadcastPublic], int]:
    """One page of occurrences (newest play time first) with delivery counts; and the total."""
    query = select(Occurrence).where(Occurrence.status != "cancelled")
    if start is not None:
        query = query.where(Occurrence.play_at >= start)
    if end is not None:
        query = query.where(Occurrence.play_at < end)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(
        session.scalars(
            query.order_by(Occurrence.play_at.desc(), Occurrence.id).limit(limit).offset(offset)
        )
    )
    audience = Audience(device_zones(session))
    receipts = _receipts(session, [o.id for o in rows])
    out = []
    for occ in rows:
        expected = audience.of(occ)
        out.append(_public(occ, _counts(expected, receipts.get(occ.id, {}))))
    return out, total


def _counts(expected: dict[str, str], got: dict[str, dict[str, Receipt]]) -> DeliveryCounts:
    return DeliveryCounts(
        expected=len(expected),
        **{t: sum(1 for by_type in got.values() if t in by_type) for t in DELIVERY_TYPES},
    )


def _public(occ: Occurrence, counts: DeliveryCounts) -> BroadcastPublic:
    return BroadcastPublic(**OccurrencePublic.model_validate(occ).model_dump(), delivery=counts)


def broadcast_detail(session: Session, occurrence_id: str) -> BroadcastDetail:
    """One occurrence with each expected (or reporting) device's receipts."""
    occ = get_occurrence(session, occurrence_id)
    audience = Audience(device_zones(session))
    expected = audience.of(occ)
    got = _receipts(session, [occ.id]).get(occ.id, {})
    zone_of = audience.zone_of
    rows = []
    for device_id in sorted(set(expected) | set(got)):
        by_type = got.get(device_id, {})
        late = next((r.late_ms for r in by_type.values() if r.late_ms is not None), None)
        detail = next((r.detail for r in by_type.values() if r.detail), None)
        rows.append(
            DeviceDelivery(
                device_id=device_id,
                zone=expected.get(device_id) or zone_of.get(device_id, ""),
                late_ms=late,
                detail=detail,
                **{t: r.at for t, r in by_type.items()},
            )
        )
    return BroadcastDetail(**_public(occ, _counts(expected, got)).model_dump(), devices=rows)


def create_broadcast(
    session: Session,
    data: BroadcastCreate,
    *,
    dispatcher: DispatcherLike | None,
    timezone: str,
    now: datetime,
    lead: timedelta,
    emergency_lead: timedelta,
) -> Occurrence:
    """Store a one-off broadcast of an approved announcement (send it with `send_play`).

    Without `play_at` it starts at `now + lead` (`emergency_lead` for emergencies): one common
    instant for every loudspeaker, with time to fetch the media. It goes on the targets'
    retained timelines (the replan this marks publishes them), so an agent that connects
    late still gets it within `max_late_s`. A naive `play_at` is wall time in `timezone`.
    """
    require_dispatcher(dispatcher)
    ann = require_approved(session, data.announcement_id)
    if ann.rendition is None:
        raise Invalid("not_rendered", "the announcement has no audio")
    if not data.zones and not data.devices:
        raise Invalid("no_targets", "name at least one zone or device")
    targets = [f"zone:{require_zone(session, z).path}" for z in dict.fromkeys(data.zones)]
    targets += [f"device:{require_device(session, d).id}" for d in dict.fromkeys(data.devices)]
    level = data.level or ann.level
    if data.play_at is not None:
        play_at = in_zone(data.play_at, check_timezone(timezone))
    else:
        play_at = now + (emergency_lead if level == "emergency" else lead)
    rend = ann.rendition
    if level != "emergency":
        _refuse_quiet_hours(session, targets, play_at, rend.duration_ms)
    occ = Occurrence(
        id=str(uuid.uuid4()),
        schedule_id=None,
        announcement_id=ann.id,
        title=ann.title,
        planned_at=now,
        play_at=play_at,
        targets=targets,
        priority=LEVEL_PRIORITY[level],
        volume=check_volume(data.volume),
        max_late_s=data.max_late_s,
        duration_ms=rend.duration_ms,
        media_sha256=rend.sha256,
        media_ext=rend.ext,
        media_bytes=rend.bytes,
        media_mime=rend.mime,
        immediate=True,
        expected_devices=Audience(device_zones(session)).expected(targets),
        status="sent",
        created_at=now,
        updated_at=now,
    )
    session.add(occ)
    session.flush()
    mark_plan_dirty(session)  # onto the retained timelines at the next cycle
    return occ


def _refuse_quiet_hours(
    session: Session, targets: list[str], play_at: datetime, duration_ms: int
) -> None:
    """Only an emergency may sound in a zone's quiet hours (the planner's rule, applied here)."""
    index = ZoneIndex(*tree_specs(session))
    for target in targets:
        resolved = index.resolve(target)
        if not isinstance(resolved, Resolved) or resolved.quiet is None:
            continue
        q = resolved.quiet
        if q.overlaps(play_at, duration_ms):
            raise Invalid(
                "quiet_hours",
                f"{target} is in its quiet hours ({q.start_s // 3600:02d}:"
                f"{q.start_s % 3600 // 60:02d}–{q.end_s // 3600:02d}:"
                f"{q.end_s % 3600 // 60:02d} local) at that time: only an emergency "
                "broadcast may sound then",
            )


def send_play(
    dispatcher: DispatcherLike, occ: Occurrence, *, base_url: str, now: datetime
) -> list[str]:
    """Publish `play` for a stored one-off broadcast to each of its targets (after commit).

    The same occurrence is on the retained timelines; this command only gets it to the
    agents online now faster than the next planner cycle would. Agents key both on the
    occurrence id (`devices.agent` merges timeline and commanded items by id, and plays an id
    once), so a broadcast received both ways plays once.
    """
    item = occurrence_item(occ, base_url=base_url, with_time=occ.play_at > now)
    if item is None:
        raise Invalid("not_rendered", "the broadcast has no audio")
    for target in occ.targets:
        dispatcher.command(target, "play", item, now=now)
    return list(occ.targets)


def stop_broadcast(session: Session, occurrence_id: str, *, now: datetime) -> Occurrence:
    """Mark a broadcast stopped (and out of future timelines); send with `send_stop`."""
    occ = get_occurrence(session, occurrence_id)
    if occ.status == "cancelled":
        raise Conflict("broadcast_cancelled", "the broadcast was cancelled: nothing plays")
    occ.status, occ.updated_at = "stopped", now
    session.flush()
    mark_plan_dirty(session)
    return occ


def send_stop(dispatcher: DispatcherLike, occ: Occurrence, *, now: datetime) -> list[str]:
    """Publish `stop` for this occurrence to each of its targets."""
    for target in occ.targets:
        dispatcher.command(target, "stop", StopBody(occurrence_id=occ.id), now=now)
    return list(occ.targets)
