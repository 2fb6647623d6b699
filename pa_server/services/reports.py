"""Proof of broadcast: per device, what was planned against what was played."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pa_server.db.models import Device, DeviceState, Occurrence, Receipt
from pa_server.metrics import FleetCounts
from pa_server.schemas.broadcasts import PlaybackReport, PlaybackRow
from pa_server.services.broadcasts import device_zones, expected_devices
from pa_server.services.errors import Invalid
from pa_server.services.zones import require_zone

CSV_COLUMNS = (
    "zone",
    "device_id",
    "planned",
    "started",
    "finished",
    "failed",
    "missed",
    "no_report",
)


def playback_report(
    session: Session, *, zone: str | None, start: datetime, end: datetime
) -> PlaybackReport:
    """Rows per device (within `zone` if given) for occurrences playing in `[start, end)`."""
    if end <= start:
        raise Invalid("end_before_start", "the report's end lies before its start")
    if zone is not None:
        require_zone(session, zone)
    devices = [
        (d, z)
        for d, z in device_zones(session)
        if zone is None or z == zone or z.startswith(zone + "/")
    ]
    occs = list(
        session.scalars(
            select(Occurrence).where(
                Occurrence.status != "cancelled",
                Occurrence.play_at >= start,
                Occurrence.play_at < end,
            )
        )
    )
    planned: dict[str, set[str]] = defaultdict(set)
    for occ in occs:
        for device_id in expected_devices(occ.targets, devices):
            planned[device_id].add(occ.id)
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if occs:
        for r in session.scalars(
            select(Receipt).where(Receipt.occurrence_id.in_([o.id for o in occs]))
        ):
            seen[r.device_id][r.type].add(r.occurrence_id)
    rows = []
    for device_id, device_zone in sorted(devices, key=lambda dz: (dz[1], dz[0])):
        mine = planned.get(device_id, set())
        got = seen.get(device_id, {})
        reported = set().union(*got.values()) if got else set()
        rows.append(
            PlaybackRow(
                zone=device_zone,
                device_id=device_id,
                planned=len(mine),
                started=len(got.get("started", set()) & mine),
                finished=len(got.get("finished", set()) & mine),
                failed=len(got.get("failed", set()) & mine),
                missed=len(got.get("missed", set()) & mine),
                no_report=len(mine - reported),
            )
        )
    return PlaybackReport(zone=zone, start=start, end=end, rows=rows)


def report_csv(report: PlaybackReport) -> str:
    """The report as CSV, one row per device, with a header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        writer.writerow([getattr(row, c) for c in CSV_COLUMNS])
    return out.getvalue()


def fleet_counts(session: Session) -> FleetCounts:
    """Agents known and online, occurrences by status: the database gauges of `/metrics`."""
    known = session.scalar(select(func.count()).select_from(Device)) or 0
    online = session.scalar(select(func.count()).where(DeviceState.online.is_(True))) or 0
    by_status = session.execute(select(Occurrence.status, func.count()).group_by(Occurrence.status))
    return FleetCounts(
        agents_online=online,
        agents_known=known,
        broadcasts={status: int(n) for status, n in by_status},
    )
