"""CAP alerts: publishers, feeds, geocodes, messages, alerts; zones get a point (lat/lon)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pa_server.db.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
    op.create_table(
        "cap_publishers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cap_publishers"),
        sa.UniqueConstraint("name", name="uq_cap_publishers_name"),
        sa.UniqueConstraint("digest", name="uq_cap_publishers_digest"),
    )
    op.create_table(
        "cap_feeds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("publisher_id", sa.Integer(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(300), nullable=True),
        sa.Column("last_modified", sa.String(100), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_polled_at", UTCDateTime(), nullable=True),
        sa.Column("last_ok_at", UTCDateTime(), nullable=True),
        sa.Column("next_poll_at", UTCDateTime(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publisher_id"],
            ["cap_publishers.id"],
            name="fk_cap_feeds_publisher_id_cap_publishers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cap_feeds"),
    )
    op.create_index("ix_cap_feeds_publisher_id", "cap_feeds", ["publisher_id"])
    op.create_table(
        "cap_geocodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("value_name", sa.String(100), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("zone_path", sa.String(400), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["zone_path"],
            ["zones.path"],
            name="fk_cap_geocodes_zone_path_zones",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cap_geocodes"),
        sa.UniqueConstraint("value_name", "value", name="uq_cap_geocodes_code"),
    )
    op.create_table(
        "cap_alerts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(700), nullable=False),
        sa.Column("publisher", sa.String(100), nullable=False),
        sa.Column("sender", sa.String(300), nullable=False),
        sa.Column("sender_name", sa.String(300), nullable=False),
        sa.Column("event", sa.String(300), nullable=False),
        sa.Column("headline", sa.String(300), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("certainty", sa.String(16), nullable=False),
        sa.Column("effective", UTCDateTime(), nullable=False),
        sa.Column("expires", UTCDateTime(), nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("area_desc", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("repeat_hours", sa.Integer(), nullable=False),
        sa.Column("announcement_id", sa.String(36), nullable=True),
        sa.Column("schedule_id", sa.String(36), nullable=True),
        sa.Column("notice_schedule_id", sa.String(36), nullable=True),
        sa.Column("last_message_id", sa.String(36), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name="fk_cap_alerts_announcement_id_announcements",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name="fk_cap_alerts_schedule_id_schedules",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notice_schedule_id"],
            ["schedules.id"],
            name="fk_cap_alerts_notice_schedule_id_schedules",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cap_alerts"),
        sa.UniqueConstraint("key", name="uq_cap_alerts_key"),
    )
    op.create_index("ix_cap_alerts_state", "cap_alerts", ["state"])
    op.create_table(
        "cap_messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("door", sa.String(16), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(24), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("identifier", sa.String(300), nullable=False),
        sa.Column("sender", sa.String(300), nullable=False),
        sa.Column("sent", sa.String(64), nullable=False),
        sa.Column("msg_type", sa.String(16), nullable=False),
        sa.Column("key", sa.String(700), nullable=True),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("alert_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["cap_feeds.id"],
            name="fk_cap_messages_feed_id_cap_feeds",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["cap_alerts.id"],
            name="fk_cap_messages_alert_id_cap_alerts",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cap_messages"),
    )
    op.create_index("ix_cap_messages_received_at", "cap_messages", ["received_at"])
    op.create_index("ix_cap_messages_verdict", "cap_messages", ["verdict"])
    op.create_index("ix_cap_messages_key", "cap_messages", ["key"])
    op.create_index("ix_cap_messages_alert_id", "cap_messages", ["alert_id"])


def downgrade() -> None:
    op.drop_table("cap_messages")
    op.drop_table("cap_alerts")
    op.drop_table("cap_geocodes")
    op.drop_table("cap_feeds")
    op.drop_table("cap_publishers")
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
