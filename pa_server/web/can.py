"""What the signed-in person may do, asked by the templates: `can("approve", author)`.

The one place the pages ask about rights, so buttons and links a person may not use are not
shown (rather than shown and refused with 403). It calls the pure functions of
`pa_server.auth.rights` for now; when the services grow their own rights functions, only this
module changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from pa_server.auth import rights
from pa_server.auth.errors import Forbidden
from pa_server.auth.rights import Actor
from pa_server.db.models import Announcement, Schedule
from pa_server.services import rights as service_rights

#: Paths of the menu and who sees them; a path not listed is for everyone signed in.
NAV_RIGHTS = {"/nguoi-dung": "manage_users", "/khan-cap": "emergency"}


def _refused(check: Callable[[], None]) -> bool:
    try:
        check()
    except Forbidden:
        return False
    return True


def can(actor: Actor | None, action: str, *args: Any) -> bool:
    """True when `actor` may do `action` (with its object, e.g. a zone path or an author).

    Actions: "write" (compose, schedule), "approve" (author), "zone" (zone path),
    "device" (the device's zone path), "targets" ("zone:…"/"device:…" list),
    "emergency", "manage_users", "manage_zones" (the zone tree), "nav" (a menu path).
    Unknown actions are refused.
    """
    if actor is None:
        return False
    if action == "write":
        return _refused(lambda: rights.require_writer(actor))
    if action == "approve":
        author = args[0] if args else None
        return _refused(lambda: rights.require_approve(actor, author))
    if action in ("zone", "device"):
        return bool(args) and rights.may_act_in_zone(actor, str(args[0]))
    if action == "targets":
        targets: Iterable[str] = args[0] if args else ()
        return _refused(lambda: rights.require_targets(actor, list(targets)))
    if action == "emergency":
        # The rule `services.broadcasts.sound_emergency` applies, asked as if confirmed: the
        # confirmation is the form's, the right is the person's.
        return _refused(lambda: rights.require_level(actor, "emergency", confirmed=True))
    if action == "manage_zones":
        return _refused(lambda: service_rights.require_zone_tree(actor))
    if action == "manage_users":
        return _refused(lambda: rights.require_admin(actor))
    if action == "nav":
        needed = NAV_RIGHTS.get(str(args[0]) if args else "")
        return needed is None or can(actor, needed)
    return False


def can_change_schedule(db: Session, actor: Actor | None, schedule: Schedule) -> bool:
    """True when `actor` may edit, pause, resume or delete `schedule` as it stands.

    The same check `services.schedules.update_schedule`/`delete_schedule` make first, so a
    button shown is a button that works (the edit itself is checked again on its result).
    """
    if actor is None or not can(actor, "write"):
        return False
    return _refused(lambda: service_rights.require_schedule(db, actor, schedule))


def can_change_announcement(db: Session, actor: Actor | None, ann: Announcement) -> bool:
    """True when `actor` may edit, re-draft or archive announcement `ann`."""
    if actor is None or not can(actor, "write"):
        return False
    return _refused(lambda: service_rights.require_announcement(db, actor, ann))
