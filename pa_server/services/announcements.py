"""Announcements: what is said, from draft to approved to archived."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from announcements.errors import MAX_TEXT_CHARS
from pa_server.db.models import Announcement, Occurrence, Rendition, Schedule
from pa_server.schemas.announcements import AnnouncementCreate, AnnouncementUpdate
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound
from pa_server.services.scripts import fill_script, require_script


def get_announcement(session: Session, announcement_id: str) -> Announcement:
    """The announcement, or `NotFound`."""
    ann = session.get(Announcement, announcement_id)
    if ann is None:
        raise NotFound("announcement_not_found", f"no announcement {announcement_id!r}")
    return ann


def require_approved(session: Session, announcement_id: str) -> Announcement:
    """An announcement that may go on air: approved and rendered."""
    ann = session.get(Announcement, announcement_id)
    if ann is None:
        raise Invalid("unknown_announcement", f"unknown announcement {announcement_id!r}")
    if ann.status != "approved":
        raise Invalid(
            "announcement_not_approved",
            f"announcement {announcement_id!r} is {ann.status}: only approved ones go on air",
        )
    return ann


def _text_of(text: str | None, script_name: str | None, placeholders: dict[str, str]) -> str:
    if script_name:
        text = fill_script(require_script(script_name), placeholders)
    elif placeholders:
        raise Invalid("missing_script", "placeholder values given without a script name")
    if text is None or not text.strip():
        raise Invalid("empty_text", "an announcement needs text, a script or a recording")
    if len(text) > MAX_TEXT_CHARS:
        raise Invalid("text_too_long", f"text of {len(text)} characters exceeds {MAX_TEXT_CHARS}")
    return text.strip()


def create_announcement(
    session: Session, data: AnnouncementCreate, *, author: str, now: datetime
) -> Announcement:
    """A new draft. Text comes from `text` or a filled script; recording drafts may lack it."""
    recording = data.kind == "recording"
    text = (
        None
        if recording and not (data.text or data.script_name)
        else _text_of(data.text, data.script_name, data.placeholders)
    )
    ann = Announcement(
        id=str(uuid.uuid4()),
        title=data.title.strip(),
        kind="recording" if recording else "text",
        text=text,
        script_name=data.script_name,
        placeholders=dict(data.placeholders),
        level=data.level,
        status="draft",
        author=author,
        created_at=now,
        updated_at=now,
    )
    session.add(ann)
    session.flush()
    return ann


def list_announcements(
    session: Session, *, status: str | None, limit: int, offset: int
) -> tuple[list[Announcement], int]:
    """One page of announcements, newest first; and the total."""
    query = select(Announcement)
    if status is not None:
        query = query.where(Announcement.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Announcement.created_at.desc(), Announcement.id).limit(limit).offset(offset)
    )
    return list(rows.unique()), total


def update_announcement(
    session: Session, announcement_id: str, data: AnnouncementUpdate, *, now: datetime
) -> Announcement:
    """Edit a draft (its rendition is dropped: it no longer says the text); archive any."""
    ann = get_announcement(session, announcement_id)
    changes = data.model_dump(exclude_unset=True)
    status = changes.pop("status", None)
    if changes:
        if ann.status != "draft":
            raise Conflict(
                "announcement_not_draft",
                f"announcement is {ann.status}: only drafts can be edited (archive it and copy)",
            )
        if changes.get("title") is None and "title" in changes:
            raise Invalid("invalid_title", "an announcement needs a title")
        for key in ("title", "level"):
            if changes.get(key) is not None:
                setattr(ann, key, changes[key])
        if {"text", "script_name", "placeholders"} & changes.keys():
            script = changes.get("script_name", ann.script_name)
            values = changes.get("placeholders")
            values = dict(ann.placeholders if values is None else values)
            text = changes.get("text") if "text" in changes else None
            if text is None and not script:
                text = ann.text
            ann.text = _text_of(text, script, values)
            ann.script_name = script
            ann.placeholders = values
            ann.kind = "text"
            ann.rendition = None
    if status == "archived":
        ann.status = "archived"
        mark_plan_dirty(session)
    elif status == "draft" and ann.status != "draft":
        # Back to draft withdraws the approval: it stops being scheduled until re-approved.
        ann.status, ann.approver, ann.approved_at = "draft", None, None
        mark_plan_dirty(session)
    ann.updated_at = now
    session.flush()
    return ann


def approve_announcement(
    session: Session, announcement_id: str, *, approver: str, now: datetime
) -> Announcement:
    """Approve a rendered draft: from now on it may be scheduled and broadcast."""
    ann = get_announcement(session, announcement_id)
    if ann.status != "draft":
        raise Conflict("announcement_not_draft", f"announcement is already {ann.status}")
    if ann.rendition is None:
        raise Conflict("not_rendered", "render the announcement first: approve what is heard")
    ann.status, ann.approver, ann.approved_at, ann.updated_at = "approved", approver, now, now
    session.flush()
    mark_plan_dirty(session)
    return ann


def delete_announcement(session: Session, announcement_id: str) -> None:
    """Delete an announcement that was never scheduled nor broadcast (archive it otherwise)."""
    ann = get_announcement(session, announcement_id)
    used = session.scalar(
        select(func.count()).where(Schedule.announcement_id == announcement_id)
    ) or session.scalar(select(func.count()).where(Occurrence.announcement_id == announcement_id))
    if used:
        raise Conflict(
            "announcement_in_use", "the announcement is scheduled or was broadcast: archive it"
        )
    session.delete(ann)
    session.flush()
    # Renditions point back without a foreign key: remove this announcement's history too.
    session.execute(delete(Rendition).where(Rendition.announcement_id == announcement_id))
