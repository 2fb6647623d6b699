"""CAP: publishers can be locked (by whom, when) and have their token rotated; an alert over
zones with mixed policies keeps a second part (the zones awaiting approval)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pa_server.db.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cap_publishers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("locked_by", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("token_rotated_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("cap_alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("waiting_zones", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("approval_announcement_id", sa.String(36), nullable=True))
        batch_op.add_column(sa.Column("approval_schedule_id", sa.String(36), nullable=True))
        batch_op.create_foreign_key(
            "fk_cap_alerts_approval_announcement_id_announcements",
            "announcements",
            ["approval_announcement_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            "fk_cap_alerts_approval_schedule_id_schedules",
            "schedules",
            ["approval_schedule_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("cap_alerts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_cap_alerts_approval_schedule_id_schedules", type_="foreignkey")
        batch_op.drop_constraint(
            "fk_cap_alerts_approval_announcement_id_announcements", type_="foreignkey"
        )
        batch_op.drop_column("approval_schedule_id")
        batch_op.drop_column("approval_announcement_id")
        batch_op.drop_column("waiting_zones")
    with op.batch_alter_table("cap_publishers", schema=None) as batch_op:
        batch_op.drop_column("token_rotated_at")
        batch_op.drop_column("locked_by")
        batch_op.drop_column("locked_at")
