"""published_timelines: keep the signed envelope, its expiry and how many items were cut

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pa_server.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows from v1 have no envelope: the next sync republishes them (a v1 envelope is refused
    # by v2 agents anyway), after which the HTTP pull and the retained check can serve them.
    with op.batch_alter_table("published_timelines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("envelope", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("items_cut", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("published_timelines", schema=None) as batch_op:
        batch_op.drop_column("items_cut")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("envelope")
