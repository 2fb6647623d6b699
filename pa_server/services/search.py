"""Searching the lists in SQL: one typed phrase matched against several columns.

The database does the matching (`ILIKE`, with `%` and `_` in the phrase taken literally), so a
list of thousands is never loaded to be filtered in Python.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import String, cast, false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pa_server.db.models import Device, Zone

#: Longest phrase searched (a longer one is cut: nobody types more to find a row).
MAX_TERM = 100


def term(raw: str | None) -> str | None:
    """The phrase to search for, trimmed; None when nothing was typed."""
    text = " ".join((raw or "").split())[:MAX_TERM]
    return text or None


def _pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(text: str, *columns: Any) -> ColumnElement[bool]:
    """True where any of `columns` contains `text` (case-insensitive, literal)."""
    pattern = _pattern(text)
    return or_(*(cast(c, String).ilike(pattern, escape="\\") for c in columns))


def zone_paths_named(session: Session, text: str) -> list[str]:
    """Paths of the zones whose name or path contains `text`."""
    return list(session.scalars(select(Zone.path).where(contains(text, Zone.name, Zone.path))))


def device_ids_named(session: Session, text: str) -> list[str]:
    """Ids of the loudspeakers whose name, id or place contains `text`."""
    return list(
        session.scalars(
            select(Device.id).where(contains(text, Device.name, Device.id, Device.location))
        )
    )


def targets_match(session: Session, text: str, targets_column: Any) -> ColumnElement[bool]:
    """True where a stored list of targets names a zone or loudspeaker matching `text`."""
    names = [f"zone:{p}" for p in zone_paths_named(session, text)]
    names += [f"device:{d}" for d in device_ids_named(session, text)]
    if not names:
        return false()
    # The JSON list as text holds each target in quotes: "zone:a/b" matches zone a/b exactly.
    return or_(*(cast(targets_column, String).contains(f'"{n}"', autoescape=True) for n in names))


def usernames_named(session: Session, text: str) -> list[str]:
    """User names of the people whose user name or full name contains `text`."""
    from pa_server.auth.models import User

    return list(
        session.scalars(select(User.username).where(contains(text, User.username, User.full_name)))
    )


def actor_match(session: Session, text: str, *columns: Any) -> ColumnElement[bool]:
    """True where any of `columns` (user names) names a person matching `text`."""
    names = usernames_named(session, text)
    return or_(contains(text, *columns), *(c.in_(names) for c in columns if names))


def audit_match(session: Session, text: str) -> ColumnElement[bool]:
    """True for audit entries by a person matching `text`, or about something matching it.

    "Something" is the entry's id and what it recorded (a title, a zone, a loudspeaker), so
    "lũ quét" finds the emergency and "Tân Tiến" the changes to that commune.
    """
    from pa_server.auth.models import AuditEntry

    names = [f"zone:{p}" for p in zone_paths_named(session, text)]
    names += zone_paths_named(session, text) + device_ids_named(session, text)
    recorded = [cast(AuditEntry.after, String), cast(AuditEntry.before, String)]
    return or_(
        actor_match(session, text, AuditEntry.actor_name),
        contains(text, AuditEntry.entity_id, *recorded),
        # JSON columns hold non-ASCII letters as \u escapes (json.dumps' default).
        contains(json.dumps(text)[1:-1], *recorded),
        AuditEntry.entity_id.in_(names) if names else false(),
        *(c.contains(f'"{n}"', autoescape=True) for c in recorded for n in names[:50]),
    )
