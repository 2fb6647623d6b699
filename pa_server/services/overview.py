"""What a person should look at first: announcements waiting for them, broadcasts coming up."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor, Role
from pa_server.db.models import Announcement
from pa_server.services import rights


def pending_approvals(session: Session, actor: Actor) -> int:
    """How many drafts `actor` may approve now (the rights rule of approving, applied to each).

    Zero for people who do not approve. A draft they wrote or last changed is not theirs to
    approve, nor one reaching outside their zones.
    """
    if actor.role not in (Role.APPROVER, Role.ADMIN):
        return 0
    count = 0
    for ann in session.scalars(select(Announcement).where(Announcement.status == "draft")):
        try:
            rights.require_approval(session, actor, ann)
        except Forbidden:
            continue
        count += 1
    return count
