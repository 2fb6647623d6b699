"""live_sessions, live occurrences (live, until, no announcement) and relay announcements

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pa_server.db.types import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_url", sa.String(1000), nullable=True))
        batch_op.add_column(sa.Column("relay_duration_s", sa.Integer(), nullable=True))
        batch_op.drop_constraint(op.f("ck_announcements_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_announcements_kind"), "kind IN ('text', 'recording', 'relay')"
        )
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.alter_column("announcement_id", existing_type=sa.String(36), nullable=True)
        batch_op.add_column(sa.Column("live", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("until", UTCDateTime(), nullable=True))
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("source_url", sa.String(1000), nullable=True),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("device_ids", sa.JSON(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("occurrence_id", sa.String(128), nullable=True),
        sa.Column("started_by", sa.String(100), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("detail", sa.String(1000), nullable=True),
        sa.Column("stopped_by", sa.String(100), nullable=True),
        sa.Column("recording_sha256", sa.String(64), nullable=True),
        sa.Column("seconds_streamed", sa.Float(), nullable=True),
        sa.CheckConstraint("kind IN ('mic', 'relay')", name=op.f("ck_live_sessions_kind")),
        sa.CheckConstraint(
            "level IN ('normal', 'priority', 'emergency')", name=op.f("ck_live_sessions_level")
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('stopped', 'finished', 'failed')",
            name=op.f("ck_live_sessions_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["occurrences.id"],
            name="fk_live_sessions_occurrence_id_occurrences",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_live_sessions"),
    )
    op.create_index("ix_live_sessions_started_at", "live_sessions", ["started_at"])
    op.create_index("ix_live_sessions_occurrence_id", "live_sessions", ["occurrence_id"])


def downgrade() -> None:
    op.drop_index("ix_live_sessions_occurrence_id", table_name="live_sessions")
    op.drop_index("ix_live_sessions_started_at", table_name="live_sessions")
    op.drop_table("live_sessions")
    op.execute("DELETE FROM occurrences WHERE announcement_id IS NULL")
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.drop_column("until")
        batch_op.drop_column("live")
        batch_op.alter_column("announcement_id", existing_type=sa.String(36), nullable=False)
    op.execute("DELETE FROM announcements WHERE kind = 'relay'")
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_announcements_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_announcements_kind"), "kind IN ('text', 'recording')"
        )
        batch_op.drop_column("relay_duration_s")
        batch_op.drop_column("source_url")
