"""The tables: zones, devices and their state, announcements, renditions, schedules,
occurrences, receipts and the published-timeline ledger.

Every instant is an aware UTC `datetime` (`UTCDateTime`). Zone paths and device ids are the
protocol's names (`devices.protocol`), so they are the primary keys: the wire and the database
speak of the same things by the same names.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pa_server.db.types import UTCDateTime

#: Constraint names fixed by convention so Alembic migrations are stable on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class Zone(Base):
    """A node of the district → commune → village tree, named by its slug path."""

    __tablename__ = "zones"

    path: Mapped[str] = mapped_column(String(400), primary_key=True)
    parent_path: Mapped[str | None] = mapped_column(
        ForeignKey("zones.path", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    quiet_start: Mapped[time | None] = mapped_column(Time())
    quiet_end: Mapped[time | None] = mapped_column(Time())
    timezone: Mapped[str] = mapped_column(String(64))
    default_volume: Mapped[int | None] = mapped_column(Integer)
    #: Volume of emergency items here; None inherits the nearest ancestor's (root: 100).
    emergency_volume: Mapped[int | None] = mapped_column(Integer)
    #: The zone's point (its centre, WGS 84) that CAP polygons and circles are tested against.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Device(Base):
    """A loudspeaker agent: where it hangs and how it logs in to the broker."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    zone_path: Mapped[str] = mapped_column(
        ForeignKey("zones.path", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    location: Mapped[str] = mapped_column(String(300), default="")
    #: Mosquitto-compatible PBKDF2-SHA512 (`$7$…`), so a `mosquitto_passwd` file can be written.
    credential_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    state: Mapped[DeviceState | None] = relationship(
        back_populates="device", cascade="all, delete-orphan", lazy="joined"
    )


class DeviceState(Base):
    """The last retained state an agent published (one row per device, replaced on each)."""

    __tablename__ = "device_states"

    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    online: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]

    device: Mapped[Device] = relationship(back_populates="state")


class Announcement(Base):
    """What is said: text (possibly from a script) or a recording, and its approval state."""

    __tablename__ = "announcements"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'approved', 'archived')", name="status"),
        CheckConstraint("level IN ('normal', 'priority', 'emergency')", name="level"),
        CheckConstraint("kind IN ('text', 'recording', 'relay')", name="kind"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    script_name: Mapped[str | None] = mapped_column(String(100))
    placeholders: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recording_sha256: Mapped[str | None] = mapped_column(String(64))
    recording_ext: Mapped[str | None] = mapped_column(String(8))
    recording_name: Mapped[str | None] = mapped_column(String(200))
    #: A relay ("tiếp sóng"): the HTTP(S) stream it relays and for how long. Approved like any
    #: text, scheduled like any announcement; the server relays it live at each occurrence.
    source_url: Mapped[str | None] = mapped_column(String(1000))
    relay_duration_s: Mapped[int | None] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(16), default="normal")
    #: How it was last rendered (the API's `RenderOptions`): a re-render sounds the same.
    render_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: An operator's readings of spans of the text (`announcements.spans.Override` dicts).
    spoken_overrides: Mapped[list[Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    author: Mapped[str] = mapped_column(String(100))
    #: Who last changed what is heard (text, title, level, recording or rendition): the
    #: approver must be someone else. None on rows older than migration 0004 (the author).
    last_editor: Mapped[str | None] = mapped_column(String(100))
    approver: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None]
    rendition_id: Mapped[int | None] = mapped_column(
        ForeignKey("renditions.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    rendition: Mapped[Rendition | None] = relationship(lazy="joined")


class Rendition(Base):
    """One rendering of an announcement into a content-addressed media file."""

    __tablename__ = "renditions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The announcement it was rendered for (no foreign key: the announcement points here, and a
    #: cycle of keys cannot be created on SQLite).
    announcement_id: Mapped[str] = mapped_column(String(36), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    ext: Mapped[str] = mapped_column(String(8))
    mime: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[int] = mapped_column(Integer)
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    true_peak_dbtp: Mapped[float | None] = mapped_column(Float)
    engines: Mapped[list[str]] = mapped_column(default=list)
    fell_back: Mapped[bool] = mapped_column(Boolean, default=False)
    spoken_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class Schedule(Base):
    """When and where an approved announcement is heard: an RFC 5545 rule or one instant."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("level IN ('normal', 'priority', 'emergency')", name="level"),
        CheckConstraint("end_at IS NULL OR end_at >= start_at", name="end_after_start"),
        CheckConstraint("holidays IN ('include', 'skip', 'only')", name="holidays"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    announcement_id: Mapped[str] = mapped_column(
        ForeignKey("announcements.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    rrule: Mapped[str | None] = mapped_column(String(1000))
    #: Local times of day, "HH:MM", sorted; empty: the rule's own time (or the start's).
    times: Mapped[list[str]] = mapped_column(default=list)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None]
    #: Exception instants, ISO 8601 UTC strings (JSON keeps the list portable across backends).
    exdates: Mapped[list[str]] = mapped_column(default=list)
    timezone: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    volume: Mapped[int | None] = mapped_column(Integer)
    max_late_s: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Lunar days the rule's instants are kept on, `{"days": [1, 15], "months": []}` (months
    #: empty: every lunar month); None: no lunar rule (see `pa_server.planning.calendar`).
    lunar: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Public holidays: "include" (ordinary days), "skip" them, or play "only" on them.
    holidays: Mapped[str] = mapped_column(String(8), default="include", server_default="include")
    #: Who created the schedule in its current form (its last editor): the person whose
    #: rights it was checked against, and who its occurrences name as their cause.
    set_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    targets: Mapped[list[ScheduleTarget]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ScheduleTarget.id"
    )


class ScheduleTarget(Base):
    """One zone or one device a schedule plays on (foreign keys keep targets real)."""

    __tablename__ = "schedule_targets"
    __table_args__ = (
        CheckConstraint("(zone_path IS NULL) <> (device_id IS NULL)", name="exactly_one_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    zone_path: Mapped[str | None] = mapped_column(
        ForeignKey("zones.path", ondelete="RESTRICT"), index=True
    )
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("devices.id", ondelete="RESTRICT"), index=True
    )

    @property
    def target(self) -> str:
        """The protocol target name, `zone:<path>` or `device:<id>`."""
        return f"zone:{self.zone_path}" if self.zone_path else f"device:{self.device_id}"


class Occurrence(Base):
    """One planned (or immediate) broadcast; ids come from the planner, so replans upsert."""

    __tablename__ = "occurrences"
    __table_args__ = (
        CheckConstraint("status IN ('planned', 'cancelled', 'stopped', 'sent')", name="status"),
        Index("ix_occurrences_play_at", "play_at"),
    )

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    schedule_id: Mapped[str | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), index=True
    )
    #: What is played; None for a live session not made from an announcement (a microphone,
    #: a relay started by hand: its `live_sessions` row says what it was).
    announcement_id: Mapped[str | None] = mapped_column(
        ForeignKey("announcements.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    planned_at: Mapped[datetime]
    play_at: Mapped[datetime]
    targets: Mapped[list[str]]
    priority: Mapped[int] = mapped_column(Integer)
    volume: Mapped[int | None] = mapped_column(Integer)
    max_late_s: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    #: What was (or will be) sent: the media of the rendition current at planning time.
    media_sha256: Mapped[str | None] = mapped_column(String(64))
    media_ext: Mapped[str | None] = mapped_column(String(8))
    media_bytes: Mapped[int | None] = mapped_column(BigInteger)
    media_mime: Mapped[str | None] = mapped_column(String(64))
    immediate: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A live occurrence: the protocol's `live` object (engine, host, port, stream) once its
    #: session runs, and when it ends. None for files (and for a relay not started yet).
    live: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    until: Mapped[datetime | None]
    #: Device id → zone path of every device it was meant for, as planned or sent (a device
    #: moved later does not rewrite this history). None on rows older than migration 0003.
    expected_devices: Mapped[dict[str, str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="planned", index=True)
    #: Who put it on air: the broadcast's sender, or the person who set its schedule.
    caused_by: Mapped[str | None] = mapped_column(String(100))
    #: Who stopped or cancelled it, if anyone did.
    stopped_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Receipt(Base):
    """What one agent did with one occurrence; stored once per (device, occurrence, type)."""

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("device_id", "occurrence_id", "type", name="uq_receipts_once"),
        CheckConstraint(
            "type IN ('fetched', 'started', 'finished', 'failed', 'skipped', 'missed')",
            name="type",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    occurrence_id: Mapped[str] = mapped_column(
        ForeignKey("occurrences.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    late_ms: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(1000))
    received_at: Mapped[datetime]


class PublishedTimeline(Base):
    """The last timeline published per target: the dispatcher's `PublishedStore` ledger."""

    __tablename__ = "published_timelines"

    target: Mapped[str] = mapped_column(String(500), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(128))
    published_at: Mapped[datetime]
    #: The signed envelope as published (canonical JSON): what agents pull over HTTP and what
    #: the server republishes after a broker lost its retained messages. None before v2.
    envelope: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    #: Items left out to keep the envelope under the protocol's size limit (0: the full plan).
    items_cut: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LiveSessionRow(Base):
    """One live session (microphone or relay): who, where, what, and how it ended."""

    __tablename__ = "live_sessions"
    __table_args__ = (
        CheckConstraint("kind IN ('mic', 'relay')", name="kind"),
        CheckConstraint("level IN ('normal', 'priority', 'emergency')", name="level"),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('stopped', 'finished', 'failed')", name="outcome"
        ),
        Index("ix_live_sessions_started_at", "started_at"),
    )

    #: Also the engine's session id and the microphone WebSocket's path segment.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    #: The relayed stream's URL (a relay); None for a microphone.
    source_url: Mapped[str | None] = mapped_column(String(1000))
    #: Protocol targets (`zone:…` / `device:…`) and the device ids they resolved to.
    targets: Mapped[list[str]]
    device_ids: Mapped[list[str]]
    level: Mapped[str] = mapped_column(String(16))
    #: The occurrence that carries its live item to the agents (timelines, receipts, report).
    occurrence_id: Mapped[str | None] = mapped_column(
        ForeignKey("occurrences.id", ondelete="SET NULL"), index=True
    )
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    until: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(1000))
    stopped_by: Mapped[str | None] = mapped_column(String(100))
    #: The recording kept in the media store (proof of what was said), if anything streamed.
    recording_sha256: Mapped[str | None] = mapped_column(String(64))
    seconds_streamed: Mapped[float | None] = mapped_column(Float)
