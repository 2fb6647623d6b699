"""Proof of broadcast: per device, what was planned against what was played; and, for a live
broadcast (a microphone, a relay), the recording of what was said.

A recording is read with the rights of the report itself (any signed-in person). It is
linked at `/phat/{occurrence_id}/ghi-am` (pages) and `/api/v1/broadcasts/{id}/recording`
(API), both behind sign-in, never by its `/media/` address.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from audio.store import MediaStore
from pa_server.db.models import Device, DeviceState, LiveSessionRow, Occurrence, Receipt, Zone
from pa_server.metrics import FleetCounts
from pa_server.schemas.broadcasts import PlaybackReport, PlaybackRow, RecordingPublic
from pa_server.services.audience import Audience, device_zones
from pa_server.services.devices import clock_flags
from pa_server.services.errors import Invalid, NotFound
from pa_server.services.programme import device_state
from pa_server.services.timelines import MAX_LATE_WINDOW
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

    def within(z: str) -> bool:
        return zone is None or z == zone or z.startswith(zone + "/")

    audience = Audience(device_zones(session))
    occs = list(
        session.scalars(
            select(Occurrence).where(
                Occurrence.status != "cancelled",
                Occurrence.play_at >= start,
                Occurrence.play_at < end,
            )
        )
    )
    # Keyed by (zone then, device): a device moved since is accounted where it was meant to play.
    planned: dict[tuple[str, str], set[str]] = defaultdict(set)
    for device_id, device_zone in audience.zone_of.items():
        if within(device_zone):
            planned[(device_zone, device_id)] = set()
    for occ in occs:
        for device_id, device_zone in audience.of(occ).items():
            if within(device_zone):
                planned[(device_zone, device_id)].add(occ.id)
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if occs:
        for r in session.scalars(
            select(Receipt).where(Receipt.occurrence_id.in_([o.id for o in occs]))
        ):
            seen[r.device_id][r.type].add(r.occurrence_id)
    rows = []
    for (device_zone, device_id), mine in sorted(planned.items()):
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
    heard_here = [o.id for o in occs if zone is None or any(map(within, audience.of(o).values()))]
    return PlaybackReport(
        zone=zone,
        start=start,
        end=end,
        rows=rows,
        recordings=sorted(recordings(session, heard_here).values(), key=lambda r: r.started_at),
    )


# --------------------------------------------------------------------------- recordings

#: Recordings of live sessions are MP3 (`pa_server.live.engine`).
RECORDING_EXT = "mp3"


def recording_url(occurrence_id: str) -> str:
    """The API address that downloads a broadcast's recording (signed in)."""
    return f"/api/v1/broadcasts/{occurrence_id}/recording"


def recordings(session: Session, occurrence_ids: Iterable[str]) -> dict[str, RecordingPublic]:
    """The recording of each of these broadcasts that was live and kept one, by occurrence."""
    ids = list(dict.fromkeys(occurrence_ids))
    if not ids:
        return {}
    rows = session.scalars(
        select(LiveSessionRow).where(
            LiveSessionRow.occurrence_id.in_(ids), LiveSessionRow.recording_sha256.is_not(None)
        )
    )
    return {
        row.occurrence_id: RecordingPublic(
            occurrence_id=row.occurrence_id,
            session_id=row.id,
            title=row.title,
            started_at=row.started_at,
            started_by=row.started_by,
            sha256=row.recording_sha256,
            seconds=row.seconds_streamed,
            url=recording_url(row.occurrence_id),
        )
        for row in rows
        if row.occurrence_id is not None and row.recording_sha256 is not None
    }


def broadcast_recording(session: Session, occurrence_id: str) -> RecordingPublic | None:
    """The recording of one broadcast, if it was live and one was kept."""
    return recordings(session, [occurrence_id]).get(occurrence_id)


def recording_file(session: Session, media_dir: Path, occurrence_id: str) -> Path:
    """The file of a broadcast's recording, or `NotFound('recording_not_found')`."""
    found = broadcast_recording(session, occurrence_id)
    path = MediaStore(media_dir).path(found.sha256, RECORDING_EXT) if found else None
    if path is None or not path.is_file():
        raise NotFound("recording_not_found", f"broadcast {occurrence_id!r} has no recording")
    return path


def report_csv(report: PlaybackReport) -> str:
    """The report as CSV, one row per device, with a header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        writer.writerow([getattr(row, c) for c in CSV_COLUMNS])
    return out.getvalue()


#: The spreadsheet a person downloads: Vietnamese headers, names beside the ids.
PEOPLE_CSV_HEADERS = (
    "Khu vực",
    "Loa",
    "Mã loa",
    "Dự kiến",
    "Đã bắt đầu",
    "Đã phát xong",
    "Lỗi",
    "Bỏ lỡ",
    "Chưa báo",
)
#: Excel reads a CSV without a byte-order mark in the machine's legacy code page and garbles
#: Vietnamese; with the UTF-8 BOM it reads UTF-8.
UTF8_BOM = "\ufeff"


def report_csv_for_people(session: Session, report: PlaybackReport) -> bytes:
    """The report as a spreadsheet for people: UTF-8 with BOM, Vietnamese headers and names.

    The API's `report_csv` stays the machine format (English column codes, no BOM).
    """
    zone_names: dict[str, str] = dict(session.execute(select(Zone.path, Zone.name)).all())
    device_names: dict[str, str] = dict(session.execute(select(Device.id, Device.name)).all())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PEOPLE_CSV_HEADERS)
    for row in report.rows:
        writer.writerow(
            [
                zone_names.get(row.zone, row.zone),
                device_names.get(row.device_id) or row.device_id,
                row.device_id,
                row.planned,
                row.started,
                row.finished,
                row.failed,
                row.missed,
                row.no_report,
            ]
        )
    return (UTF8_BOM + out.getvalue()).encode("utf-8")


#: Receipts that prove an occurrence was heard somewhere.
PLAYED_TYPES = ("started", "finished")


def broadcast_outcomes(session: Session, *, now: datetime) -> dict[str, int]:
    """Occurrences by outcome: planned, played, missed, stopped, cancelled (`pa_server.metrics`).

    Counted in the database; only occurrences of the last day whose window may still be open
    are read to compare `play_at + max_late_s` with `now` (max_late_s is at most a day).
    """
    played = select(Receipt.occurrence_id).where(Receipt.type.in_(PLAYED_TYPES))
    reported_missed = select(Receipt.occurrence_id).where(Receipt.type == "missed")
    outcome = case(
        (Occurrence.status == "cancelled", "cancelled"),
        (Occurrence.id.in_(played), "played"),
        (Occurrence.status == "stopped", "stopped"),
        (Occurrence.id.in_(reported_missed), "missed"),
        (Occurrence.play_at < now - MAX_LATE_WINDOW, "missed"),
        (Occurrence.play_at <= now, "due"),
        else_="planned",
    )
    counts: Counter[str] = Counter()
    for label, n in session.execute(select(outcome, func.count()).group_by(outcome)):
        if label != "due":
            counts[label] += int(n)
    for play_at, max_late_s in session.execute(
        select(Occurrence.play_at, Occurrence.max_late_s).where(outcome == "due")
    ):
        closed = play_at + timedelta(seconds=max_late_s) < now
        counts["missed" if closed else "planned"] += 1
    return dict(counts)


def fleet_counts(session: Session, *, now: datetime, drift_threshold_s: float) -> FleetCounts:
    """Agents known, online and drifting; broadcasts by outcome; receipts by type.

    "Drifting" is the device page's rule (`clock_flags`): off by more than the threshold, or
    not trusting its own clock.
    """
    known = session.scalar(select(func.count()).select_from(Device)) or 0
    online = session.scalar(select(func.count()).where(DeviceState.online.is_(True))) or 0
    receipts = session.execute(select(Receipt.type, func.count()).group_by(Receipt.type))
    drifting = 0
    for (payload,) in session.execute(
        select(DeviceState.payload).where(DeviceState.online.is_(True))
    ):
        offset = payload.get("clock_offset_ms")
        flags = clock_flags(
            offset if isinstance(offset, int) else None,
            payload.get("clock_synced"),
            threshold_s=drift_threshold_s,
        )
        drifting += bool(flags)
    return FleetCounts(
        agents_online=online,
        agents_known=known,
        broadcasts=broadcast_outcomes(session, now=now),
        receipts={kind: int(n) for kind, n in receipts},
        agents_clock_drift=drifting,
    )


# --------------------------------------------------------------------------- one broadcast


@dataclass(frozen=True)
class ProofRow:
    """One loudspeaker's account of one broadcast: planned against what it reported."""

    device_id: str
    device_name: str
    zone: str
    zone_name: str
    planned_at: datetime
    state: str
    """Its most final receipt (`services.programme.device_state`), "none" if it sent none."""
    fetched: datetime | None
    started: datetime | None
    finished: datetime | None
    ended_badly: datetime | None
    """When it reported failing, missing or skipping it."""
    late_ms: int | None
    """How late it started: the agent's own figure, else started − planned."""
    detail: str | None


@dataclass(frozen=True)
class BroadcastProof:
    """Proof of one broadcast: each loudspeaker it was meant for (or that reported on it)."""

    occurrence_id: str
    title: str
    play_at: datetime
    rows: list[ProofRow]
    recording: RecordingPublic | None = None
    """What a live broadcast said (None for a file, or a live one that kept none)."""


def broadcast_proof(session: Session, occurrence_id: str) -> BroadcastProof:
    """Planned against played, per loudspeaker, for one broadcast (`NotFound` if unknown)."""
    occ = session.get(Occurrence, occurrence_id)
    if occ is None:
        raise NotFound("broadcast_not_found", f"no broadcast {occurrence_id!r}")
    audience = Audience(device_zones(session))
    expected = audience.of(occ)
    receipts: dict[str, dict[str, Receipt]] = defaultdict(dict)
    for r in session.scalars(
        select(Receipt).where(Receipt.occurrence_id == occ.id).order_by(Receipt.at, Receipt.id)
    ):
        receipts[r.device_id].setdefault(r.type, r)
    zone_names: dict[str, str] = dict(session.execute(select(Zone.path, Zone.name)).all())
    device_names: dict[str, str] = dict(session.execute(select(Device.id, Device.name)).all())
    rows = []
    for device_id in sorted(set(expected) | set(receipts)):
        got = receipts.get(device_id, {})
        zone = expected.get(device_id) or audience.zone_of.get(device_id, "")
        started = got.get("started") or got.get("finished")
        started_at = got["started"].at if "started" in got else None
        late = next((r.late_ms for r in got.values() if r.late_ms is not None), None)
        if late is None and started_at is not None:
            late = max(0, int((started_at - occ.play_at).total_seconds() * 1000))
        bad = next((got[t] for t in ("failed", "missed", "skipped") if t in got), None)
        rows.append(
            ProofRow(
                device_id=device_id,
                device_name=device_names.get(device_id) or device_id,
                zone=zone,
                zone_name=_zone_trail(zone, zone_names),
                planned_at=occ.play_at,
                state=device_state(got),
                fetched=got["fetched"].at if "fetched" in got else None,
                started=started_at if started is not None else None,
                finished=got["finished"].at if "finished" in got else None,
                ended_badly=bad.at if bad is not None else None,
                late_ms=late,
                detail=next((r.detail for r in got.values() if r.detail), None),
            )
        )
    return BroadcastProof(
        occ.id, occ.title, occ.play_at, rows, broadcast_recording(session, occ.id)
    )


def _zone_trail(path: str, names: dict[str, str]) -> str:
    # "Thôn 1, Xã Tân Tiến": the zone and the levels above it up to the commune, never a slug.
    parts = [p for p in path.split("/") if p]
    if not parts:
        return ""
    chain = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    shown = chain[1:] if len(chain) > 1 else chain
    return ", ".join(names.get(p, "khu vực không còn tồn tại") for p in reversed(shown))


#: The proof spreadsheet's columns (Vietnamese: people open it in Excel or LibreOffice).
PROOF_CSV_HEADERS = (
    "Loa",
    "Mã loa",
    "Khu vực",
    "Giờ dự kiến",
    "Tải về lúc",
    "Bắt đầu lúc",
    "Phát xong lúc",
    "Trễ (giây)",
    "Kết quả",
    "Ghi chú",
)


def proof_csv(
    proof: BroadcastProof, *, tz: str, state_labels: Mapping[str, str], notes: Callable[[str], str]
) -> bytes:
    """The proof as a spreadsheet: UTF-8 with BOM, Vietnamese headers, local times.

    Times are "dd/mm/yyyy HH:MM:SS" in `tz` (what Excel in Vietnam reads as a date);
    `state_labels` says each state in words and `notes` turns an agent's error into a sentence
    (both are the pages' words, given by the caller so the two never differ).
    """
    zone = ZoneInfo(tz)

    def at(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%d/%m/%Y %H:%M:%S") if value else ""

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PROOF_CSV_HEADERS)
    for row in proof.rows:
        late = "" if row.late_ms is None else f"{row.late_ms / 1000:.1f}".replace(".", ",")
        writer.writerow(
            [
                row.device_name,
                row.device_id,
                row.zone_name,
                at(row.planned_at),
                at(row.fetched),
                at(row.started),
                at(row.finished),
                late,
                state_labels.get(row.state, row.state),
                notes(row.detail) if row.detail else "",
            ]
        )
    return (UTF8_BOM + out.getvalue()).encode("utf-8")
