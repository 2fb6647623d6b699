"""A flag on the session saying "the plan's inputs changed": the caller replans after commit."""

from __future__ import annotations

from sqlalchemy.orm import Session

_KEY = "pa_plan_dirty"


def mark_plan_dirty(session: Session) -> None:
    """Note that schedules, announcements, zones or devices changed in this transaction."""
    session.info[_KEY] = True


def take_plan_dirty(session: Session) -> bool:
    """Whether the plan's inputs changed since the last call (and clear the flag)."""
    return bool(session.info.pop(_KEY, False))
