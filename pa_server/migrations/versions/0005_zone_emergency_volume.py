"""zones.emergency_volume: the volume emergency items play at, inherited down the zone tree

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: NULL inherits the nearest ancestor's setting; the root's default is 100.
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("emergency_volume", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.drop_column("emergency_volume")
