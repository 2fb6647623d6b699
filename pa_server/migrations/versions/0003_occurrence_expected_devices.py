"""occurrences.expected_devices: the devices an occurrence was meant for, recorded when planned

Revision ID: 0003
Revises: 0002 (re-chained after the accounts migration)
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows planned before this revision have no record; reports then fall back to
    # the devices' current zones.
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expected_devices", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("occurrences", schema=None) as batch_op:
        batch_op.drop_column("expected_devices")
