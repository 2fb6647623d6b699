"""Zones: the district → commune → village tree, named by slug paths."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pa_server.db.models import Device, ScheduleTarget, Zone
from pa_server.schemas.zones import ZoneCreate, ZoneNode, ZonePublic, ZoneUpdate
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound
from pa_server.services.validation import check_timezone, check_volume, check_zone_path

#: Top-level slugs that would shadow `/api/v1/zones/<route>`.
RESERVED_TOP_LEVEL = frozenset({"tree"})


def get_zone(session: Session, path: str) -> Zone:
    """The zone at `path`, or `NotFound`."""
    zone = session.get(Zone, path)
    if zone is None:
        raise NotFound("zone_not_found", f"no zone {path!r}")
    return zone


def require_zone(session: Session, path: str) -> Zone:
    """The zone a request refers to, or `Invalid('unknown_zone')` (a bad reference, not a URL)."""
    check_zone_path(path)
    zone = session.get(Zone, path)
    if zone is None:
        raise Invalid("unknown_zone", f"unknown zone {path!r}")
    return zone


def list_zones(session: Session) -> list[Zone]:
    """Every zone, parents before children."""
    return list(session.scalars(select(Zone).order_by(Zone.path)))


def create_zone(
    session: Session, data: ZoneCreate, *, default_timezone: str, now: datetime
) -> Zone:
    """Add a zone under its existing parent (a top-level path needs no parent)."""
    path = check_zone_path(data.path)
    if path in RESERVED_TOP_LEVEL:
        raise Invalid("invalid_slug", f"{path!r} is reserved (it names an API route)")
    if session.get(Zone, path) is not None:
        raise Invalid("duplicate_id", f"zone {path!r} already exists")
    parent = path.rpartition("/")[0] or None
    if parent is not None and session.get(Zone, parent) is None:
        raise Invalid("unknown_zone", f"parent zone {parent!r} does not exist: create it first")
    tz = data.timezone or default_timezone
    check_timezone(tz)
    check_quiet_hours(data.quiet_start, data.quiet_end)
    zone = Zone(
        path=path,
        parent_path=parent,
        name=data.name.strip(),
        quiet_start=data.quiet_start,
        quiet_end=data.quiet_end,
        timezone=tz,
        default_volume=check_volume(data.default_volume),
        emergency_volume=check_volume(data.emergency_volume),
        created_at=now,
        updated_at=now,
    )
    session.add(zone)
    session.flush()
    mark_plan_dirty(session)
    return zone


def update_zone(session: Session, path: str, data: ZoneUpdate, *, now: datetime) -> Zone:
    """Change a zone's name, quiet hours, time zone or default volume (the path is its id)."""
    zone = get_zone(session, path)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise Invalid("invalid_name", "a zone needs a name")
    if changes.get("timezone") is not None:
        check_timezone(changes["timezone"])
    elif "timezone" in changes:
        del changes["timezone"]
    check_volume(changes.get("default_volume"))
    check_volume(changes.get("emergency_volume"))
    check_quiet_hours(
        changes.get("quiet_start", zone.quiet_start), changes.get("quiet_end", zone.quiet_end)
    )
    for key, value in changes.items():
        setattr(zone, key, value)
    zone.updated_at = now
    session.flush()
    mark_plan_dirty(session)
    return zone


def delete_zone(session: Session, path: str) -> None:
    """Remove an empty zone: no child zones, no devices, no schedule aims at it."""
    zone = get_zone(session, path)
    children = session.scalar(select(func.count()).where(Zone.parent_path == path))
    devices = session.scalar(select(func.count()).where(Device.zone_path == path))
    targets = session.scalar(select(func.count()).where(ScheduleTarget.zone_path == path))
    if children or devices or targets:
        raise Conflict(
            "zone_in_use",
            f"zone {path!r} has {children} child zones, {devices} devices and is the target "
            f"of {targets} schedules",
        )
    session.delete(zone)
    session.flush()
    mark_plan_dirty(session)


def zone_tree(session: Session) -> list[ZoneNode]:
    """The zones as a forest of nodes with their direct device counts."""
    grouped = session.execute(select(Device.zone_path, func.count()).group_by(Device.zone_path))
    counts = Counter({zone: int(n) for zone, n in grouped})
    nodes: dict[str, ZoneNode] = {}
    roots: list[ZoneNode] = []
    # Shallow first, so a parent's node exists before its children (collations vary).
    for zone in sorted(list_zones(session), key=lambda z: (z.path.count("/"), z.path)):
        node = ZoneNode.model_validate(
            {**ZonePublic.model_validate(zone).model_dump(), "device_count": counts[zone.path]}
        )
        nodes[zone.path] = node
        parent = nodes.get(zone.parent_path) if zone.parent_path else None
        (parent.children if parent else roots).append(node)
    return roots


def check_quiet_hours(start: time | None, end: time | None) -> None:
    """Both bounds or neither (neither inherits the parent's), else `invalid_quiet_hours`."""
    if (start is None) != (end is None):
        raise Invalid("invalid_quiet_hours", "give both quiet-hour bounds or neither (inherit)")


def subtree_paths(session: Session, path: str) -> list[str]:
    """`path` and every zone below it."""
    return list(
        session.scalars(
            select(Zone.path).where((Zone.path == path) | Zone.path.startswith(path + "/"))
        )
    )
