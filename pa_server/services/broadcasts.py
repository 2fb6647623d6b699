"""Broadcasts: occurrences with their per-device delivery; putting on air, stopping, cancelling.

`put_on_air`, `stop_broadcast` and `cancel_emergency` are whole use cases: rights on the
broadcast as it would be, the row stored and committed first, then the command published
(a broadcast on air always has its record; a bus error leaves the retained timelines to carry
it), and an audit entry naming who did it — occurrences are not row-audited (the planner
rewrites them), so these write their own.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from devices.protocol import EMERGENCY_PRIORITY as EMERGENCY_PRIORITY
from pa_server.auth import audit
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Role, require_level, require_writer
from pa_server.db.models import Announcement, Device, Occurrence, Receipt
from pa_server.messaging.bus import BusError
from pa_server.planning import LEVEL_PRIORITY
from pa_server.planning.zones import Resolved, ZoneIndex
from pa_server.schemas.announcements import AnnouncementCreate
from pa_server.schemas.broadcasts import (
    BroadcastCreate,
    BroadcastDetail,
    BroadcastPublic,
    DeliveryCounts,
    DeviceDelivery,
)
from pa_server.schemas.schedules import OccurrencePublic
from pa_server.services import announcements, reports, rights
from pa_server.services import search as search_in
from pa_server.services.announcements import require_approved
from pa_server.services.audience import Audience, device_zones
from pa_server.services.context import UseCase
from pa_server.services.devices import require_device
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound
from pa_server.services.timelines import (
    DispatcherLike,
    stop_targets,
    target_items,
    tree_specs,
)
from pa_server.services.validation import check_timezone, check_volume, in_zone
from pa_server.services.zones import require_zone

log = logging.getLogger(__name__)

#: How far in the past a requested `play_at` may lie (clock skew between browser and server).
PAST_TOLERANCE = timedelta(seconds=5)
#: The placeholder that marks an announcement as the cancel notice of an emergency broadcast.
CANCELS = "cancels"
CANCEL_TEXT = (
    "Thông báo hủy. Tin khẩn cấp “{title}” vừa phát đã được hủy bỏ. "
    "Đề nghị bà con không thực hiện theo tin này. Xin cảm ơn bà con."
)

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
    search: str | None = None,
) -> tuple[list[BroadcastPublic], int]:
    """One page of occurrences (newest play time first) with delivery counts; and the total.

    `search` matches the title, who caused or stopped it, and the zones and loudspeakers it
    targets by name or id (in SQL, `pa_server.services.search`).
    """
    query = select(Occurrence).where(Occurrence.status != "cancelled")
    if search:
        query = query.where(
            or_(
                search_in.contains(search, Occurrence.title),
                search_in.actor_match(session, search, Occurrence.caused_by, Occurrence.stopped_by),
                search_in.targets_match(session, search, Occurrence.targets),
            )
        )
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
    return BroadcastDetail(
        **_public(occ, _counts(expected, got)).model_dump(),
        devices=rows,
        recording=reports.broadcast_recording(session, occ.id),
    )


def put_on_air(uc: UseCase, data: BroadcastCreate, *, confirmed: bool = False) -> Occurrence:
    """Play an announcement on zones and/or devices, all together, in a few seconds.

    Without `play_at` it starts at `now + lead` (`emergency_lead` for emergencies): one common
    instant for every loudspeaker, with time to fetch the media. It goes on the targets'
    retained timelines too, so an agent that connects late still gets it within `max_late_s`.
    A naive `play_at` is wall time in the server's zone; one in the past is refused.

    The announcement must be approved by someone other than its last editor — except an
    emergency: an admin's explicit confirmation is the approval (no second person in the way).
    """
    settings = uc.settings
    uc.require_dispatcher()
    require_writer(uc.actor)
    ann = _announcement(uc.db, data.announcement_id)
    level = data.level or ann.level
    if ann.level == "emergency":
        level = "emergency"
    if not data.zones and not data.devices:
        raise Invalid("no_targets", "name at least one zone or device")
    targets = [f"zone:{require_zone(uc.db, z).path}" for z in dict.fromkeys(data.zones)]
    targets += [f"device:{require_device(uc.db, d).id}" for d in dict.fromkeys(data.devices)]
    require_level(uc.actor, level, confirmed=confirmed)
    rights.require_reach(uc.db, uc.actor, targets)
    if ann.rendition is None:
        raise Invalid("not_rendered", "the announcement has no audio")
    if ann.status != "approved":
        if level != "emergency" or ann.status != "draft":
            require_approved(uc.db, ann.id)  # raises announcement_not_approved
        # An admin who confirmed an emergency approves its words by sending them.
        ann.status, ann.approver, ann.approved_at = "approved", uc.actor.username, uc.now
        ann.updated_at = uc.now
    if data.play_at is not None:
        play_at = in_zone(data.play_at, check_timezone(settings.timezone))
        if play_at < uc.now - PAST_TOLERANCE:
            raise Invalid("play_at_past", "play_at lies in the past: a broadcast cannot go back")
    else:
        lead = settings.emergency_lead_s if level == "emergency" else settings.broadcast_lead_s
        play_at = uc.now + timedelta(seconds=lead)
    rend = ann.rendition
    if level != "emergency":
        refuse_quiet_hours(uc.db, targets, max(play_at, uc.now), rend.duration_ms)
    occ = Occurrence(
        id=str(uuid.uuid4()),
        schedule_id=None,
        announcement_id=ann.id,
        title=ann.title,
        planned_at=uc.now,
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
        expected_devices=Audience(device_zones(uc.db)).expected(targets),
        status="sent",
        caused_by=uc.actor.username,
        created_at=uc.now,
        updated_at=uc.now,
    )
    uc.db.add(occ)
    uc.db.flush()
    audit.record(
        uc.db,
        "broadcast",
        "occurrences",
        occ.id,
        after={"title": occ.title, "level": level, "targets": targets, "play_at": play_at},
        now=uc.now,
    )
    mark_plan_dirty(uc.db)  # onto the retained timelines at the next cycle
    _commit_then_send(uc, occ)
    return occ


def _announcement(session: Session, announcement_id: str) -> Announcement:
    ann = session.get(Announcement, announcement_id)
    if ann is None:
        raise Invalid("unknown_announcement", f"unknown announcement {announcement_id!r}")
    return ann


def _commit_then_send(uc: UseCase, occ: Occurrence) -> None:
    """Commit the stored broadcast, then publish `play` to each of its targets."""
    uc.db.commit()
    try:
        send_play(
            uc.require_dispatcher(), occ, base_url=uc.settings.resolved_public_url, now=uc.now
        )
    except BusError as exc:
        # Stored and committed: the retained timelines carry it at the next planner cycle, so
        # the broadcast still happens; only the fast path failed.
        log.warning("broadcast %s: play not sent (%s); timelines will carry it", occ.id, exc)


def refuse_quiet_hours(
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
    items = target_items(occ, base_url=base_url, now=now)
    if not items:
        raise Invalid("not_rendered", "the broadcast has no audio")
    for target, item in items.items():
        dispatcher.command(target, "play", item, now=now)
    return list(items)


def stop_broadcast(uc: UseCase, occurrence_id: str) -> Occurrence:
    """Stop a broadcast wherever it plays and take it off the timelines.

    Committed before `stop` is published; a stop the broker does not take is an error
    (`broker_unavailable`): what plays keeps playing, so the person must know and retry.
    """
    occ = get_occurrence(uc.db, occurrence_id)
    rights.require_occurrence(uc.db, uc.actor, occ)
    sender = uc.require_dispatcher()
    if occ.status == "cancelled":
        raise Conflict("broadcast_cancelled", "the broadcast was cancelled: nothing plays")
    occ.status, occ.stopped_by, occ.updated_at = "stopped", uc.actor.username, uc.now
    uc.db.flush()
    audit.record(uc.db, "stop", "occurrences", occ.id, after={"targets": occ.targets}, now=uc.now)
    mark_plan_dirty(uc.db)
    uc.db.commit()
    send_stop(sender, occ, now=uc.now)
    return occ


def is_cancel_notice(ann: Announcement) -> bool:
    """True for the notice that cancels an emergency (it has no cancel of its own)."""
    return CANCELS in (ann.placeholders or {})


def cancel_emergency(uc: UseCase, occurrence_id: str) -> Occurrence | None:
    """Stop an emergency and tell the loudspeakers that started it that it is void.

    Only an admin, only an emergency, and only one that is not itself a cancel notice: all
    checked before anything stops. The notice goes to the devices that reported starting the
    emergency (a loudspeaker that never sounded it has nothing to take back); it returns the
    notice's broadcast, or None when no loudspeaker had started.
    """
    occ = get_occurrence(uc.db, occurrence_id)
    if uc.actor.role is not Role.ADMIN:
        raise Forbidden("admin_only", "Chỉ quản trị viên mới được hủy tin khẩn cấp.")
    ann = uc.db.get(Announcement, occ.announcement_id)
    if occ.priority < EMERGENCY_PRIORITY or ann is None or is_cancel_notice(ann):
        raise Conflict("not_emergency", "only an emergency broadcast has a cancel notice")
    started = sorted(
        uc.db.scalars(
            select(Receipt.device_id).where(
                Receipt.occurrence_id == occ.id, Receipt.type == "started"
            )
        )
    )
    stop_broadcast(uc, occurrence_id)
    if not started:
        return None
    notice = announcements.create_announcement(
        uc,
        AnnouncementCreate(
            title=f"Thông báo hủy: {occ.title}"[:300],
            text=CANCEL_TEXT.format(title=occ.title),
            level="emergency",
        ),
    )
    notice.placeholders = {CANCELS: occ.id}
    announcements.render_announcement(uc, notice.id)
    still_there = [d for d in started if uc.db.get(Device, d) is not None]
    if not still_there:
        return None
    return put_on_air(
        uc,
        BroadcastCreate(announcement_id=notice.id, devices=still_there, level="emergency"),
        confirmed=True,
    )


def send_stop(dispatcher: DispatcherLike, occ: Occurrence, *, now: datetime) -> list[str]:
    """Publish `stop` for this occurrence to each of its targets (one envelope each)."""
    return dispatcher.stop(occ.id, stop_targets(occ), now=now)


def sound_emergency(
    uc: UseCase,
    *,
    title: str,
    text: str,
    zones: list[str],
    devices: list[str] | None = None,
    confirmed: bool = False,
) -> Occurrence:
    """Write, render and put an emergency on air in one step: a flood leaves no time for more.

    An admin's, with an explicit confirmation — both checked before anything is written; the
    words need no second approver (the admin approves them by sending). Everything else —
    targets, quiet hours (emergencies ignore them), the audit entries — is `put_on_air`'s.
    """
    require_level(uc.actor, "emergency", confirmed=confirmed)
    ann = announcements.create_announcement(
        uc, AnnouncementCreate(title=title, text=text, level="emergency")
    )
    announcements.render_announcement(uc, ann.id)
    return put_on_air(
        uc,
        BroadcastCreate(
            announcement_id=ann.id, zones=zones, devices=devices or [], level="emergency"
        ),
        confirmed=True,
    )
