"""CAP: each publisher names the CAP senders it may use (its pushes and feeds)

Existing publishers get the senders of the valid messages they already brought, so what worked
keeps working; one that brought none gets an empty list and is refused until an admin names
its senders (failing closed: an unbound publisher could take any other's alert keys).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 22:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: Verdicts of messages that were not read (their sender is whatever the bytes claimed).
_UNREAD = ("invalid", "refused")


def upgrade() -> None:
    with op.batch_alter_table("cap_publishers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("senders", sa.JSON(), nullable=False, server_default="[]"))
    bind = op.get_bind()
    publishers = sa.table(
        "cap_publishers",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("senders", sa.JSON),
    )
    messages = sa.table(
        "cap_messages",
        sa.column("source", sa.String),
        sa.column("sender", sa.String),
        sa.column("verdict", sa.String),
    )
    seen: dict[str, set[str]] = {}
    for source, sender in bind.execute(
        sa.select(messages.c.source, messages.c.sender)
        .where(messages.c.sender != "", messages.c.verdict.not_in(_UNREAD))
        .distinct()
    ):
        seen.setdefault(source, set()).add(sender)
    for pub_id, name in bind.execute(sa.select(publishers.c.id, publishers.c.name)):
        found = sorted(seen.get(f"cap:{name}", ()))
        if found:
            bind.execute(
                publishers.update().where(publishers.c.id == pub_id).values(senders=found)
            )


def downgrade() -> None:
    with op.batch_alter_table("cap_publishers", schema=None) as batch_op:
        batch_op.drop_column("senders")
