"""From the database to the wire: plan schedules, keep occurrences, build per-target timelines.

`replan` runs the pure planner over what the database holds and upserts its occurrences (their
ids are derived from schedule and instant, so a second run, or a restart, changes nothing that
did not change). `desired_timelines` turns the stored occurrences into the protocol's items per
target, which the dispatcher publishes when their content changed. Emergency items always
carry a volume: the target zone's emergency volume (`emergency_volume`, inherited down the
zone tree like quiet hours, 100 at the root) unless the occurrence names one.

For agents and pages: `agent_timelines` is what `GET /api/v1/agents/{id}/timelines` serves
(the stored signed envelopes of every target an agent listens to), `plan_cuts` says which
targets' published plans were cut to fit the protocol's size limit, and `target_items` /
`stop_targets` give the per-target play and stop of one occurrence.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, object_session

from devices.protocol import (
    EMERGENCY_PRIORITY,
    Item,
    Live,
    Media,
    listened_targets,
    parse_instant,
    parse_target,
    zone_ancestors,
)
from pa_server import planning
from pa_server.auth import audit
from pa_server.db.models import Announcement, Device, Occurrence, PublishedTimeline, Schedule, Zone
from pa_server.services.audience import Audience
from pa_server.services.errors import NotFound, Unavailable

log = logging.getLogger(__name__)

#: How far back a stored occurrence may still be played late (bounds the timeline query).
MAX_LATE_WINDOW = timedelta(days=1)
#: Volume of emergency items where no zone on the way to the root sets one.
DEFAULT_EMERGENCY_VOLUME = 100


class DispatcherLike(Protocol):
    """What `pa_server.messaging.dispatch.Dispatcher` offers the services."""

    def sync(
        self,
        desired: Mapping[str, tuple[Item, ...]],
        *,
        now: datetime,
        horizon_until: datetime,
    ) -> list[str]: ...

    def command(self, target: str, kind: Any, body: Any, *, now: datetime) -> Any: ...

    def stop(self, occurrence_id: str, targets: Any, *, now: datetime) -> list[str]: ...


def require_dispatcher(dispatcher: DispatcherLike | None) -> DispatcherLike:
    """The dispatcher, or `Unavailable('bus_unavailable')` while the bus is not running."""
    if dispatcher is None:
        raise Unavailable("bus_unavailable", "the MQTT bus is not running: nothing can be sent")
    return dispatcher


@dataclass(frozen=True)
class ReplanCounts:
    """What a replan changed in the occurrences table."""

    created: int
    updated: int
    cancelled: int
    planned: int


def media_url(base_url: str, sha256: str, ext: str) -> str:
    """Where agents fetch a media file: `<public url>/media/<sha256>.<ext>`."""
    return f"{base_url.rstrip('/')}/media/{sha256}.{ext}"


def schedule_spec(s: Schedule, *, duration_ms: int) -> planning.ScheduleSpec:
    """The planner's view of a stored schedule (its checks raise `planning.PlanError`)."""
    return planning.ScheduleSpec(
        id=s.id,
        announcement_id=s.announcement_id,
        title=s.title,
        rrule=s.rrule,
        times=tuple(time.fromisoformat(t) for t in s.times or []),
        start=s.start_at,
        end=s.end_at,
        exdates=tuple(parse_instant(d) for d in s.exdates),
        timezone=s.timezone,
        level=s.level,  # type: ignore[arg-type]
        targets=tuple(t.target for t in s.targets),
        duration_ms=duration_ms,
        volume=s.volume,
        max_late_s=s.max_late_s,
        created_at=s.created_at,
        enabled=s.enabled,
        lunar=planning.lunar_rule(s.lunar),
        holidays=s.holidays,  # type: ignore[arg-type]
    )


def tree_specs(session: Session) -> tuple[list[planning.ZoneSpec], list[planning.DeviceSpec]]:
    """The zone tree (with quiet hours) and where each device sits, as planner values."""
    zones = [
        planning.ZoneSpec(
            path=z.path, quiet_start=z.quiet_start, quiet_end=z.quiet_end, timezone=z.timezone
        )
        for z in session.scalars(select(Zone))
    ]
    devices = [
        planning.DeviceSpec(id=d_id, zone_path=zone)
        for d_id, zone in session.execute(select(Device.id, Device.zone_path))
    ]
    return zones, devices


def load_specs(
    session: Session,
) -> tuple[list[planning.ScheduleSpec], list[planning.ZoneSpec], list[planning.DeviceSpec]]:
    """The planner's inputs: enabled schedules of approved, rendered announcements; the zones."""
    zones, devices = tree_specs(session)
    rows = session.scalars(
        select(Schedule)
        .join(Announcement, Announcement.id == Schedule.announcement_id)
        .where(Schedule.enabled.is_(True), Announcement.status == "approved")
    )
    schedules = []
    for s in rows:
        ann = session.get(Announcement, s.announcement_id)
        duration_ms = announcement_duration_ms(ann) if ann is not None else None
        if duration_ms is None:
            continue
        try:
            schedules.append(schedule_spec(s, duration_ms=duration_ms))
        except planning.PlanError as exc:
            # One bad stored schedule must not silence every other one.
            log.error("schedule %s left out of the plan: %s", s.id, exc)
    return schedules, zones, devices


def announcement_duration_ms(ann: Announcement) -> int | None:
    """How long an announcement sounds: its rendition's, a relay's window; None if neither."""
    if ann.kind == "relay":
        return (ann.relay_duration_s or 0) * 1000 or None
    return ann.rendition.duration_ms if ann.rendition is not None else None


def replan(session: Session, *, now: datetime, horizon: timedelta) -> ReplanCounts:
    """Plan `[now, now + horizon]` and upsert occurrences; cancel future ones no longer planned."""
    schedules, zones, devices = load_specs(session)
    planned = planning.plan(schedules, zones, devices, now=now, horizon=horizon)
    media = _media_by_announcement(session, {o.announcement_id for o in planned})
    relays = set(
        session.scalars(
            select(Announcement.id).where(
                Announcement.kind == "relay",
                Announcement.id.in_({o.announcement_id for o in planned}),
            )
        )
    )
    # Recorded per occurrence while it lies ahead; once past, a device moving elsewhere no
    # longer changes whom it was meant for (reports read this, not today's zones).
    audience = Audience((d.id, d.zone_path) for d in devices)
    set_by: dict[str, str | None] = dict(
        session.execute(select(Schedule.id, Schedule.set_by)).all()
    )
    existing = {
        o.id: o
        for o in session.scalars(
            select(Occurrence).where(
                Occurrence.immediate.is_(False),
                Occurrence.play_at >= now - MAX_LATE_WINDOW,
            )
        )
    }
    created = updated = cancelled = 0
    seen: set[str] = set()
    for occ in planned:
        seen.add(occ.id)
        values: dict[str, Any] = {
            "schedule_id": occ.schedule_id,
            "announcement_id": occ.announcement_id,
            "title": occ.title,
            "planned_at": occ.planned_at,
            "play_at": occ.play_at,
            "targets": list(occ.targets),
            "priority": occ.priority,
            "volume": occ.volume,
            "max_late_s": occ.max_late_s,
            "duration_ms": occ.duration_ms,
            "expected_devices": audience.expected(occ.targets),
            "caused_by": set_by.get(occ.schedule_id),
            **media[occ.announcement_id],
        }
        if occ.announcement_id in relays:
            # A relay is a stream: an agent that joins late still plays the rest of it, and
            # the server's runner (`pa_server.live.runner`) adds its `live` once it runs.
            values["until"] = occ.play_at + timedelta(milliseconds=occ.duration_ms)
            values["max_late_s"] = min(occ.duration_ms // 1000, 24 * 3600)
        row = existing.get(occ.id) or session.get(Occurrence, occ.id)
        if row is None:
            session.add(
                Occurrence(
                    id=occ.id,
                    immediate=False,
                    status="planned",
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
            created += 1
            continue
        if row.status in ("stopped", "sent"):
            continue  # an operator stopped it, or it already went out: the plan does not undo
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed or row.status != "planned":
            for key, value in changed.items():
                setattr(row, key, value)
            row.status, row.updated_at = "planned", now
            updated += 1
    until = now + horizon
    for row in existing.values():
        if row.id not in seen and row.status == "planned" and now <= row.play_at <= until:
            row.status, row.updated_at = "cancelled", now
            cancelled += 1
    session.flush()
    if created or updated or cancelled:
        log.info(
            "replan: %d new, %d changed, %d cancelled occurrences", created, updated, cancelled
        )
        # The server's own change, in the log beside people's (occurrences are not row-audited:
        # the planner rewrites them often; one entry per plan that changed something).
        audit.record(
            session,
            "plan",
            "occurrences",
            after={"created": created, "changed": updated, "cancelled": cancelled},
            now=now,
        )
    return ReplanCounts(created, updated, cancelled, len(planned))


def _media_by_announcement(session: Session, ids: set[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for ann_id in ids:
        ann = session.get(Announcement, ann_id)
        rend = ann.rendition if ann is not None else None
        out[ann_id] = {
            "media_sha256": rend.sha256 if rend else None,
            "media_ext": rend.ext if rend else None,
            "media_bytes": rend.bytes if rend else None,
            "media_mime": rend.mime if rend else None,
        }
    return out


def occurrence_item(occ: Occurrence, *, base_url: str, with_time: bool = True) -> Item | None:
    """The protocol item of an occurrence: a file, or a live stream while its session runs.

    None if there is nothing to play yet (no media; a relay whose session has not started).
    """
    common: dict[str, Any] = {
        "occurrence_id": occ.id,
        "title": occ.title[:300],
        "play_at": occ.play_at if with_time else None,
        "max_late_s": occ.max_late_s,
        "priority": occ.priority,
        "volume": occ.volume,
    }
    if occ.live is not None and occ.until is not None:
        return Item(**common, until=occ.until, live=Live.model_validate(occ.live))
    if not (occ.media_sha256 and occ.media_ext and occ.media_bytes):
        return None
    return Item(
        **common,
        media=Media(
            url=media_url(base_url, occ.media_sha256, occ.media_ext),
            sha256=occ.media_sha256,
            bytes=occ.media_bytes,
            duration_ms=occ.duration_ms,
            mime=occ.media_mime or "audio/mpeg",
        ),
    )


def desired_timelines(
    session: Session, *, now: datetime, horizon_until: datetime, base_url: str
) -> dict[str, tuple[Item, ...]]:
    """Every target's complete upcoming plan; targets published before and now empty get `()`."""
    rows = session.scalars(
        select(Occurrence)
        .where(
            or_(
                and_(Occurrence.status == "planned", Occurrence.immediate.is_(False)),
                # One-off broadcasts: on the timelines too, so late agents still get them.
                and_(Occurrence.status == "sent", Occurrence.immediate.is_(True)),
            ),
            Occurrence.play_at >= now - MAX_LATE_WINDOW,
            Occurrence.play_at <= horizon_until,
        )
        .order_by(Occurrence.play_at, Occurrence.id)
    )
    items: dict[str, list[Item]] = defaultdict(list)
    volumes = EmergencyVolumes(session)
    for occ in rows:
        if occ.play_at + timedelta(seconds=occ.max_late_s) < now:
            continue  # too late to play: agents would only report it missed
        item = occurrence_item(occ, base_url=base_url)
        if item is None:
            continue
        for target in occ.targets:
            items[target].append(volumes.apply(item, target))
    desired: dict[str, tuple[Item, ...]] = dict.fromkeys(
        session.scalars(select(PublishedTimeline.target)), ()
    )
    desired.update({target: tuple(found) for target, found in items.items()})
    return desired


def sync_timelines(
    session: Session,
    dispatcher: DispatcherLike,
    *,
    now: datetime,
    horizon: timedelta,
    base_url: str,
) -> list[str]:
    """Hand the desired timelines to the dispatcher; returns the targets it published."""
    until = now + horizon
    desired = desired_timelines(session, now=now, horizon_until=until, base_url=base_url)
    return dispatcher.sync(desired, now=now, horizon_until=until)


def preview(
    session: Session, schedule_id: str, *, start: datetime, end: datetime
) -> list[planning.PlannedOccurrence]:
    """What the planner makes of one schedule between `start` and `end` (nothing stored).

    Planned among every other enabled schedule, as the real plan does: one that shares its
    loudspeakers moves it later (or into quiet hours, where it is dropped). Planned alone, the
    API and the schedule's page listed broadcasts the 7-day picture (and the loudspeakers) did
    not have — the "Friday shown by the API, missing on the page" report.
    """
    schedules, zones, devices = load_specs(session)
    if not any(s.id == schedule_id for s in schedules):
        return []
    planned = planning.plan(schedules, zones, devices, now=start, horizon=end - start)
    return [o for o in planned if o.schedule_id == schedule_id]


def stored_statuses(
    session: Session, schedule_id: str, start: datetime, end: datetime
) -> dict[str, str]:
    """The status of this schedule's stored occurrences in `[start, end)`, by id."""
    rows = session.execute(
        select(Occurrence.id, Occurrence.status).where(
            Occurrence.schedule_id == schedule_id,
            Occurrence.play_at >= start - MAX_LATE_WINDOW,
            Occurrence.play_at < end,
        )
    )
    return {row.id: row.status for row in rows}


# --------------------------------------------------------------------------- emergency volume


class EmergencyVolumes:
    """Each target's emergency volume: its zone's, else the nearest ancestor's, else 100."""

    def __init__(self, session: Session) -> None:
        self._own = {
            path: vol
            for path, vol in session.execute(select(Zone.path, Zone.emergency_volume))
            if vol is not None
        }
        self._device_zone = dict(
            session.execute(select(Device.id, Device.zone_path)).tuples().all()
        )

    def of_zone(self, path: str) -> int:
        """The emergency volume of zone `path` (set on it or inherited)."""
        for zone in reversed(zone_ancestors(path)):
            if zone in self._own:
                return self._own[zone]
        return DEFAULT_EMERGENCY_VOLUME

    def of_target(self, target: str) -> int:
        """The emergency volume for `zone:…` or `device:…` (a device: its zone's)."""
        kind, name = parse_target(target)
        if kind == "zone":
            return self.of_zone(name)
        zone = self._device_zone.get(name)
        return self.of_zone(zone) if zone is not None else DEFAULT_EMERGENCY_VOLUME

    def apply(self, item: Item, target: str) -> Item:
        """`item` as sent to `target`: an emergency without a volume gets the target's."""
        if item.priority < EMERGENCY_PRIORITY or item.volume is not None:
            return item
        return item.model_copy(update={"volume": self.of_target(target)})


def emergency_volume(session: Session, zone_path: str) -> int:
    """The emergency volume in effect for a zone (its own or inherited; 100 by default)."""
    return EmergencyVolumes(session).of_zone(zone_path)


def target_items(occ: Occurrence, *, base_url: str, now: datetime) -> dict[str, Item]:
    """The `play` item of a stored occurrence for each of its targets (emergency volume applied).

    `play_at` is left out once it has passed (play as soon as possible). Empty if the
    occurrence has no media. Reads the zones through the occurrence's own session.
    """
    item = occurrence_item(occ, base_url=base_url, with_time=occ.play_at > now)
    if item is None:
        return {}
    session = object_session(occ)
    if session is None:
        raise ValueError("target_items needs an occurrence attached to a session")
    volumes = EmergencyVolumes(session)
    return {target: volumes.apply(item, target) for target in dict.fromkeys(occ.targets)}


def stop_targets(occ: Occurrence) -> list[str]:
    """Every target a `stop` of this occurrence must reach (one envelope each), in order."""
    return list(dict.fromkeys(occ.targets))


# --------------------------------------------------------------------------- agents and pages


def agent_timelines(session: Session, device_id: str, *, now: datetime) -> list[bytes]:
    """The current signed timeline envelopes of every target `device_id` listens to.

    Its zone's ancestors from the root down, then the device itself; only targets with an
    unexpired envelope. `NotFound('device_not_found')` for an unknown device.
    """
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device_not_found", f"no device {device_id!r}")
    targets = listened_targets(device.id, device.zone_path)
    rows = {
        row.target: row
        for row in session.scalars(
            select(PublishedTimeline).where(PublishedTimeline.target.in_(targets))
        )
    }
    out: list[bytes] = []
    for target in targets:
        row = rows.get(target)
        if row is None or row.envelope is None:
            continue
        if row.expires_at is not None and row.expires_at <= now:
            continue
        out.append(row.envelope.encode())
    return out


def plan_cuts(session: Session) -> dict[str, int]:
    """Targets whose published timeline was cut to fit the size limit → items left out.

    Pages show it per zone ("the plan of this zone is being cut"); empty when nothing is cut.
    """
    rows = session.execute(
        select(PublishedTimeline.target, PublishedTimeline.items_cut).where(
            PublishedTimeline.items_cut > 0
        )
    )
    return dict(rows.tuples().all())
