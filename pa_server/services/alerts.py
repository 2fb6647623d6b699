"""CAP alerts: every message received through a door (page upload, publisher push, polled feed)
is kept with its raw XML and verdict; a valid one becomes, updates or cancels an alert, which
owns an announcement and a repeating schedule — two of each when its zones' policies differ
(on air alone in some, awaiting approval in the others) (docs/alerts.md).

Who acts: a person on the upload page, or the publisher `cap:<name>` for a push or a feed (an
operator-like actor bound to the publisher's zones). Rights are checked on the resulting alert
(its zones, its level) in `pa_server.services.rights`; every step leaves an audit entry.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pa_server.alerts import CapError, CapInvalid
from pa_server.alerts import compose as words
from pa_server.alerts import feed as feeds
from pa_server.alerts.areas import outermost, zones_of_areas
from pa_server.alerts.cap import CapMessage as Cap
from pa_server.alerts.cap import InfoSpec, parse_cap, peek_header
from pa_server.alerts.policy import Policy
from pa_server.auth import audit
from pa_server.auth.accounts import USERNAME_RE, ZONE_RE
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role, require_level
from pa_server.auth.tokens import new_token, token_digest
from pa_server.config import Settings
from pa_server.db.alerts import CapAlert, CapFeed, CapGeocode, CapMessage, CapPublisher
from pa_server.db.models import Announcement, Occurrence, Receipt, Schedule, ScheduleTarget, Zone
from pa_server.live.relay_guard import RelayGuard, RelayRefused, parse_networks
from pa_server.schemas.announcements import RenderOptions
from pa_server.services import announcements, broadcasts, renditions, rights, schedules
from pa_server.services.context import UseCase
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound
from pa_server.services.zones import require_zone

log = logging.getLogger(__name__)

DOORS = ("upload", "push", "feed")
#: An alert without `expires` repeats for this long, then stops (say so in docs/alerts.md).
DEFAULT_IN_FORCE = timedelta(hours=24)
#: How long a late item may still start (as a person's schedule would).
MAX_LATE_S = 120


@lru_cache(maxsize=8)
def _policy(path: Path | None) -> Policy:
    return Policy.load(path)


def policy(uc: UseCase) -> Policy:
    """The district's alert policy (`PA_ALERT_POLICY_FILE`, else the shipped one)."""
    return _policy(uc.settings.alert_policy_file)


def may_upload(settings: Settings, actor: Actor) -> bool:
    """True when the policy lets `actor`'s role upload CAP files (for the page: what to offer)."""
    return actor.role.value in _policy(settings.alert_policy_file).for_zone("").upload_roles


#: How a publisher is named when it acts (and in the audit log).
PUBLISHER_PREFIX = "cap:"


def publisher_actor(publisher: CapPublisher) -> Actor:
    """The actor a publisher's push or feed acts as: `cap:<name>`, bound to its zones."""
    return Actor(
        id=0,
        username=f"{PUBLISHER_PREFIX}{publisher.name}",
        role=Role.OPERATOR,
        zones=tuple(publisher.zones),
    )


# ---- intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    """Through which door a message came, for feeds which feed, and who came through it."""

    name: str
    feed_id: int | None = None
    #: The publisher of a push or a feed, as its caller already holds it; None: the one
    #: `uc.actor` (`cap:<name>`) acts for, looked up when needed.
    publisher: CapPublisher | None = None


def upload_cap(uc: UseCase, data: bytes) -> CapMessage:
    """A CAP file uploaded on the page by a person the policy allows."""
    rights.require_alert_upload(uc.actor, policy(uc).for_zone("").upload_roles)
    return receive(uc, data, Door("upload"))


def push_cap(uc: UseCase, data: bytes) -> CapMessage:
    """A CAP message a publisher pushed with its token (`uc.actor` is `cap:<publisher>`).

    A locked publisher's push is kept, unread, with the verdict `refused` (code
    `publisher_locked`): whoever holds its token is seen trying, and nothing plays.
    """
    pub = _acting_publisher(uc)
    if pub is not None and not pub.active:
        row = _kept(uc, data, Door("push"))
        _header(row, data[: uc.settings.cap_max_bytes])
        return _verdict(
            uc,
            row,
            "refused",
            "publisher_locked",
            "Nguồn phát hành đang bị khóa: bản tin bị từ chối, không được xử lý.",
        )
    return receive(uc, data, Door("push", publisher=pub))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _header(row: CapMessage, data: bytes) -> None:
    """What can be read of a message that is not acted on: its identifier, sender, sent, type."""
    header = peek_header(data)
    row.identifier = header.get("identifier", "")
    row.sender = header.get("sender", "")
    row.sent = header.get("sent", "")
    row.msg_type = header.get("msgType", "")


def receive(uc: UseCase, data: bytes, door: Door) -> CapMessage:
    """Keep the message, check it, and act on it; the stored message carries the verdict."""
    row = _kept(uc, data, door)
    try:
        cap = parse_cap(data, max_bytes=uc.settings.cap_max_bytes)
    except CapInvalid as exc:
        _header(row, data[: uc.settings.cap_max_bytes])
        return _verdict(uc, row, "invalid", exc.code, exc.reason)
    if door.name != "upload" and not _may_send_as(uc, door, cap.sender):
        # No key is kept: a squatted key must neither shadow the real alert as its duplicate
        # nor catch the real alert's Updates and Cancels.
        row.identifier, row.sender = cap.identifier, cap.sender
        row.sent, row.msg_type = cap.sent.isoformat(), cap.msg_type
        return _verdict(
            uc,
            row,
            "refused",
            "sender_not_allowed",
            "Nguồn không được phép gửi bản tin mang địa chỉ người gửi này: bản tin bị từ chối,"
            " không được xử lý.",
        )
    return _act_on(uc, row, cap)


def _may_send_as(uc: UseCase, door: Door, sender: str) -> bool:
    """True when the publisher of a push or a feed was given `sender` by an admin.

    CAP matches duplicates and references on `sender,identifier,sent` whoever brought them, and
    a publisher may write any `<sender>`: unbound, one publisher could send another's
    predictable key first, the real alert would be dropped as its duplicate and its Updates
    and Cancels would hit the squatter's alert. Two publishers given one sender (two relays of
    one upstream) still share its keys: the second copy of an alert stays a duplicate.
    """
    pub = door.publisher or _acting_publisher(uc)
    return pub is not None and sender in pub.senders


def _acting_publisher(uc: UseCase) -> CapPublisher | None:
    """The publisher `uc.actor` (`cap:<name>`) acts for, if it still exists."""
    name = uc.actor.username.removeprefix(PUBLISHER_PREFIX)
    return uc.db.scalar(select(CapPublisher).where(CapPublisher.name == name))


def _kept(uc: UseCase, data: bytes, door: Door) -> CapMessage:
    """The message as received, stored before anything reads it (every message is kept)."""
    row = CapMessage(
        id=str(uuid.uuid4()),
        received_at=uc.now,
        door=door.name,
        source=uc.actor.username,
        feed_id=door.feed_id,
        raw=_text(data[: uc.settings.cap_max_bytes]),
        verdict="invalid",
        reason="",
        references=[],
    )
    uc.db.add(row)
    return row


def _act_on(uc: UseCase, row: CapMessage, cap: Cap) -> CapMessage:
    """A valid message: a new alert, or an update or cancellation of a known one."""
    row.identifier, row.sender = cap.identifier, cap.sender
    row.sent, row.msg_type = cap.sent.isoformat(), cap.msg_type
    row.key, row.references = cap.key, list(cap.references)
    uc.db.flush()
    if _accepted(uc.db, cap.key, row.id):
        return _verdict(uc, row, "duplicate", "cap_duplicate", "Bản tin này đã nhận trước đó.")
    if cap.status != "Actual":
        return _verdict(
            uc, row, "not_actual", "cap_not_actual", f"Bản tin loại “{cap.status}”: không phát."
        )
    if cap.msg_type in ("Ack", "Error"):
        return _verdict(uc, row, "ignored", "cap_ignored", f"Bản tin “{cap.msg_type}”: không phát.")
    if cap.msg_type == "Alert":
        return _new_alert(uc, row, cap)
    alert = _referred(uc.db, cap)
    if alert is None:
        return _verdict(
            uc,
            row,
            "unknown_reference",
            "cap_unknown_reference",
            "Bản tin nhắc tới cảnh báo chưa từng nhận: giữ lại để người xem, không phát.",
        )
    if cap.msg_type == "Cancel":
        return _cancel(uc, row, cap, alert)
    return _update(uc, row, cap, alert)


def _accepted(db: Session, key: str, other_than: str) -> bool:
    return (
        db.scalar(
            select(func.count()).where(
                CapMessage.key == key, CapMessage.verdict == "accepted", CapMessage.id != other_than
            )
        )
        or 0
    ) > 0


def _referred(db: Session, cap: Cap) -> CapAlert | None:
    """The alert an Update/Cancel refers to (any of its references), or None: never guessed."""
    for key in reversed(cap.references):
        alert_id = db.scalar(
            select(CapMessage.alert_id).where(
                CapMessage.key == key,
                CapMessage.verdict == "accepted",
                CapMessage.alert_id.is_not(None),
            )
        )
        if alert_id is not None:
            return db.get(CapAlert, alert_id)
    return None


def _verdict(
    uc: UseCase, row: CapMessage, verdict: str, code: str | None, reason: str
) -> CapMessage:
    row.verdict, row.code, row.reason = verdict, code, reason
    uc.db.flush()
    audit.record(
        uc.db,
        "cap_" + verdict,
        "cap_messages",
        row.id,
        after={"door": row.door, "identifier": row.identifier, "sender": row.sender, "code": code},
        now=uc.now,
    )
    return row


# ---- from alert to broadcast ----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What an alert's info and areas come to here."""

    info: InfoSpec
    zones: list[str]
    level: str
    auto: bool
    repeat_hours: int
    start: datetime
    end: datetime
    #: Zones whose policy wants a person for this level (all of them when `auto` is False
    #: and the plan is not split; none when `auto`).
    waiting: tuple[str, ...] = ()

    @property
    def alone(self) -> list[str]:
        """Zones where the alert goes on air without a person."""
        return [z for z in self.zones if z not in self.waiting]


def _geocodes(db: Session) -> dict[tuple[str, str], str]:
    return {(g.value_name, g.value): g.zone_path for g in db.scalars(select(CapGeocode))}


def _points(db: Session) -> dict[str, tuple[float, float]]:
    return {
        z.path: (z.latitude, z.longitude)
        for z in db.scalars(
            select(Zone).where(Zone.latitude.is_not(None), Zone.longitude.is_not(None))
        )
        if z.latitude is not None and z.longitude is not None
    }


def _plan(uc: UseCase, cap: Cap) -> Plan | str:
    """The plan of an alert, or why there is none (a Vietnamese reason)."""
    info = cap.info_vi() or cap.first_info()
    if info is None:
        return "Bản tin không có khối “info”: không có gì để đọc."
    areas = [a for i in cap.infos for a in i.areas]
    zones = outermost(zones_of_areas(areas, geocodes=_geocodes(uc.db), points=_points(uc.db)))
    level, auto, hours = policy(uc).decide(zones, info.severity, info.urgency, info.certainty)
    waiting = tuple(policy(uc).waiting_zones(zones, level))
    start = max(info.effective or cap.sent, uc.now)
    end = info.expires or start + DEFAULT_IN_FORCE
    return Plan(info, zones, level, auto, hours, start, end, waiting)


def _new_alert(uc: UseCase, row: CapMessage, cap: Cap) -> CapMessage:
    plan = _plan(uc, cap)
    if isinstance(plan, str):
        return _verdict(uc, row, "ignored", "cap_no_info", plan)
    if plan.end <= uc.now:
        return _verdict(
            uc, row, "expired", "cap_expired", "Cảnh báo đã hết hiệu lực khi nhận: không phát."
        )
    try:
        rights.require_alert_reach(uc.db, uc.actor, [f"zone:{z}" for z in plan.zones])
    except Forbidden as exc:
        return _verdict(uc, row, "out_of_scope", exc.code, exc.message_vi)
    alert = CapAlert(
        id=str(uuid.uuid4()),
        key=cap.key,
        publisher=uc.actor.username,
        sender=cap.sender,
        state="no_zone",
        created_at=uc.now,
        cancelled_at=None,
    )
    _describe(alert, cap, plan, uc.now)
    uc.db.add(alert)
    uc.db.flush()
    row.alert_id = alert.id
    _voice(uc, alert, plan)
    alert.last_message_id = row.id
    return _verdict(uc, row, "accepted", None, _state_reason(alert))


def _describe(alert: CapAlert, cap: Cap, plan: Plan, now: datetime) -> None:
    info = plan.info
    alert.sender_name = info.sender_name[:300]
    alert.event = info.event[:300]
    alert.headline = words.title_of(info)
    alert.language = info.language[:16]
    alert.severity, alert.urgency, alert.certainty = info.severity, info.urgency, info.certainty
    alert.effective = plan.start
    alert.expires = plan.end
    alert.level, alert.auto, alert.repeat_hours = plan.level, plan.auto, plan.repeat_hours
    alert.zones = plan.zones
    alert.area_desc = "; ".join(a.desc for a in info.areas if a.desc)
    alert.updated_at = now


def _state_reason(alert: CapAlert) -> str:
    if alert.state == "on_air" and alert.waiting_zones:
        return "Đã nhận: đang phát ở nơi quy định cho phép, chờ duyệt ở nơi còn lại."
    return {
        "on_air": "Đã nhận và đưa lên lịch phát.",
        "draft": "Đã nhận: chờ duyệt để phát.",
        "needs_text": "Đã nhận: cảnh báo không có tiếng Việt, cần người viết lời đọc.",
        "no_zone": "Đã nhận: vùng cảnh báo không khớp khu vực nào.",
        "cancelled": "Đã hủy.",
    }.get(alert.state, "")


def _voice(uc: UseCase, alert: CapAlert, plan: Plan) -> None:
    """Give the alert its announcement and repeating schedule (or say why it has none).

    Over zones with mixed policies the alert is split in two parts rather than held back
    everywhere: the zones the policy lets hear it alone get it now (the first part), the others
    get a draft awaiting one click (the second part, `approval_*`). Both belong to the alert,
    so an Update or a Cancel reaches both.
    """
    alert.waiting_zones = []
    if not plan.zones:
        alert.state = "no_zone"
        _hold(uc, alert)
        return
    if not plan.info.vietnamese:
        alert.state = "needs_text"
        _hold(uc, alert)
        return
    title, text = words.title_of(plan.info), words.text_of(plan.info)
    if plan.alone and plan.waiting:
        ann = _announcement(uc, alert, title, text, by_policy=True)
        _schedule(uc, alert, ann, plan, plan.alone)
        second = _announcement(uc, alert, title, text, by_policy=False, second=True)
        _schedule(uc, alert, second, plan, list(plan.waiting), second=True)
        alert.state, alert.waiting_zones = "on_air", list(plan.waiting)
        return
    ann = _announcement(uc, alert, title, text, by_policy=plan.auto)
    _schedule(uc, alert, ann, plan, plan.zones)
    _end_second_part(uc, alert)
    alert.state = "on_air" if plan.auto else "draft"
    alert.waiting_zones = [] if plan.auto else list(plan.zones)


def _schedules_of(db: Session, alert: CapAlert) -> list[Schedule]:
    """The alert's repeating schedules: its first part's and, if it was split, its second's."""
    ids = [i for i in (alert.schedule_id, alert.approval_schedule_id) if i is not None]
    return [s for s in (db.get(Schedule, i) for i in ids) if s is not None]


def _hold(uc: UseCase, alert: CapAlert) -> None:
    """No broadcast for this alert as it stands: its schedules, if any, stop repeating."""
    for schedule in _schedules_of(uc.db, alert):
        _stop_repeating(uc, schedule)


def _stop_repeating(uc: UseCase, schedule: Schedule | None) -> None:
    if schedule is not None and schedule.enabled:
        schedule.enabled, schedule.updated_at = False, uc.now
        mark_plan_dirty(uc.db)


def _end_second_part(uc: UseCase, alert: CapAlert) -> None:
    """The alert is no longer split: its second part's repeats stop and its words retire."""
    if alert.approval_schedule_id:
        _stop_repeating(uc, uc.db.get(Schedule, alert.approval_schedule_id))
    _retire(uc, alert.approval_announcement_id)


def _retire(uc: UseCase, announcement_id: str | None) -> None:
    """Archive an alert's words that are no longer read (kept for the record)."""
    old = uc.db.get(Announcement, announcement_id) if announcement_id else None
    if old is not None and old.status != "archived":
        old.status, old.updated_at = "archived", uc.now


def _rendered_draft(
    uc: UseCase, alert: CapAlert, title: str, text: str, placeholders: dict[str, str]
) -> Announcement:
    """A draft text announcement at the alert's level, stored and rendered with the defaults."""
    ann = Announcement(
        id=str(uuid.uuid4()),
        title=title,
        kind="text",
        text=text,
        placeholders=placeholders,
        level=alert.level,
        status="draft",
        author=uc.actor.username,
        last_editor=uc.actor.username,
        created_at=uc.now,
        updated_at=uc.now,
    )
    uc.db.add(ann)
    uc.db.flush()
    renditions.render_announcement(
        uc.db,
        ann,
        RenderOptions(),
        renderer=uc.renderer,
        default_engine=uc.settings.tts_engine,
        recordings_dir=uc.settings.recordings_dir,
        now=uc.now,
    )
    return ann


def _announcement(
    uc: UseCase, alert: CapAlert, title: str, text: str, *, by_policy: bool, second: bool = False
) -> Announcement:
    """A rendered announcement of the alert's words for one of its parts (replacing that part's
    earlier words); approved by the policy when the part may go on air alone."""
    ann = _rendered_draft(uc, alert, title, text, {"cap_alert": alert.id})
    if by_policy:
        # The district's policy is the approval of what a publisher sends for these levels.
        ann.status, ann.approver, ann.approved_at = "approved", uc.actor.username, uc.now
    if second:
        _retire(uc, alert.approval_announcement_id)
        alert.approval_announcement_id = ann.id
    else:
        _retire(uc, alert.announcement_id)
        alert.announcement_id = ann.id
    uc.db.flush()
    return ann


def _schedule(
    uc: UseCase,
    alert: CapAlert,
    ann: Announcement,
    plan: Plan,
    zones: list[str],
    *,
    second: bool = False,
) -> Schedule:
    """One part's schedule of the alert, on `zones`: from now (plus the lead) until `expires`,
    every N hours."""
    lead = (
        uc.settings.emergency_lead_s if plan.level == "emergency" else uc.settings.broadcast_lead_s
    )
    start = _whole_second(
        plan.start + timedelta(seconds=lead) if plan.start <= uc.now else plan.start
    )
    schedule_id = alert.approval_schedule_id if second else alert.schedule_id
    schedule = uc.db.get(Schedule, schedule_id) if schedule_id else None
    new = schedule is None
    if schedule is None:
        schedule = Schedule(id=str(uuid.uuid4()), created_at=uc.now, exdates=[])
    before = sorted(t.target for t in schedule.targets)
    schedule.announcement_id = ann.id
    schedule.title = ann.title
    schedule.rrule = f"FREQ=HOURLY;INTERVAL={plan.repeat_hours}"
    schedule.start_at = start
    schedule.end_at = max(plan.end, start)
    schedule.timezone = uc.settings.timezone
    schedule.level = plan.level
    schedule.volume = None
    schedule.max_late_s = MAX_LATE_S
    schedule.enabled = True
    schedule.set_by = uc.actor.username
    schedule.updated_at = uc.now
    targets = [require_zone(uc.db, z).path for z in zones]
    schedule.targets = [ScheduleTarget(zone_path=z) for z in targets]
    if new:
        uc.db.add(schedule)
    uc.db.flush()
    # Set once the schedule row exists (no ORM relationship orders the two inserts).
    if second:
        alert.approval_schedule_id = schedule.id
    else:
        alert.schedule_id = schedule.id
    schedules.record_target_change(uc, schedule, before)
    mark_plan_dirty(uc.db)
    return schedule


def _whole_second(at: datetime) -> datetime:
    """`at` rounded up to the second: recurrence rules (RFC 5545) have no fractions, and an
    instant expanded from a fractional start would fall just before it and be lost."""
    return at if not at.microsecond else at.replace(microsecond=0) + timedelta(seconds=1)


def _update(uc: UseCase, row: CapMessage, cap: Cap, alert: CapAlert) -> CapMessage:
    """An Update: the alert's text, zones, level and repeats are replaced by the new message's."""
    if alert.state == "cancelled":
        return _verdict(
            uc, row, "ignored", "cap_after_cancel", "Cảnh báo này đã bị hủy: không phát lại."
        )
    plan = _plan(uc, cap)
    if isinstance(plan, str):
        return _verdict(uc, row, "ignored", "cap_no_info", plan)
    try:
        # As it stands and as it would be: both in the publisher's reach.
        targets = {f"zone:{z}" for z in [*alert.zones, *plan.zones]}
        rights.require_alert_change(uc.db, uc.actor, alert.publisher, targets)
    except Forbidden as exc:
        return _verdict(uc, row, "out_of_scope", exc.code, exc.message_vi)
    row.alert_id = alert.id
    _describe(alert, cap, plan, uc.now)
    if plan.end <= uc.now:
        alert.state, alert.waiting_zones = "cancelled", []
        alert.cancelled_at = uc.now
        _stop_repeats(uc, alert)
    else:
        _voice(uc, alert, plan)
    alert.last_message_id = row.id
    return _verdict(uc, row, "accepted", None, "Cập nhật: " + _state_reason(alert))


# ---- cancellation ---------------------------------------------------------------------------


def _cancel(uc: UseCase, row: CapMessage, cap: Cap, alert: CapAlert) -> CapMessage:
    """A Cancel: repeats stop, what plays stops, and (by policy) a notice where it was heard."""
    try:
        rights.require_alert_change(
            uc.db, uc.actor, alert.publisher, [f"zone:{z}" for z in alert.zones]
        )
    except Forbidden as exc:
        return _verdict(uc, row, "out_of_scope", exc.code, exc.message_vi)
    row.alert_id = alert.id
    heard = _heard_on(uc.db, alert)
    was = alert.state
    alert.state, alert.cancelled_at, alert.updated_at = "cancelled", uc.now, uc.now
    alert.waiting_zones = []
    alert.last_message_id = row.id
    stopping = _stop_repeats(uc, alert)
    notice = (
        was in ("on_air",)
        and heard
        and all(policy(uc).for_zone(z).cancel_notice for z in alert.zones)
    )
    if notice:
        _cancel_notice(uc, alert, heard)
    result = _verdict(uc, row, "accepted", None, "Đã hủy cảnh báo.")
    _send_stops(uc, stopping)
    return result


def _heard_on(db: Session, alert: CapAlert) -> list[str]:
    """Devices that reported starting any broadcast of this alert (either part)."""
    ids = [s.id for s in _schedules_of(db, alert)]
    if not ids:
        return []
    return sorted(
        set(
            db.scalars(
                select(Receipt.device_id)
                .join(Occurrence, Occurrence.id == Receipt.occurrence_id)
                .where(Occurrence.schedule_id.in_(ids), Receipt.type == "started")
            )
        )
    )


def _stop_repeats(uc: UseCase, alert: CapAlert) -> list[Occurrence]:
    """End both parts' repeats now; what is due or playing is returned, to be stopped on air."""
    return [occ for s in _schedules_of(uc.db, alert) for occ in _stop_schedule(uc, s)]


def _stop_schedule(uc: UseCase, schedule: Schedule) -> list[Occurrence]:
    """End the schedule now; mark what is due or playing stopped (returned: stop it on air)."""
    schedule.enabled = False
    schedule.end_at = max(schedule.start_at, uc.now)
    schedule.updated_at = uc.now
    ann = uc.db.get(Announcement, schedule.announcement_id)
    if ann is not None and ann.status == "draft":
        ann.status, ann.updated_at = "archived", uc.now
    stopping = []
    for occ in uc.db.scalars(
        select(Occurrence).where(
            Occurrence.schedule_id == schedule.id,
            Occurrence.status.in_(("planned", "sent")),
        )
    ):
        ends = occ.play_at + timedelta(milliseconds=occ.duration_ms, seconds=occ.max_late_s)
        if occ.play_at <= uc.now + timedelta(minutes=1) and ends >= uc.now:
            # Due or playing: agents may already hold it; stop it there, not only in the plan.
            occ.status, occ.stopped_by, occ.updated_at = "stopped", uc.actor.username, uc.now
            stopping.append(occ)
        elif occ.play_at > uc.now:
            occ.status, occ.updated_at = "cancelled", uc.now
    uc.db.flush()
    for occ in stopping:
        audit.record(
            uc.db, "stop", "occurrences", occ.id, after={"targets": occ.targets}, now=uc.now
        )
    mark_plan_dirty(uc.db)
    return stopping


def _send_stops(uc: UseCase, stopping: list[Occurrence]) -> None:
    """Commit, then tell the loudspeakers to stop (the timelines carry it too if the bus fails)."""
    if not stopping:
        return
    uc.db.commit()
    if uc.dispatcher is None:
        log.warning(
            "alert cancel: bus down, %d broadcasts leave by the timelines only", len(stopping)
        )
        return
    for occ in stopping:
        try:
            broadcasts.send_stop(uc.dispatcher, occ, now=uc.now)
        except Exception as exc:
            log.warning("alert cancel: stop %s not sent (%s)", occ.id, exc)


def _cancel_notice(uc: UseCase, alert: CapAlert, devices: list[str]) -> None:
    """A short one-off notice on the loudspeakers that sounded the alert."""
    notice = _rendered_draft(
        uc,
        alert,
        f"Hủy cảnh báo: {alert.headline}"[:300],
        words.CANCEL_TEXT.format(title=alert.headline),
        {"cap_alert": alert.id, broadcasts.CANCELS: alert.id},
    )
    notice.status, notice.approver, notice.approved_at = "approved", uc.actor.username, uc.now
    lead = (
        uc.settings.emergency_lead_s if alert.level == "emergency" else uc.settings.broadcast_lead_s
    )
    schedule = Schedule(
        id=str(uuid.uuid4()),
        announcement_id=notice.id,
        title=notice.title,
        rrule=None,
        start_at=_whole_second(uc.now + timedelta(seconds=lead)),
        end_at=None,
        exdates=[],
        timezone=uc.settings.timezone,
        level=alert.level,
        volume=None,
        max_late_s=MAX_LATE_S,
        enabled=True,
        set_by=uc.actor.username,
        created_at=uc.now,
        updated_at=uc.now,
        targets=[ScheduleTarget(device_id=d) for d in devices],
    )
    uc.db.add(schedule)
    uc.db.flush()
    alert.notice_schedule_id = schedule.id
    uc.db.flush()
    mark_plan_dirty(uc.db)


# ---- people's use cases ---------------------------------------------------------------------


def get_alert(db: Session, alert_id: str) -> CapAlert:
    """The alert, or `NotFound`."""
    alert = db.get(CapAlert, alert_id)
    if alert is None:
        raise NotFound("alert_not_found", f"no alert {alert_id!r}")
    return alert


def approve_alert(uc: UseCase, alert_id: str) -> CapAlert:
    """One click: approve the alert's draft announcement, so its schedule starts playing."""
    alert = get_alert(uc.db, alert_id)
    if alert.state == "draft" and alert.announcement_id is not None:
        ann_id, schedule_id = alert.announcement_id, alert.schedule_id
    elif alert.state == "on_air" and alert.waiting_zones and alert.approval_announcement_id:
        # A split alert: the part on air alone needs nobody; this click is for the rest.
        ann_id, schedule_id = alert.approval_announcement_id, alert.approval_schedule_id
    else:
        raise Conflict("alert_not_draft", "only an alert awaiting approval can be approved")
    # The click on the alert's page is the confirmation an emergency needs.
    require_level(uc.actor, alert.level, confirmed=True)
    announcements.approve_announcement(uc, ann_id)
    schedule = uc.db.get(Schedule, schedule_id) if schedule_id else None
    if schedule is not None:
        # From now on its broadcasts are the approver's doing.
        schedule.set_by, schedule.updated_at = uc.actor.username, uc.now
    alert.state, alert.waiting_zones, alert.updated_at = "on_air", [], uc.now
    uc.db.flush()
    return alert


def write_alert_text(uc: UseCase, alert_id: str, title: str, text: str) -> CapAlert:
    """A person writes the Vietnamese words of an alert that came in another language (a draft)."""
    alert = get_alert(uc.db, alert_id)
    rights.require_alert_reach(uc.db, uc.actor, [f"zone:{z}" for z in alert.zones])
    if alert.state not in ("needs_text", "draft"):
        raise Conflict("alert_has_text", "this alert already has its words on air or is over")
    if not alert.zones:
        raise Conflict("alert_no_zone", "the alert covers no zone: map its area first")
    if not title.strip() or not text.strip():
        raise Invalid("empty_text", "write a title and the words to read")
    # A person's words are approved by another person, in every zone.
    ann = _announcement(uc, alert, title.strip()[:300], text.strip(), by_policy=False)
    plan = Plan(
        info=InfoSpec(
            "vi",
            alert.event,
            alert.urgency,
            alert.severity,
            alert.certainty,
            title,
            "",
            "",
            "",
            None,
            None,
            alert.expires,
            (),
        ),
        zones=list(alert.zones),
        level=alert.level,
        auto=False,
        repeat_hours=alert.repeat_hours,
        start=max(alert.effective, uc.now),
        end=alert.expires or uc.now + DEFAULT_IN_FORCE,
    )
    _schedule(uc, alert, ann, plan, plan.zones)
    _end_second_part(uc, alert)
    alert.state, alert.waiting_zones, alert.updated_at = "draft", list(alert.zones), uc.now
    uc.db.flush()
    return alert


def list_alerts(db: Session, *, limit: int = 100) -> list[CapAlert]:
    """Alerts, newest first."""
    return list(db.scalars(select(CapAlert).order_by(CapAlert.created_at.desc()).limit(limit)))


def list_messages(
    db: Session, *, limit: int = 100, alert_id: str | None = None, source: str | None = None
) -> list[CapMessage]:
    """Messages received, newest first (of one alert, or brought by one source, when given)."""
    query = select(CapMessage)
    if alert_id is not None:
        query = query.where(CapMessage.alert_id == alert_id)
    if source is not None:
        query = query.where(CapMessage.source == source)
    return list(
        db.scalars(query.order_by(CapMessage.received_at.desc(), CapMessage.id).limit(limit))
    )


def get_message(db: Session, message_id: str) -> CapMessage:
    """One received message, or `NotFound`."""
    row = db.get(CapMessage, message_id)
    if row is None:
        raise NotFound("message_not_found", f"no CAP message {message_id!r}")
    return row


def in_force(db: Session, zone_path: str, now: datetime) -> list[CapAlert]:
    """Alerts on air now whose zones include, or lie within, `zone_path` (the public page).

    A split alert is on air only where it is not waiting for approval.
    """
    out = []
    for alert in db.scalars(
        select(CapAlert).where(CapAlert.state == "on_air").order_by(CapAlert.effective.desc())
    ):
        if alert.effective > now or (alert.expires is not None and alert.expires <= now):
            continue
        if any(_related(zone_path, z) for z in alert.zones if z not in alert.waiting_zones):
            out.append(alert)
    return out


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


# ---- the admins' tables: publishers, feeds, geocodes, zone points ---------------------------


#: What CAP allows in `<sender>`: no whitespace, commas, `<` or `&` (CAP 1.2, 3.2.1).
SENDER_RE = re.compile(r"[^\s,<&]{1,300}")
MAX_SENDERS = 20


def _senders(senders: list[str]) -> list[str]:
    """The senders as given (trimmed, each once, in order), or `Invalid`: at least one."""
    found = list(dict.fromkeys(s.strip() for s in senders if s.strip()))
    if not found or len(found) > MAX_SENDERS or not all(SENDER_RE.fullmatch(s) for s in found):
        raise Invalid(
            "bad_senders",
            "name 1 to 20 CAP senders the publisher may use (no spaces, commas, < or &),"
            " e.g. kttv@nchmf.gov.vn",
        )
    return found


def create_publisher(
    uc: UseCase, name: str, zones: list[str], senders: list[str]
) -> tuple[CapPublisher, str]:
    """A new publisher with its push token (shown once), bound to its zones and CAP senders."""
    rights.require_alert_admin(uc.actor)
    name = name.strip().lower()
    if not USERNAME_RE.match(name):
        raise Invalid(
            "bad_publisher_name", "a publisher's name is lowercase letters, digits, . _ -"
        )
    paths = [z.strip().strip("/") for z in zones if z.strip()]
    if not paths or not all(ZONE_RE.match(z) for z in paths):
        raise Invalid("bad_zones", "name at least one zone the publisher may reach")
    for zone in paths:
        require_zone(uc.db, zone)
    allowed = _senders(senders)
    if uc.db.scalar(select(CapPublisher.id).where(CapPublisher.name == name)) is not None:
        raise Conflict("duplicate_publisher", f"publisher {name!r} exists")
    token = new_token()
    pub = CapPublisher(
        name=name,
        zones=paths,
        senders=allowed,
        digest=token_digest(token),
        active=True,
        created_at=uc.now,
    )
    uc.db.add(pub)
    uc.db.flush()
    return pub, token


def publisher_for_token(db: Session, token: str) -> CapPublisher | None:
    """The publisher holding `token` (locked or not: `push_cap` keeps a locked one's push as
    refused), or None for a token nobody holds — an old one after a rotation among them."""
    return db.scalar(select(CapPublisher).where(CapPublisher.digest == token_digest(token)))


def get_publisher(db: Session, publisher_id: int) -> CapPublisher:
    """The publisher, or `NotFound`."""
    pub = db.get(CapPublisher, publisher_id)
    if pub is None:
        raise NotFound("publisher_not_found", f"no publisher {publisher_id}")
    return pub


def lock_publisher(uc: UseCase, publisher_id: int) -> CapPublisher:
    """Lock a publisher: from now its pushes are kept as refused and its feeds are not read.

    Its alerts already on air stay (a person cancels them if they are false): a lock is about
    what the token may do next, and silencing warnings by locking their source would be a
    second, hidden way to cancel.
    """
    rights.require_alert_admin(uc.actor)
    pub = get_publisher(uc.db, publisher_id)
    if not pub.active:
        raise Conflict("publisher_locked_already", f"publisher {pub.name!r} is locked already")
    pub.active, pub.locked_at, pub.locked_by = False, uc.now, uc.actor.username
    uc.db.flush()
    return pub


def unlock_publisher(uc: UseCase, publisher_id: int) -> CapPublisher:
    """Unlock a publisher: its token (the current one) is honoured again."""
    rights.require_alert_admin(uc.actor)
    pub = get_publisher(uc.db, publisher_id)
    if pub.active:
        raise Conflict("publisher_not_locked", f"publisher {pub.name!r} is not locked")
    pub.active = True
    uc.db.flush()
    return pub


def set_publisher_senders(uc: UseCase, publisher_id: int, senders: list[str]) -> CapPublisher:
    """Replace the CAP senders a publisher may use (from its next push or feed poll on).

    Messages already received keep their verdicts: a sender taken away does not unsay them.
    """
    rights.require_alert_admin(uc.actor)
    pub = get_publisher(uc.db, publisher_id)
    pub.senders = _senders(senders)
    uc.db.flush()
    return pub


def rotate_publisher_token(uc: UseCase, publisher_id: int) -> tuple[CapPublisher, str]:
    """A new push token for the publisher (shown once); the old one is refused from now on."""
    rights.require_alert_admin(uc.actor)
    pub = get_publisher(uc.db, publisher_id)
    token = new_token()
    # The digest alone is masked in the audit log; the rotation shows there by its time.
    pub.digest, pub.token_rotated_at = token_digest(token), uc.now
    uc.db.flush()
    return pub, token


def refused_pushes(db: Session, publisher: CapPublisher, code: str = "publisher_locked") -> int:
    """How many of the publisher's messages were refused for `code` (by default: it was locked;
    `sender_not_allowed`: they named a sender it was not given)."""
    return (
        db.scalar(
            select(func.count()).where(
                CapMessage.source == PUBLISHER_PREFIX + publisher.name, CapMessage.code == code
            )
        )
        or 0
    )


def list_publishers(db: Session) -> list[CapPublisher]:
    """Every publisher, by name."""
    return list(db.scalars(select(CapPublisher).order_by(CapPublisher.name)))


def add_feed(uc: UseCase, publisher_id: int, url: str, interval_s: int = 300) -> CapFeed:
    """Poll `url` for the publisher's CAP every `interval_s` seconds."""
    rights.require_alert_admin(uc.actor)
    url = url.strip()
    if len(url) > 1000:
        raise Invalid("bad_url", "a feed is an http(s) URL")
    try:
        feed_guard(uc.settings).check(url)
    except RelayRefused as exc:
        code = "bad_url" if exc.code == "bad_source_url" else "feed_host_refused"
        raise Invalid(code, str(exc)) from exc
    if uc.db.get(CapPublisher, publisher_id) is None:
        raise Invalid("unknown_publisher", f"no publisher {publisher_id}")
    if not 60 <= interval_s <= 86_400:
        raise Invalid("bad_interval", "poll between once a minute and once a day")
    feed = CapFeed(
        url=url,
        publisher_id=publisher_id,
        interval_s=interval_s,
        failures=0,
        last_status="never",
        next_poll_at=uc.now,
        enabled=True,
        created_at=uc.now,
    )
    uc.db.add(feed)
    uc.db.flush()
    return feed


def list_feeds(db: Session) -> list[CapFeed]:
    """Every feed with its health."""
    return list(db.scalars(select(CapFeed).order_by(CapFeed.id)))


def remove_feed(uc: UseCase, feed_id: int) -> None:
    """Stop polling a feed (its messages stay)."""
    rights.require_alert_admin(uc.actor)
    feed = uc.db.get(CapFeed, feed_id)
    if feed is None:
        raise NotFound("feed_not_found", f"no feed {feed_id}")
    uc.db.delete(feed)
    uc.db.flush()


def set_geocode(uc: UseCase, value_name: str, value: str, zone_path: str) -> CapGeocode:
    """Map a CAP geocode to a zone (replacing an earlier mapping of the same code)."""
    rights.require_alert_admin(uc.actor)
    value_name, value = value_name.strip(), value.strip()
    if not value_name or not value or len(value_name) > 100 or len(value) > 200:
        raise Invalid("bad_geocode", "a geocode has a valueName and a value")
    zone = require_zone(uc.db, zone_path)
    row = uc.db.scalar(
        select(CapGeocode).where(CapGeocode.value_name == value_name, CapGeocode.value == value)
    )
    if row is None:
        row = CapGeocode(value_name=value_name, value=value, zone_path=zone.path, created_at=uc.now)
        uc.db.add(row)
    row.zone_path = zone.path
    uc.db.flush()
    return row


def remove_geocode(uc: UseCase, geocode_id: int) -> None:
    """Forget one geocode mapping."""
    rights.require_alert_admin(uc.actor)
    row = uc.db.get(CapGeocode, geocode_id)
    if row is None:
        raise NotFound("geocode_not_found", f"no geocode mapping {geocode_id}")
    uc.db.delete(row)
    uc.db.flush()


def list_geocodes(db: Session) -> list[CapGeocode]:
    """The geocode table."""
    return list(db.scalars(select(CapGeocode).order_by(CapGeocode.value_name, CapGeocode.value)))


def set_zone_point(uc: UseCase, zone_path: str, lat: float | None, lon: float | None) -> Zone:
    """Set (or clear, with None) the point a zone is found at by CAP polygons and circles."""
    rights.require_alert_admin(uc.actor)
    zone = require_zone(uc.db, zone_path)
    if (lat is None) != (lon is None):
        raise Invalid("bad_point", "give both latitude and longitude, or neither")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid("bad_point", "latitude within ±90, longitude within ±180")
    zone.latitude, zone.longitude, zone.updated_at = lat, lon, uc.now
    uc.db.flush()
    return zone


# ---- polled feeds ---------------------------------------------------------------------------


def feed_guard(settings: Settings) -> RelayGuard:
    """Where feeds and the alerts they link to may be read from: public addresses, plus the
    networks in `PA_CAP_FEED_ALLOWED_NETWORKS`. A feed's body is kept and shown on the alerts
    page, so a feed or link aimed at the server's own network would read it out."""
    return RelayGuard(
        parse_networks(settings.cap_feed_allowed_networks),
        setting="PA_CAP_FEED_ALLOWED_NETWORKS",
    )


def due_feeds(db: Session, now: datetime) -> list[int]:
    """Ids of enabled feeds whose next poll is due."""
    return list(
        db.scalars(
            select(CapFeed.id).where(
                CapFeed.enabled.is_(True),
                (CapFeed.next_poll_at.is_(None)) | (CapFeed.next_poll_at <= now),
            )
        )
    )


def poll_feed(uc: UseCase, feed_id: int, client: httpx.Client) -> CapFeed | None:
    """Fetch one feed (conditionally), receive each CAP document in it, record its health.

    The messages are received as the feed's publisher (`cap:<name>`). Returns the feed, or None
    when it is gone.
    """
    feed = uc.db.get(CapFeed, feed_id)
    if feed is None:
        return None
    pub = uc.db.get(CapPublisher, feed.publisher_id)
    feed.last_polled_at = uc.now
    if pub is None or not pub.active:
        feed.last_status, feed.last_error = "error", "Nguồn phát hành đã bị khóa."
        feed.next_poll_at = uc.now + timedelta(seconds=feed.interval_s)
        return feed
    uc = replace(uc, actor=publisher_actor(pub))
    limit = uc.settings.cap_max_bytes
    check = feed_guard(uc.settings).check
    try:
        got = feeds.fetch(
            client,
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            max_bytes=limit,
            check=check,
        )
        if got.not_modified:
            feed.last_status = "not_modified"
        else:
            found = feeds.entries(got.body, max_bytes=limit)
            documents = list(found.documents)
            broken: CapError | None = None
            for link in found.links:
                try:
                    linked = feeds.fetch(
                        client, link, etag=None, last_modified=None, max_bytes=limit, check=check
                    )
                except CapError as exc:
                    # One bad link must not hold back the feed's other alerts.
                    log.warning("CAP feed %s: link %s: %s", feed.url, link, exc)
                    broken = broken or exc
                    continue
                documents.append(linked.body)
            for doc in documents:
                if not _received_before(uc.db, doc, uc.actor.username):
                    receive(uc, doc, Door("feed", feed.id, pub))
            if broken is not None:
                # The validators are not kept: the next poll reads the feed again and retries
                # the link (what was received is not received twice).
                raise broken
            feed.etag, feed.last_modified = got.etag, got.last_modified
            feed.last_status = "ok"
        feed.failures, feed.last_error, feed.last_ok_at = 0, None, uc.now
    except CapError as exc:
        feed.failures += 1
        feed.last_status, feed.last_error = "error", exc.reason
        log.warning("CAP feed %s: %s", feed.url, exc)
    feed.next_poll_at = feeds.next_poll(uc.now, timedelta(seconds=feed.interval_s), feed.failures)
    uc.db.flush()
    return feed


#: Who polls the feeds before a publisher is known (a feed's messages are its publisher's).
FEED_POLLER = Actor(id=0, username="system:cap-feeds", role=Role.VIEWER)


def _received_before(db: Session, data: bytes, source: str) -> bool:
    """True when this exact document was kept already from `source` (a feed lists its entries
    again). Only its own: a copy another publisher sent first must not keep it out."""
    return (
        db.scalar(
            select(func.count()).where(CapMessage.raw == _text(data), CapMessage.source == source)
        )
        or 0
    ) > 0
