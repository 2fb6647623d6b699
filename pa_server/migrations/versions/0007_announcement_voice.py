"""announcements.render_options and spoken_overrides: how an announcement is voiced and read

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: older announcements render with the defaults and the rules' own readings.
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("render_options", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("spoken_overrides", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_column("spoken_overrides")
        batch_op.drop_column("render_options")
