"""The rights rules, once, applied to the state an action would produce (docs/accounts.md).

`pa_server.auth.rights` holds the pure rules over targets and roles; this module gives them the
facts from the store that they need — where an announcement is heard, which zone a device
hangs in, who last changed a text — so that every service function asks one question per use
case, about the result, not about the fields a request happened to change:

- an operator (and a commune approver) acts only on announcements, schedules, broadcasts and
  devices whose every target lies in its zones; an announcement's targets are the zones and
  devices it is scheduled or broadcast in, and before it has any, its author's zones;
- the approver of a text and its rendition is not whoever last changed either;
- a schedule or broadcast is checked as if it were created in its new form: targets, level
  (an emergency is an admin's, with an explicit confirmation), announcement, times;
- acting on an existing schedule or broadcast also needs the right to what it is now (an
  operator cannot take over an admin's emergency schedule by editing it);
- the zone tree is an admin's to change;
- viewers change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.protocol import EMERGENCY_PRIORITY
from pa_server.auth.errors import Forbidden
from pa_server.auth.models import User
from pa_server.auth.rights import (
    Actor,
    Role,
    require_admin,
    require_approve,
    require_level,
    require_targets,
    require_writer,
)
from pa_server.db.models import Announcement, Device, LiveSessionRow, Occurrence, Schedule


def _device_zones(db: Session, targets: Iterable[str]) -> dict[str, str]:
    ids = [t.partition(":")[2] for t in targets if t.startswith("device:")]
    if not ids:
        return {}
    query = select(Device.id, Device.zone_path).where(Device.id.in_(ids))
    return {device_id: zone for device_id, zone in db.execute(query)}  # noqa: C416


def require_reach(db: Session, actor: Actor, targets: Iterable[str]) -> None:
    """Refuse unless every target (`zone:…` / `device:…`) lies inside the actor's zones."""
    listed = list(targets)
    require_targets(actor, listed, _device_zones(db, listed))


def announcement_targets(db: Session, announcement_id: str) -> set[str]:
    """Where an announcement is heard: its schedules' targets and its live broadcasts'."""
    targets: set[str] = set()
    for schedule in db.scalars(select(Schedule).where(Schedule.announcement_id == announcement_id)):
        targets.update(t.target for t in schedule.targets)
    for occ_targets in db.scalars(
        select(Occurrence.targets).where(
            Occurrence.announcement_id == announcement_id,
            Occurrence.status.in_(("planned", "sent")),
        )
    ):
        targets.update(occ_targets)
    return targets


def author_zones(db: Session, author: str) -> tuple[str, ...] | None:
    """The zones an author acts in; None when they act everywhere or are unknown (CLI, demo)."""
    user = db.scalar(select(User).where(User.username == author))
    if user is None:
        return None
    if user.role == Role.ADMIN or (user.role == Role.APPROVER and not user.zones):
        return None
    return tuple(user.zones or ())


def require_announcement(db: Session, actor: Actor, ann: Announcement) -> None:
    """Refuse changing `ann` (edit, render, record, archive, withdraw, delete) out of scope."""
    require_writer(actor)
    targets = announcement_targets(db, ann.id)
    if targets:
        require_reach(db, actor, targets)
        return
    # Not heard anywhere yet: it belongs to where its author works.
    if ann.author == actor.username:
        return
    zones = author_zones(db, ann.author)
    if zones is None:
        require_reach(db, actor, ["zone:"])  # only those who act everywhere
    else:
        require_reach(db, actor, [f"zone:{z}" for z in zones] or ["zone:"])


def last_editor(ann: Announcement) -> str:
    """Who last changed what `ann` says or how it sounds."""
    return ann.last_editor or ann.author


def require_approval(db: Session, actor: Actor, ann: Announcement) -> None:
    """Refuse approving or rejecting `ann` unless by another approver in scope."""
    require_approve(actor, last_editor(ann))
    require_announcement(db, actor, ann)


def require_schedule(db: Session, actor: Actor, schedule: Schedule) -> None:
    """Refuse touching `schedule` as it stands: its targets, and its level if an emergency."""
    require_reach(db, actor, [t.target for t in schedule.targets])
    if schedule.level == "emergency":
        require_level(actor, "emergency", confirmed=True)


def require_new_schedule(
    db: Session, actor: Actor, *, targets: Iterable[str], level: str, confirmed: bool
) -> None:
    """Refuse a schedule in this form (as if it were created now)."""
    require_level(actor, level, confirmed=confirmed)
    require_reach(db, actor, targets)


def require_occurrence(db: Session, actor: Actor, occ: Occurrence) -> None:
    """Refuse stopping `occ` unless all its targets are the actor's; an emergency is an admin's."""
    require_reach(db, actor, occ.targets)
    if occ.priority >= EMERGENCY_PRIORITY and actor.role is not Role.ADMIN:
        raise Forbidden("emergency_admin_only", "Chỉ quản trị viên mới được dừng tin khẩn cấp.")


def require_live_session(db: Session, actor: Actor, row: LiveSessionRow) -> None:
    """Refuse acting on a live session (stop, speak) unless all its targets are the actor's;
    an emergency one is an admin's. Starting one is `require_level` + `require_reach` on the
    session as it would be, like a broadcast."""
    require_reach(db, actor, row.targets)
    if row.level == "emergency" and actor.role is not Role.ADMIN:
        raise Forbidden("emergency_admin_only", "Chỉ quản trị viên mới được dừng tin khẩn cấp.")


def require_device(db: Session, actor: Actor, device: Device) -> None:
    """Refuse commanding or changing a device outside the actor's zones."""
    require_reach(db, actor, [f"device:{device.id}"])


def require_zone_tree(actor: Actor) -> None:
    """Refuse changing the zone tree (add, rename, quiet hours, volumes, delete) but by an admin.

    The tree is the district's map: every operator's rights, schedule and agent config hang on
    it, so one commune's operator may not reshape it, not even below their own commune.
    """
    require_admin(actor)


def require_alert_admin(actor: Actor) -> None:
    """Refuse managing CAP publishers, feeds, the geocode table and zone points unless admin."""
    if actor.role is not Role.ADMIN:
        raise Forbidden("admin_only", "Chỉ quản trị viên được quản lý nguồn cảnh báo.")


def require_alert_upload(actor: Actor, roles: Iterable[str]) -> None:
    """Refuse uploading a CAP file unless the district's policy lets this role do it."""
    require_writer(actor)
    if actor.role.value not in set(roles):
        raise Forbidden("alert_upload_refused", "Vai trò của bạn không được nạp bản tin cảnh báo.")


def require_alert_reach(db: Session, actor: Actor, targets: Iterable[str]) -> None:
    """Refuse an alert (as it would be planned) unless its targets lie in the actor's zones.

    A publisher acts as `cap:<name>` with its own zones; a person with theirs.
    """
    require_reach(db, actor, targets)


def require_alert_change(db: Session, actor: Actor, publisher: str, targets: Iterable[str]) -> None:
    """Refuse updating or cancelling an alert unless by the publisher that sent it (or a
    person), in reach of its targets as they stand."""
    if actor.username.startswith("cap:") and actor.username != publisher:
        raise Forbidden("alert_other_publisher", "Chỉ nguồn đã phát cảnh báo được sửa hay hủy nó.")
    require_reach(db, actor, targets)


def reachable_zone(actor: Actor, zone_path: str) -> bool:
    """True when `actor` may act in `zone_path` (for pickers: what to offer)."""
    try:
        require_targets(actor, [f"zone:{zone_path}"], {})
    except Forbidden:
        return False
    return True


__all__ = [
    "announcement_targets",
    "last_editor",
    "reachable_zone",
    "require_alert_admin",
    "require_alert_change",
    "require_alert_reach",
    "require_alert_upload",
    "require_announcement",
    "require_approval",
    "require_device",
    "require_live_session",
    "require_new_schedule",
    "require_occurrence",
    "require_reach",
    "require_schedule",
    "require_zone_tree",
]
