"""Live sessions: a microphone or a relayed radio on loudspeakers, in sync (docs/live.md).

A live session is a broadcast like any other to the people and the rules: targets, a level,
quiet hours, rights checked once on the session as it would be (an operator only on its own
zones; an emergency is an admin's, with a confirmation; quiet hours hold back anything but an
emergency), an audit entry naming who. It is also an **occurrence** — immediate, with a
`live` object instead of media — so it goes onto the targets' retained timelines (an agent
offline for a moment still gets it; an emergency pre-empts by priority like a file), is sent
as `play` to the agents online now, and the agents' receipts land in the report as for files.

Its `live_sessions` row says who started it, where, what (microphone or the relayed URL),
at what level, from when to when, and how it ended (`stopped` / `finished` / `failed` with a
detail) with the recording's sha256 — the proof of what was said.

`LiveHub` is what this process has for live audio: the engine (None when Snapcast is not
installed, with the Vietnamese reason the pages show), the microphones waiting for a
browser, and what the end of a session needs later, on the engine's thread (the store and
the dispatcher). A session's end (`_record_end`) records the outcome, takes the occurrence
off the timelines and sends `stop` if it ended before its `until`, and raises the alert of
a failure (an error in the log, an audit entry, the session list's red line).

Relay schedules: a relay is an announcement of kind `relay` (the URL and the length of the
window), approved like any text — the approver approves what will be relayed — and scheduled
like any announcement (targets, levels, quiet hours, audit). The planner makes its
occurrences (a window, no media); `run_due_relays` (the leader's planner cycle) starts the
engine session `RELAY_PRESTART` before each one and puts its `live` object on it, so the
next timeline carries a live item; the engine ends it at `until`.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from audio.store import MediaStore
from devices.protocol import utc_now
from pa_server.auth import audit
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Role, require_level, require_writer
from pa_server.config import Settings
from pa_server.db.models import Announcement, LiveSessionRow, Occurrence
from pa_server.live.engine import LiveEngine, LiveSession, SessionEnd, SnapcastEngine
from pa_server.live.errors import LiveError, LiveUnavailable, NoFreeStream, UnknownSession
from pa_server.live.relay_guard import RelayGuard, RelayRefused, parse_networks
from pa_server.live.sources import MicRegistry, MicSource, RelaySource, Source
from pa_server.messaging.bus import BusError
from pa_server.planning import LEVEL_PRIORITY
from pa_server.schemas.live import MAX_MINUTES, LiveCreate
from pa_server.services import rights
from pa_server.services.audience import Audience, device_zones
from pa_server.services.broadcasts import refuse_quiet_hours, send_play, send_stop
from pa_server.services.context import UseCase
from pa_server.services.devices import require_device
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound, Unavailable
from pa_server.services.timelines import DispatcherLike
from pa_server.services.validation import check_volume
from pa_server.services.zones import require_zone

log = logging.getLogger(__name__)

#: A scheduled relay's session starts this long before its occurrence: time for the timeline
#: carrying its live item to reach the agents (and for ffmpeg to connect).
RELAY_PRESTART = timedelta(seconds=20)
#: Who the server's own actions name (scheduled relays, ends) in the audit log.
SERVER = "server"
#: The page's reason when this process runs no engine at all (tests, `background=False`).
NOT_STARTED_VI = "Máy chủ chưa bật phần phát trực tiếp."
#: Why there is no live audio when the administrator set `PA_LIVE=false`.
SWITCHED_OFF_VI = "Phát trực tiếp đã được tắt trên máy chủ này."


@dataclass
class LiveHub:
    """This process's live audio: the engine (or why there is none) and what ends need."""

    engine: LiveEngine | None
    reason_vi: str | None = None
    mics: MicRegistry = field(default_factory=MicRegistry)
    #: Where a session's end is recorded (on the engine's thread, after the request is gone).
    sessions: sessionmaker[Session] | None = None
    #: The dispatcher now (the bus may come and go), for `stop` at a session's end.
    dispatcher: Callable[[], DispatcherLike | None] = lambda: None
    #: Called after a session's end changed the plan (the runtime replans and republishes).
    on_plan_change: Callable[[], None] = lambda: None
    clock: Callable[[], datetime] = utc_now
    #: How a relay's URL becomes a source, called `(url, guard=…)` (tests pass one that
    #: needs no network).
    relay_source: Callable[..., Source] = RelaySource
    #: Where a relay may read from at play time (`PA_RELAY_ALLOWED_NETWORKS`): checked again
    #: when a scheduled relay starts and before every ffmpeg connect.
    relay_guard: RelayGuard = field(default_factory=RelayGuard)

    @property
    def available(self) -> bool:
        return self.engine is not None

    def relay(self, url: str) -> Source:
        """The source relaying `url`, under this hub's address policy (`RelayRefused`)."""
        return self.relay_source(url, guard=self.relay_guard)

    def require(self) -> LiveEngine:
        """The engine, or `Unavailable('live_unavailable')` carrying the Vietnamese reason."""
        if self.engine is None:
            raise Unavailable("live_unavailable", self.reason_vi or NOT_STARTED_VI)
        return self.engine

    def reached(self, device_ids: list[str]) -> list[str]:
        """Which of these devices' snapclients are connected to the snapserver now."""
        if self.engine is None:
            return []
        try:
            connected = set(self.engine.health().get("clients_connected", ()))
        except LiveError:
            return []
        return sorted(d for d in device_ids if d in connected)

    def close(self) -> None:
        """Stop every session (each end is recorded) and the engine."""
        if self.engine is not None:
            self.engine.close()


def open_hub(
    settings: Settings,
    sessions: sessionmaker[Session],
    mics: MicRegistry,
    *,
    dispatcher: Callable[[], DispatcherLike | None],
    on_plan_change: Callable[[], None],
) -> LiveHub:
    """Start the engine `PA_SNAPSERVER_*` describe; without Snapcast or with `PA_LIVE=false`,
    a hub that says why (in Vietnamese, for the pages).

    Sessions the store still holds as running (this process was killed during them) are
    closed as failed first: no engine runs them any more.
    """
    close_orphans(sessions, now=utc_now())
    hub = LiveHub(
        None,
        mics=mics,
        sessions=sessions,
        dispatcher=dispatcher,
        on_plan_change=on_plan_change,
        relay_guard=relay_guard(settings),
    )
    if not settings.live:
        # Switched off on purpose: no snapserver is looked for or started, and pages say so.
        hub.reason_vi = SWITCHED_OFF_VI
        log.info("live audio off: PA_LIVE=false")
        return hub
    try:
        engine = SnapcastEngine.from_settings(settings, MediaStore(settings.media_dir))
        engine.start()
    except LiveUnavailable as exc:
        hub.reason_vi = exc.reason_vi
        log.warning("live audio off: %s", exc)
        return hub
    except (LiveError, OSError) as exc:
        # The English cause goes to the log only; people read a sentence of their own.
        hub.reason_vi = "Máy chủ Snapcast không khởi động được. Quản trị viên xem nhật ký máy chủ."
        log.error("live audio off: snapserver would not start: %s", exc)
        return hub
    hub.engine = engine
    log.info("live audio on: %s", engine.health().get("stream"))
    return hub


def relay_guard(settings: Settings) -> RelayGuard:
    """The relay address policy these settings describe (public, plus the listed networks)."""
    return RelayGuard(parse_networks(settings.relay_allowed_networks))


def checked_relay_url(settings: Settings, url: str) -> str:
    """`url` stripped, if a relay may read it: `Invalid('bad_source_url')` for anything but a
    plain http(s) URL, `Invalid('relay_host_refused')` for a private or local address."""
    try:
        return relay_guard(settings).check(url.strip())
    except RelayRefused as exc:
        raise Invalid(exc.code, str(exc)) from exc


# --------------------------------------------------------------------------- reading


def get_session(db: Session, session_id: str) -> LiveSessionRow:
    """The live session, or `NotFound('live_session_not_found')`."""
    row = db.get(LiveSessionRow, session_id)
    if row is None:
        raise NotFound("live_session_not_found", f"no live session {session_id!r}")
    return row


def session_of(db: Session, occurrence_id: str) -> str | None:
    """The live session that carried this occurrence, if it was live."""
    return db.scalar(
        select(LiveSessionRow.id).where(LiveSessionRow.occurrence_id == occurrence_id).limit(1)
    )


def relay_program(db: Session, announcement_id: str) -> Announcement | None:
    """An approved relay announcement (to start by hand), or None."""
    ann = db.get(Announcement, announcement_id)
    if ann is None or ann.kind != "relay" or ann.status != "approved":
        return None
    return ann


def list_sessions(db: Session, *, limit: int, offset: int = 0) -> tuple[list[LiveSessionRow], int]:
    """Live sessions, newest first, and how many there are."""
    total = db.scalar(select(func.count()).select_from(LiveSessionRow)) or 0
    rows = db.scalars(
        select(LiveSessionRow)
        .order_by(LiveSessionRow.started_at.desc(), LiveSessionRow.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), total


# --------------------------------------------------------------------------- starting


def start_relay(
    uc: UseCase, hub: LiveHub, data: LiveCreate, *, confirmed: bool = False
) -> LiveSessionRow:
    """Relay the stream at `data.url` (HTTP/HTTPS: MP3, AAC, Icecast, HLS) on the targets now."""
    if not data.url:
        raise Invalid("source_url_required", "a relay needs the URL of the stream")
    url = checked_relay_url(uc.settings, data.url)
    try:
        source = hub.relay(url)
    except RelayRefused as exc:  # the hub's policy is narrower than these settings
        raise Invalid(exc.code, str(exc)) from exc
    row, _ = _start(uc, hub, data, confirmed=confirmed, source=source, url=url)
    return row


def start_mic(
    uc: UseCase, hub: LiveHub, data: LiveCreate, *, confirmed: bool = False
) -> tuple[LiveSessionRow, str]:
    """Open a microphone session; returns it and the one-time token of the operator's page."""
    mic = MicSource(label=uc.actor.username)
    row, session = _start(uc, hub, data, confirmed=confirmed, source=mic, url=None)
    return row, hub.mics.register(session.id, mic)


def _targets(uc: UseCase, data: LiveCreate) -> list[str]:
    if not data.zones and not data.devices:
        raise Invalid("no_targets", "name at least one zone or device")
    targets = [f"zone:{require_zone(uc.db, z).path}" for z in dict.fromkeys(data.zones)]
    return targets + [f"device:{require_device(uc.db, d).id}" for d in dict.fromkeys(data.devices)]


def _start(
    uc: UseCase,
    hub: LiveHub,
    data: LiveCreate,
    *,
    confirmed: bool,
    source: Source,
    url: str | None,
) -> tuple[LiveSessionRow, LiveSession]:
    """Check the session as it would be, store it, start the engine, put it on air."""
    engine = hub.require()
    uc.require_dispatcher()
    require_writer(uc.actor)
    title = data.title.strip()
    if not title:
        raise Invalid("title_required", "a live session needs a title")
    if data.level not in LEVEL_PRIORITY:
        raise Invalid("invalid_level", f"unknown level {data.level!r}")
    if not 1 <= data.minutes <= MAX_MINUTES:
        raise Invalid("invalid_minutes", f"a live session lasts 1 to {MAX_MINUTES} minutes")
    targets = _targets(uc, data)
    require_level(uc.actor, data.level, confirmed=confirmed)
    rights.require_reach(uc.db, uc.actor, targets)
    emergency = data.level == "emergency"
    lead = uc.settings.emergency_lead_s if emergency else uc.settings.broadcast_lead_s
    play_at = uc.now + timedelta(seconds=lead)
    window = timedelta(minutes=data.minutes)
    if not emergency:
        refuse_quiet_hours(uc.db, targets, play_at, int(window.total_seconds() * 1000))
    expected = Audience(device_zones(uc.db)).expected(targets)
    if not expected:
        raise Invalid("no_loudspeakers", "no loudspeaker hangs in these zones")
    sid = uuid.uuid4().hex
    occ = _live_occurrence(
        sid,
        title=title,
        targets=targets,
        expected=expected,
        level=data.level,
        volume=check_volume(data.volume),
        play_at=play_at,
        until=play_at + window,
        by=uc.actor.username,
        now=uc.now,
    )
    uc.db.add(occ)
    uc.db.flush()
    row = LiveSessionRow(
        id=sid,
        kind=source.kind,
        title=title,
        source_url=url,
        targets=targets,
        device_ids=sorted(expected),
        level=data.level,
        occurrence_id=occ.id,
        started_by=uc.actor.username,
        started_at=uc.now,
        until=occ.until,
    )
    uc.db.add(row)
    uc.db.flush()  # the row's insert is in the audit log under this person
    # Stored and committed before the engine starts: its end (maybe at once, on another
    # thread) always finds the row it records into.
    uc.db.commit()
    session = _engine_start(uc.db, hub, engine, row, source)
    occ.live = session.live_ref()
    occ.updated_at = uc.now
    mark_plan_dirty(uc.db)  # onto the retained timelines at the next cycle
    uc.db.commit()
    uc.db.refresh(row)
    if row.ended_at is None:
        try:
            send_play(
                uc.require_dispatcher(), occ, base_url=uc.settings.resolved_public_url, now=uc.now
            )
        except BusError as exc:
            log.warning("live %s: play not sent (%s); timelines will carry it", sid, exc)
    return row, session


def _live_occurrence(
    sid: str,
    *,
    title: str,
    targets: list[str],
    expected: dict[str, str],
    level: str,
    volume: int | None,
    play_at: datetime,
    until: datetime,
    by: str,
    now: datetime,
) -> Occurrence:
    window_ms = int((until - play_at).total_seconds() * 1000)
    return Occurrence(
        id=f"live-{sid}",
        schedule_id=None,
        announcement_id=None,
        title=title,
        planned_at=now,
        play_at=play_at,
        until=until,
        targets=targets,
        priority=LEVEL_PRIORITY[level],
        volume=volume,
        # A stream: an agent that joins late plays the rest of it.
        max_late_s=min(window_ms // 1000, 24 * 3600),
        duration_ms=window_ms,
        immediate=True,
        expected_devices=expected,
        status="sent",
        caused_by=by,
        created_at=now,
        updated_at=now,
    )


def _engine_start(
    db: Session, hub: LiveHub, engine: LiveEngine, row: LiveSessionRow, source: Source
) -> LiveSession:
    """Start the engine's session for `row`; a refusal is recorded as the row's failure."""

    def ended(session: LiveSession, end: SessionEnd) -> None:
        _record_end(hub, row_id, end)

    row_id = row.id
    try:
        return engine.start_session(
            row.device_ids,
            source,
            title=row.title,
            until=row.until,
            on_end=ended,
            session_id=row.id,
        )
    except NoFreeStream as exc:
        _fail_unstarted(db, hub, row, "all live streams are in use")
        raise Conflict(
            "no_free_stream", "every live stream is in use: end a session first"
        ) from exc
    except (LiveError, OSError, ValueError) as exc:
        _fail_unstarted(db, hub, row, f"engine refused: {exc}")
        raise Unavailable("live_failed", f"the live session could not start: {exc}") from exc


def _fail_unstarted(db: Session, hub: LiveHub, row: LiveSessionRow, detail: str) -> None:
    db.rollback()
    now = hub.clock()
    _record_end(hub, row.id, SessionEnd(row.id, "failed", detail, now, 0.0))
    db.expire_all()


# --------------------------------------------------------------------------- stopping


def stop_session(uc: UseCase, hub: LiveHub, session_id: str) -> LiveSessionRow:
    """End a live session now (outcome `stopped`): loudspeakers silent, `stop` sent, recorded."""
    row = get_session(uc.db, session_id)
    require_writer(uc.actor)
    rights.require_live_session(uc.db, uc.actor, row)
    if row.ended_at is not None:
        raise Conflict("live_session_ended", "the live session has ended already")
    row.stopped_by = uc.actor.username
    uc.db.flush()
    audit.record(
        uc.db,
        "stop",
        "live_sessions",
        row.id,
        after={"title": row.title, "targets": row.targets},
        now=uc.now,
    )
    uc.db.commit()
    try:
        hub.require().stop_session(row.id)  # its end is recorded by `_record_end`
    except (UnknownSession, Unavailable):
        # The engine no longer runs it (a restart in between): record the stop ourselves.
        _record_end(hub, row.id, SessionEnd(row.id, "stopped", None, uc.now, 0.0))
    uc.db.refresh(row)
    return row


def mic_token(uc: UseCase, hub: LiveHub, session_id: str) -> tuple[LiveSessionRow, str]:
    """A fresh token for the microphone page of a running session, for the person who speaks.

    Only who started it may speak into it (an admin may take it over); the session must run.
    """
    row = get_session(uc.db, session_id)
    rights.require_live_session(uc.db, uc.actor, row)
    if row.started_by != uc.actor.username and uc.actor.role is not Role.ADMIN:
        raise Forbidden("not_your_session", "Chỉ người mở buổi phát trực tiếp này mới được nói.")
    if row.kind != "mic" or row.ended_at is not None:
        raise Conflict("live_session_ended", "the microphone session is not running")
    try:
        return row, hub.mics.reissue(row.id)
    except KeyError as exc:
        raise Conflict("live_session_ended", "the microphone session is not running") from exc


# --------------------------------------------------------------------------- the end


def _record_end(hub: LiveHub, session_id: str, end: SessionEnd) -> None:
    """Store how a session ended; off the timelines, `stop` and the alert when it ended early.

    Runs on the engine's thread (or the request's, for a stop): its own database session.
    """
    hub.mics.forget(session_id)
    if hub.sessions is None:
        log.error("live session %s ended (%s) with no store to record it", session_id, end.outcome)
        return
    stop_occ: Occurrence | None = None
    with hub.sessions() as db:
        row = db.get(LiveSessionRow, session_id)
        if row is None or row.ended_at is not None:
            return
        row.ended_at = end.ended_at
        row.outcome = end.outcome
        row.detail = (end.detail or "")[:1000] or None
        row.recording_sha256 = end.recording_sha256
        row.seconds_streamed = round(end.seconds_streamed, 3)
        occ = db.get(Occurrence, row.occurrence_id) if row.occurrence_id else None
        early = row.until is None or end.ended_at < row.until
        if occ is not None and early and occ.status in ("planned", "sent"):
            # Ended before its window: off the timelines, and silenced where it plays now.
            occ.status, occ.stopped_by, occ.updated_at = "stopped", row.stopped_by, end.ended_at
            stop_occ = occ
        db.flush()
        after: dict[str, Any] = {
            "title": row.title,
            "outcome": end.outcome,
            "detail": row.detail,
            "recording_sha256": end.recording_sha256,
        }
        audit.record(db, "live_end", "live_sessions", row.id, after=after, now=end.ended_at)
        if end.outcome == "failed":
            # The alert: an error in the log, an entry in the audit log, and the session's
            # red line on the live page (`outcome` failed with its detail).
            log.error("ALERT live session %s (%s) failed: %s", row.id, row.title, row.detail)
            audit.record(db, "live_failed", "live_sessions", row.id, after=after, now=end.ended_at)
        db.commit()
        if stop_occ is not None:
            dispatcher = hub.dispatcher()
            if dispatcher is None:
                log.warning("live session %s: no bus, stop not sent", session_id)
            else:
                with contextlib.suppress(BusError):
                    send_stop(dispatcher, stop_occ, now=end.ended_at)
    if stop_occ is not None:
        hub.on_plan_change()


def close_orphans(sessions: sessionmaker[Session], *, now: datetime) -> int:
    """Sessions the store holds as running that no engine runs (the server restarted): failed."""
    with sessions() as db:
        rows = list(db.scalars(select(LiveSessionRow).where(LiveSessionRow.ended_at.is_(None))))
        for row in rows:
            row.ended_at, row.outcome = now, "failed"
            row.detail = "the server restarted during the session"
            occ = db.get(Occurrence, row.occurrence_id) if row.occurrence_id else None
            if occ is not None and occ.status in ("planned", "sent"):
                occ.status, occ.updated_at = "stopped", now
            audit.record(
                db, "live_failed", "live_sessions", row.id, after={"detail": row.detail}, now=now
            )
        db.commit()
    if rows:
        log.error("ALERT %d live session(s) cut by a server restart marked failed", len(rows))
    return len(rows)


# --------------------------------------------------------------------------- relay schedules


def run_due_relays(hub: LiveHub, *, now: datetime) -> list[str]:
    """Start the engine session of every scheduled relay due within `RELAY_PRESTART`.

    Called by the dispatching replica's planner cycle (one leader: one session per
    occurrence). Returns the live session ids started. An occurrence that already has a
    session (running or ended) is never started twice.
    """
    if hub.engine is None or hub.sessions is None:
        return []
    started: list[str] = []
    with hub.sessions() as db:
        due = db.execute(
            select(Occurrence, Announcement)
            .join(Announcement, Announcement.id == Occurrence.announcement_id)
            .where(
                Announcement.kind == "relay",
                Occurrence.status == "planned",
                Occurrence.immediate.is_(False),
                Occurrence.play_at <= now + RELAY_PRESTART,
                Occurrence.until > now,
                ~select(LiveSessionRow.id)
                .where(LiveSessionRow.occurrence_id == Occurrence.id)
                .exists(),
            )
            .order_by(Occurrence.play_at)
        ).all()
        for occ, ann in due:
            sid = _start_scheduled(db, hub, hub.engine, occ, ann, now=now)
            if sid is not None:
                started.append(sid)
    if started:
        hub.on_plan_change()
    return started


def end_stopped(hub: LiveHub) -> list[str]:
    """End the engine sessions whose occurrence was stopped as a broadcast (`stop_broadcast`).

    Stopping the occurrence already silenced the agents and took it off the timelines; this
    frees the stream and records the session's end. Returns the session ids ended.
    """
    if hub.engine is None or hub.sessions is None:
        return []
    running = {s.id for s in hub.engine.sessions()}
    if not running:
        return []
    with hub.sessions() as db:
        rows = db.execute(
            select(LiveSessionRow.id, Occurrence.stopped_by)
            .join(Occurrence, Occurrence.id == LiveSessionRow.occurrence_id)
            .where(
                LiveSessionRow.id.in_(running),
                Occurrence.status.in_(("stopped", "cancelled")),
            )
        ).all()
        for sid, by in rows:
            row = db.get(LiveSessionRow, sid)
            if row is not None and row.stopped_by is None:
                row.stopped_by = by
        db.commit()
    ended = []
    for sid, _ in rows:
        with contextlib.suppress(LiveError):
            hub.engine.stop_session(sid)
            ended.append(sid)
    return ended


def _start_scheduled(
    db: Session,
    hub: LiveHub,
    engine: LiveEngine,
    occ: Occurrence,
    ann: Announcement,
    *,
    now: datetime,
) -> str | None:
    devices = sorted(occ.expected_devices or {})
    if not devices or not ann.source_url or occ.until is None:
        log.warning("scheduled relay %s has no loudspeaker or no URL: not started", occ.id)
        return None
    level = next((k for k, v in LEVEL_PRIORITY.items() if v == occ.priority), "normal")
    row = LiveSessionRow(
        id=uuid.uuid4().hex,
        kind="relay",
        title=occ.title,
        source_url=ann.source_url,
        targets=list(occ.targets),
        device_ids=devices,
        level=level,
        occurrence_id=occ.id,
        started_by=occ.caused_by or SERVER,
        started_at=now,
        until=occ.until,
    )
    db.add(row)
    db.commit()
    try:
        # Checked again now: a URL stored before the checks, or a policy narrowed since,
        # must not reach ffmpeg.
        source = hub.relay(ann.source_url)
    except (ValueError, LiveError) as exc:  # RelayRefused is a ValueError
        detail = f"relay source refused: {exc}"
        log.error("ALERT scheduled relay %s not started: %s", occ.id, detail)
        _record_end(hub, row.id, SessionEnd(row.id, "failed", detail, now, 0.0))
        db.expire_all()
        return None
    try:
        session = _engine_start(db, hub, engine, row, source)
    except (Conflict, Unavailable) as exc:
        log.error("ALERT scheduled relay %s not started: %s", occ.id, exc.message)
        return None
    occ = db.get(Occurrence, occ.id) or occ
    occ.live = session.live_ref()
    occ.updated_at = now
    db.commit()
    log.info("scheduled relay %s on air as live session %s", occ.id, row.id)
    return row.id


# --------------------------------------------------------------------------- relay announcements


def create_relay(
    uc: UseCase, *, title: str, url: str, minutes: int, level: str = "normal"
) -> Announcement:
    """A relay to schedule ("Tiếp sóng VOV1", its URL, 30 minutes): a draft to approve."""
    require_writer(uc.actor)
    title = title.strip()
    if not title:
        raise Invalid("title_required", "a relay needs a title")
    url = checked_relay_url(uc.settings, url)
    if not 1 <= minutes <= MAX_MINUTES:
        raise Invalid("invalid_minutes", f"a relay lasts 1 to {MAX_MINUTES} minutes")
    if level not in LEVEL_PRIORITY:
        raise Invalid("invalid_level", f"unknown level {level!r}")
    ann = Announcement(
        id=str(uuid.uuid4()),
        title=title[:300],
        kind="relay",
        text=None,
        placeholders={},
        source_url=url,
        relay_duration_s=minutes * 60,
        level=level,
        status="draft",
        author=uc.actor.username,
        last_editor=uc.actor.username,
        created_at=uc.now,
        updated_at=uc.now,
    )
    uc.db.add(ann)
    uc.db.flush()
    return ann
