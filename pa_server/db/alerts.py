"""The tables of CAP alerts: publishers, feeds, the geocode → zone table, every message received
(with its raw XML and verdict) and the alerts they make (docs/alerts.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pa_server.db.models import Base


class CapPublisher(Base):
    """Someone who pushes CAP to the district (and whose name a feed acts under)."""

    __tablename__ = "cap_publishers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: Zone paths its alerts may reach ([""] would be everywhere; an admin's decision).
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The CAP `<sender>` values its pushes and feeds may carry: anything else is refused, so
    #: it cannot take another publisher's (predictable) `sender,identifier,sent` key first.
    senders: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: SHA-256 of its push token (`pa_server.auth.tokens`); None: it only feeds.
    digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: When and by whom it was last locked (kept after an unlock: the page says so).
    locked_at: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    #: When its push token was last replaced (None: the first token still holds).
    token_rotated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class CapFeed(Base):
    """A URL polled for CAP (Atom/RSS of CAP entries, or one CAP document), and its health."""

    __tablename__ = "cap_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(1000))
    publisher_id: Mapped[int] = mapped_column(
        ForeignKey("cap_publishers.id", ondelete="CASCADE"), index=True
    )
    interval_s: Mapped[int] = mapped_column(Integer, default=300)
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    #: Consecutive failed polls (0: healthy); the next poll backs off accordingly.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: ok / not_modified / error / never.
    last_status: Mapped[str] = mapped_column(String(16), default="never")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class CapGeocode(Base):
    """One row of the admins' table: a CAP geocode (valueName, value) is this zone."""

    __tablename__ = "cap_geocodes"
    __table_args__ = (UniqueConstraint("value_name", "value", name="uq_cap_geocodes_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    value_name: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(String(200))
    zone_path: Mapped[str] = mapped_column(ForeignKey("zones.path", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class CapAlert(Base):
    """An alert as it stands after every message about it (alert, updates, cancel)."""

    __tablename__ = "cap_alerts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: The first message's reference key (sender,identifier,sent in UTC).
    key: Mapped[str] = mapped_column(String(700), unique=True)
    publisher: Mapped[str] = mapped_column(String(100))
    sender: Mapped[str] = mapped_column(String(300))
    sender_name: Mapped[str] = mapped_column(String(300), default="")
    event: Mapped[str] = mapped_column(String(300))
    headline: Mapped[str] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    certainty: Mapped[str] = mapped_column(String(16))
    effective: Mapped[datetime]
    expires: Mapped[datetime | None]
    level: Mapped[str] = mapped_column(String(16))
    #: Zone paths its areas cover.
    zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    area_desc: Mapped[str] = mapped_column(Text, default="")
    #: draft (awaiting approval) / on_air / needs_text / no_zone / cancelled.
    state: Mapped[str] = mapped_column(String(16), index=True)
    auto: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat_hours: Mapped[int] = mapped_column(Integer, default=1)
    announcement_id: Mapped[str | None] = mapped_column(
        ForeignKey("announcements.id", ondelete="SET NULL")
    )
    schedule_id: Mapped[str | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    #: Zones whose broadcasts await a person's approval: every zone of a draft; for an alert
    #: split by mixed policies, those of its second part while its first (`schedule_id`) is on
    #: air alone elsewhere. Empty once approved, and for an alert on air everywhere.
    waiting_zones: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The second part's words and schedule (kept after approval: an Update or Cancel reaches
    #: them too).
    approval_announcement_id: Mapped[str | None] = mapped_column(
        ForeignKey("announcements.id", ondelete="SET NULL")
    )
    approval_schedule_id: Mapped[str | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL")
    )
    #: The one-off schedule of the cancellation notice, if one was said.
    notice_schedule_id: Mapped[str | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL")
    )
    last_message_id: Mapped[str | None] = mapped_column(String(36))
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CapMessage(Base):
    """Every CAP message received, valid or not: raw XML, door, who brought it, the verdict."""

    __tablename__ = "cap_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    #: upload / push / feed.
    door: Mapped[str] = mapped_column(String(16))
    #: Who brought it: a username, `cap:<publisher>`.
    source: Mapped[str] = mapped_column(String(100))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("cap_feeds.id", ondelete="SET NULL"))
    raw: Mapped[str] = mapped_column(Text)
    #: accepted / invalid / duplicate / unknown_reference / expired / out_of_scope /
    #: not_actual / ignored / refused (a locked publisher, or a sender it was not given).
    verdict: Mapped[str] = mapped_column(String(24), index=True)
    code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    identifier: Mapped[str] = mapped_column(String(300), default="")
    sender: Mapped[str] = mapped_column(String(300), default="")
    sent: Mapped[str] = mapped_column(String(64), default="")
    msg_type: Mapped[str] = mapped_column(String(16), default="")
    key: Mapped[str | None] = mapped_column(String(700), index=True)
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    alert_id: Mapped[str | None] = mapped_column(
        ForeignKey("cap_alerts.id", ondelete="SET NULL"), index=True
    )
