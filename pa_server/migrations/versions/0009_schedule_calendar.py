"""schedules.lunar and schedules.holidays: lunar days and the public-holiday policy

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing schedules keep their meaning: no lunar rule, holidays are ordinary days.
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lunar", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("holidays", sa.String(length=8), nullable=False, server_default="include")
        )
        batch_op.create_check_constraint("holidays", "holidays IN ('include', 'skip', 'only')")


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_schedules_holidays"), type_="check")
        batch_op.drop_column("holidays")
        batch_op.drop_column("lunar")
