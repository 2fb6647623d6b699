"""Devices: the loudspeaker agents, where they hang, their broker credentials, commands to them.

Every change is a use case taking a `UseCase`: the device as it is and as it would be must lie
in the actor's zones (moving a loudspeaker needs both ends), commands are audited.

An agent's config names its zone (it listens to that zone's topics, and the broker lets it read
only its zone's), and its broker password is stored only as a hash: so a loudspeaker that is
registered, moved or given a new password gets a whole new config, shown once
(`pa_server.services.provisioning.device_config_toml`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slugify import slugify
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from devices.protocol import device_target
from pa_server.auth import audit
from pa_server.auth.rights import require_writer
from pa_server.db.models import Device, DeviceState, Schedule, ScheduleTarget
from pa_server.messaging.broker_acl import DEFAULT_SERVER_USER, new_device_password
from pa_server.schemas.devices import DeviceCreate, DevicePublic, DeviceUpdate
from pa_server.services import rights
from pa_server.services import search as search_in
from pa_server.services.context import UseCase
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound
from pa_server.services.validation import check_device_id, check_volume
from pa_server.services.zones import require_zone, subtree_paths


def get_device(session: Session, device_id: str) -> Device:
    """The device `device_id`, or `NotFound`."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device_not_found", f"no device {device_id!r}")
    return device


def require_device(session: Session, device_id: str) -> Device:
    """A device a request refers to, or `Invalid('unknown_device')`."""
    check_device_id(device_id)
    device = session.get(Device, device_id)
    if device is None:
        raise Invalid("unknown_device", f"unknown device {device_id!r}")
    return device


def _derived_id(session: Session, zone_path: str, name: str) -> str:
    """ "xa-tan-tien-loa-cho" for "Loa chợ" in …/xa-tan-tien: unique, [a-z0-9-]{1,64}."""
    base = slugify(f"{zone_path.rpartition('/')[2]} {name}", max_length=56, word_boundary=True)
    base = base or "loa"
    device_id, n = base, 1
    while session.get(Device, device_id) is not None:
        n += 1
        device_id = f"{base}-{n}"
    return device_id


def create_device(uc: UseCase, data: DeviceCreate) -> tuple[Device, str]:
    """Register a device in an existing zone; returns it and its new broker password.

    Without an id, the id is derived from the zone and the name, and the name must be new in
    the zone (two "Loa chợ" in one commune could not be told apart, and a form sent twice
    must not register the loudspeaker twice).
    """
    session, now = uc.db, uc.now
    require_writer(uc.actor)
    rights.require_reach(session, uc.actor, [f"zone:{data.zone.strip('/')}"])
    zone = require_zone(session, data.zone)
    name = data.name.strip()
    if data.id is None:
        if not name:
            raise Invalid("invalid_name", "a loudspeaker needs a name (its id is derived from it)")
        _check_unique_name(session, zone.path, name, None)
        device_id = _derived_id(session, zone.path, name)
    else:
        device_id = check_device_id(data.id)
    if device_id == (uc.settings.mqtt_username or DEFAULT_SERVER_USER):
        raise Invalid("reserved_id", f"{device_id!r} is the server's broker username")
    if session.get(Device, device_id) is not None:
        raise Invalid("duplicate_id", f"device {device_id!r} already exists")
    password, hashed = new_device_password()
    device = Device(
        id=device_id,
        zone_path=zone.path,
        name=name,
        location=data.location.strip(),
        credential_hash=hashed,
        created_at=now,
        updated_at=now,
    )
    session.add(device)
    session.flush()
    mark_plan_dirty(session)
    return device, password


def _check_unique_name(session: Session, zone_path: str, name: str, device_id: str | None) -> None:
    query = select(Device.id, Device.name).where(Device.zone_path == zone_path)
    for other_id, other_name in session.execute(query):
        if other_id != device_id and other_name.strip().casefold() == name.casefold():
            raise Invalid("duplicate_name", f"zone {zone_path!r} already has a device {name!r}")


def list_devices(
    session: Session,
    *,
    zone: str | None = None,
    within: Sequence[str] | None = None,
    limit: int,
    offset: int,
    search: str | None = None,
) -> tuple[list[Device], int]:
    """One page of devices (ordered by id), optionally in a zone and below it, or within any of
    several zones (`within`: a person's own zones); and the total.

    `search` matches the name, id and place, and the name of the zone it sits in (in SQL).
    """
    query = _device_query(session, zone=zone, within=within, search=search)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Device.id).limit(limit).offset(offset)).unique()
    return list(rows), total


def link_counts(
    session: Session,
    *,
    zone: str | None = None,
    within: Sequence[str] | None = None,
    search: str | None = None,
) -> dict[str, int]:
    """How many of the listed devices are online, offline and never connected (in SQL)."""
    listed = _device_query(session, zone=zone, within=within, search=search).subquery()
    link = case(
        (DeviceState.online.is_(True), "online"),
        (DeviceState.online.is_(False), "offline"),
        else_="never",
    )
    rows = session.execute(
        select(link, func.count())
        .select_from(listed)
        .outerjoin(DeviceState, DeviceState.device_id == listed.c.id)
        .group_by(link)
    )
    counts = {"online": 0, "offline": 0, "never": 0}
    counts.update({key: int(n) for key, n in rows})
    return counts


def _device_query(
    session: Session,
    *,
    zone: str | None,
    within: Sequence[str] | None = None,
    search: str | None = None,
) -> Select[Any]:
    query = select(Device)
    if zone is not None:
        require_zone(session, zone)
        query = query.where(Device.zone_path.in_(subtree_paths(session, zone)))
    if within is not None:
        roots = [z.strip("/") for z in within]
        query = query.where(
            or_(
                *(Device.zone_path == r for r in roots),
                *(Device.zone_path.startswith(r + "/") for r in roots),
            )
            if roots
            else Device.id.is_(None)
        )
    if search:
        query = query.where(
            or_(
                search_in.contains(search, Device.id, Device.name, Device.location),
                Device.zone_path.in_(search_in.zone_paths_named(session, search)),
            )
        )
    return query


def update_device(uc: UseCase, device_id: str, data: DeviceUpdate) -> Device:
    """Rename or relocate a device within its zone; `zone` may only repeat the one it has.

    Changing the zone is `move_device`'s alone: a moved agent must get a new password (its old
    one is scoped to the old zone's topics and the old zone's operators may hold it), and this
    use case has no way to hand one back. So a different zone is `zone_change_needs_move`.
    """
    session, now = uc.db, uc.now
    device = get_device(session, device_id)
    rights.require_device(session, uc.actor, device)
    if data.zone is not None:
        target = require_zone(session, data.zone.strip().strip("/"))
        if target.path != device.zone_path:
            raise Invalid(
                "zone_change_needs_move",
                f"device {device.id!r} changes zone only by POST /api/v1/devices/{device.id}/move,"
                " which gives it the new broker password its new zone needs",
            )
    if data.name is not None:
        if device.name and not data.name.strip():
            raise Invalid("invalid_name", "a loudspeaker's name cannot be emptied")
        device.name = data.name.strip()
        if device.name:
            _check_unique_name(session, device.zone_path, device.name, device.id)
    if data.location is not None:
        device.location = data.location.strip()
    device.updated_at = now
    session.flush()
    mark_plan_dirty(session)
    return device


def move_device(uc: UseCase, device_id: str, zone: str) -> tuple[Device, str]:
    """Move a device to another zone and give it a new broker password, for its new config.

    The agent's config names its zone, and the broker lets it read only its zone's topics:
    until it gets the new config it hears only what is sent to it by id.
    """
    device = get_device(uc.db, device_id)
    rights.require_device(uc.db, uc.actor, device)
    target = require_zone(uc.db, zone.strip().strip("/"))
    rights.require_reach(uc.db, uc.actor, [f"zone:{target.path}"])
    if device.name:
        _check_unique_name(uc.db, target.path, device.name, device.id)
    device.zone_path = target.path
    password, device.credential_hash = new_device_password()
    device.updated_at = uc.now
    uc.db.flush()
    mark_plan_dirty(uc.db)
    return device, password


def reset_password(uc: UseCase, device_id: str) -> str:
    """Give a device a new broker password; the old one stops working at its next login."""
    device = get_device(uc.db, device_id)
    rights.require_device(uc.db, uc.actor, device)
    password, device.credential_hash = new_device_password()
    device.updated_at = uc.now
    uc.db.flush()
    return password


def device_schedules(session: Session, device_id: str) -> list[Schedule]:
    """The schedules that name this device itself as a target (not through its zone)."""
    query = (
        select(Schedule)
        .join(ScheduleTarget, ScheduleTarget.schedule_id == Schedule.id)
        .where(ScheduleTarget.device_id == device_id)
        .order_by(Schedule.title)
    )
    return list(session.scalars(query).unique())


def delete_device(uc: UseCase, device_id: str) -> None:
    """Retire a device that no schedule names (its receipts go with it).

    A schedule that names the loudspeaker itself is never rewritten behind its author's back
    (that is the schedule's own use case, with its own rights): retiring is refused
    (`device_in_use`) until those schedules are changed or deleted. A schedule aimed at the
    loudspeaker's zone simply stops reaching it.
    """
    session = uc.db
    device = get_device(session, device_id)
    rights.require_device(session, uc.actor, device)
    named = device_schedules(session, device_id)
    if named:
        raise Conflict(
            "device_in_use",
            f"device {device_id!r} is a target of {len(named)} schedules: change them first",
        )
    session.delete(device)
    session.flush()
    mark_plan_dirty(session)


def ping_device(uc: UseCase, device_id: str) -> str:
    """Ask the agent to republish its state; returns the target it was sent to."""
    return _command(uc, device_id, "ping", {})


def set_volume(uc: UseCase, device_id: str, volume: int) -> str:
    """Set the agent's volume (0–100); returns the target it was sent to."""
    check_volume(volume)
    return _command(uc, device_id, "volume", {"volume": volume})


def _command(uc: UseCase, device_id: str, kind: str, body: dict[str, Any]) -> str:
    device = get_device(uc.db, device_id)
    rights.require_device(uc.db, uc.actor, device)
    dispatcher = uc.require_dispatcher()
    target = device_target(device.id)
    dispatcher.command(target, kind, body, now=uc.now)
    audit.record(uc.db, kind, "devices", device.id, after=dict(body), now=uc.now)
    return target


def clock_flags(offset_ms: int | None, synced: bool | None, *, threshold_s: float) -> list[str]:
    """`clock_drift` if the reported offset exceeds the threshold; `clock_unsynced` if the
    agent says it does not trust its clock (it then holds scheduled items)."""
    flags = []
    if offset_ms is not None and abs(offset_ms) > threshold_s * 1000:
        flags.append("clock_drift")
    if synced is False:
        flags.append("clock_unsynced")
    return flags


def device_public(device: Device, *, drift_threshold_s: float = 1.0) -> DevicePublic:
    """The API view of a device: online flag, last-seen instant, clock and its flags."""
    public = DevicePublic.model_validate(device)
    if device.state is not None:
        public.online = device.state.online
        public.last_seen_at = device.state.received_at
        offset, synced = (
            device.state.payload.get("clock_offset_ms"),
            device.state.payload.get("clock_synced"),
        )
        public.clock_offset_ms = offset if isinstance(offset, int) else None
        public.clock_synced = synced if isinstance(synced, bool) else None
        public.flags = clock_flags(
            public.clock_offset_ms, public.clock_synced, threshold_s=drift_threshold_s
        )
    return public
