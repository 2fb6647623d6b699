"""Zones: the district → commune → village tree.

A person names a zone in Vietnamese ("Xã Tân Tiến") under its parent; its slug path
(`vinh-tuong/xa-tan-tien`) is derived from the name (diacritics stripped, đ → d, lowercase,
hyphens; unique among its siblings) and never typed nor shown on a page. Renaming changes the
name only: the path is the zone's id, named by schedules, devices, accounts and agents'
configs. Changing the tree is an admin's (`rights.require_zone_tree`); every change is
row-audited under the person acting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import time

from slugify import slugify
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.protocol import MAX_ZONE_DEPTH
from pa_server.auth.models import User
from pa_server.db.models import Device, Schedule, ScheduleTarget, Zone
from pa_server.schemas.zones import ZoneCreate, ZoneNode, ZonePublic, ZoneUpdate
from pa_server.services import rights
from pa_server.services.context import UseCase
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound
from pa_server.services.validation import check_timezone, check_volume, check_zone_path

#: Top-level slugs that would shadow `/api/v1/zones/<route>`.
RESERVED_TOP_LEVEL = frozenset({"tree"})
#: Longest slug derived for one level (a path has at most MAX_ZONE_DEPTH levels).
MAX_SLUG = 60


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


def require_zones(session: Session, paths: list[str]) -> None:
    """Refuse (`unknown_zone`) unless every path names an existing zone."""
    for path in paths:
        require_zone(session, path.strip().strip("/"))


def list_zones(session: Session) -> list[Zone]:
    """Every zone, parents before children."""
    return list(session.scalars(select(Zone).order_by(Zone.path)))


def zone_slug(name: str) -> str:
    """The slug of a Vietnamese name: "Xã Tân Tiến" → "xa-tan-tien" ("" when nothing is left).

    python-slugify transliterates with text-unidecode, which maps đ/Đ to d (a plain
    NFD-and-drop-marks would keep đ, which is a letter of its own, not a d with a mark).
    """
    return slugify(name, max_length=MAX_SLUG, word_boundary=True)


def _siblings(session: Session, parent: str | None) -> list[Zone]:
    query = select(Zone).where(
        Zone.parent_path.is_(None) if parent is None else Zone.parent_path == parent
    )
    return list(session.scalars(query))


def _check_unique_name(session: Session, parent: str | None, name: str, path: str | None) -> None:
    folded = name.casefold()
    for sibling in _siblings(session, parent):
        if sibling.path != path and sibling.name.strip().casefold() == folded:
            raise Invalid("duplicate_name", f"{parent or 'the top'} already has a zone {name!r}")


def _derived_path(session: Session, parent: str | None, name: str) -> str:
    slug = zone_slug(name)
    if not slug:
        raise Invalid("invalid_name", f"{name!r} has no letter or digit to make a slug from")
    prefix = f"{parent}/" if parent else ""
    taken = {z.path for z in _siblings(session, parent)} | {
        f"{prefix}{r}" for r in RESERVED_TOP_LEVEL if not parent
    }
    path, n = f"{prefix}{slug}", 1
    while path in taken:
        n += 1
        path = f"{prefix}{slug}-{n}"
    return path


def create_zone(uc: UseCase, data: ZoneCreate) -> Zone:
    """Add a zone under its existing parent (admins): by `parent` and `name`, the slug derived,
    or by an explicit `path` (scripts, the demo)."""
    session, now = uc.db, uc.now
    rights.require_zone_tree(uc.actor)
    name = data.name.strip()
    if not name:
        raise Invalid("invalid_name", "a zone needs a name")
    if data.path is not None:
        path = check_zone_path(data.path)
        parent = path.rpartition("/")[0] or None
        if data.parent is not None and (data.parent.strip("/") or None) != parent:
            raise Invalid("invalid_slug", f"path {path!r} is not under parent {data.parent!r}")
    else:
        parent = (data.parent or "").strip().strip("/") or None
        if parent is not None:
            check_zone_path(parent)
        path = ""
    if parent is not None and session.get(Zone, parent) is None:
        raise Invalid("unknown_zone", f"parent zone {parent!r} does not exist: create it first")
    if parent is not None and parent.count("/") + 1 >= MAX_ZONE_DEPTH:
        raise Invalid("zone_too_deep", f"zones nest at most {MAX_ZONE_DEPTH} levels")
    if not path:
        path = _derived_path(session, parent, name)
    if path in RESERVED_TOP_LEVEL:
        raise Invalid("invalid_slug", f"{path!r} is reserved (it names an API route)")
    if session.get(Zone, path) is not None:
        raise Invalid("duplicate_id", f"zone {path!r} already exists")
    _check_unique_name(session, parent, name, None)
    tz = data.timezone or uc.settings.timezone
    check_timezone(tz)
    check_quiet_hours(data.quiet_start, data.quiet_end)
    zone = Zone(
        path=path,
        parent_path=parent,
        name=name,
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


def update_zone(uc: UseCase, path: str, data: ZoneUpdate) -> Zone:
    """Rename a zone or change its quiet hours, time zone or volumes (admins); the path stays."""
    session = uc.db
    zone = get_zone(session, path)
    rights.require_zone_tree(uc.actor)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name:
            raise Invalid("invalid_name", "a zone needs a name")
        _check_unique_name(session, zone.parent_path, name, zone.path)
        changes["name"] = name
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
    zone.updated_at = uc.now
    session.flush()
    mark_plan_dirty(session)
    return zone


@dataclass(frozen=True)
class ZoneUsage:
    """What keeps a zone from being deleted: what hangs in it or names it."""

    children: list[str]
    devices: list[str]
    schedules: list[str]
    users: list[str]

    @property
    def empty(self) -> bool:
        """True when nothing uses the zone."""
        return not (self.children or self.devices or self.schedules or self.users)


def zone_usage(session: Session, path: str) -> ZoneUsage:
    """The child zones, devices (ids), schedules (titles) and accounts (logins) of a zone."""
    children = session.scalars(
        select(Zone.name).where(Zone.parent_path == path).order_by(Zone.name)
    )
    devices = session.scalars(select(Device.id).where(Device.zone_path == path).order_by(Device.id))
    titles = session.scalars(
        select(Schedule.title)
        .join(ScheduleTarget, ScheduleTarget.schedule_id == Schedule.id)
        .where(ScheduleTarget.zone_path == path)
        .order_by(Schedule.title)
    )
    users = [
        u.username
        for u in session.scalars(select(User).order_by(User.username))
        if path in (z.strip("/") for z in u.zones or ())
    ]
    return ZoneUsage(list(children), list(devices), list(dict.fromkeys(titles)), users)


def delete_zone(uc: UseCase, path: str) -> None:
    """Remove an empty zone (admins): no child zone or device, no schedule or account names it."""
    session = uc.db
    zone = get_zone(session, path)
    rights.require_zone_tree(uc.actor)
    usage = zone_usage(session, path)
    if not usage.empty:
        raise Conflict(
            "zone_in_use",
            f"zone {path!r} has {len(usage.children)} child zones, {len(usage.devices)} devices, "
            f"is the target of {len(usage.schedules)} schedules and is given to "
            f"{len(usage.users)} accounts",
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
