"""Rights on the API: the lookups that turn a request into `pa_server.auth.rights` checks.

Routes call these with the signed-in `Actor`; each raises `Forbidden` (→ 403 with a code).
An emergency (khẩn cấp) schedule or broadcast needs an admin and `?confirm_emergency=true`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import Query, Request
from sqlalchemy.orm import Session

from pa_server.auth.rights import (
    Actor,
    require_level,
    require_targets,
    require_writer,
    require_zone,
)
from pa_server.db.models import Announcement, Device, Occurrence, Schedule
from pa_server.services.audience import device_zones

#: Explicit confirmation of an emergency broadcast (the pages use a checkbox).
ConfirmEmergency = Annotated[bool, Query(description="confirm an emergency (khẩn cấp) level")]

#: Writes every signed-in person may make about themselves (their own API tokens).
SELF_SERVICE_PREFIXES = ("/api/v1/tokens",)


def refuse_viewer_writes(request: Request, actor: Actor) -> None:
    """Viewers read only: any POST, PATCH or DELETE outside self-service is refused."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.url.path.startswith(SELF_SERVICE_PREFIXES):
        return
    require_writer(actor)


def check_targets(
    session: Session,
    actor: Actor,
    zones: Iterable[str],
    devices: Iterable[str],
    *,
    level: str | None,
    announcement_id: str | None,
    confirmed: bool,
) -> None:
    """Refuse targets outside the actor's zones, and an emergency without admin + confirmation."""
    targets = [f"zone:{z.strip('/')}" for z in zones] + [f"device:{d}" for d in devices]
    require_targets(actor, targets, dict(device_zones(session)))
    if level is None and announcement_id is not None:
        ann = session.get(Announcement, announcement_id)
        level = ann.level if ann is not None else None
    require_level(actor, level or "normal", confirmed=confirmed)


def check_device(session: Session, actor: Actor, device_id: str) -> None:
    """Refuse acting on a device outside the actor's zones (an unknown one is the route's 404)."""
    device = session.get(Device, device_id)
    if device is not None:
        require_zone(actor, device.zone_path)


def check_schedule(session: Session, actor: Actor, schedule_id: str) -> None:
    """Refuse changing a schedule that reaches outside the actor's zones."""
    schedule = session.get(Schedule, schedule_id)
    if schedule is not None:
        require_targets(actor, [t.target for t in schedule.targets], dict(device_zones(session)))


def check_occurrence(session: Session, actor: Actor, occurrence_id: str) -> None:
    """Refuse stopping a broadcast that reaches outside the actor's zones."""
    occ = session.get(Occurrence, occurrence_id)
    if occ is not None:
        require_targets(actor, occ.targets, dict(device_zones(session)))
