"""who caused what: announcements.last_editor, schedules.set_by, occurrences.caused_by/stopped_by

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: older rows have no record; the rights rules read a missing last editor as the
    # author (who made the first and only version).
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_editor", sa.String(100), nullable=True))
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("set_by", sa.String(100), nullable=True))
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caused_by", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("stopped_by", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.drop_column("stopped_by")
        batch_op.drop_column("caused_by")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("set_by")
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_column("last_editor")
