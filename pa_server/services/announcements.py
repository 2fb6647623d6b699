"""Announcements: what is said, from draft to approved to archived — one function per use case.

Each use case takes a `UseCase` (who acts, when, with what), checks the rights rules of
`pa_server.services.rights` on the announcement as it would be, does the work and leaves the
audit entry (row changes are logged under the actor; rejections and renders add their own).
Any change to what an approved announcement says or how it sounds returns it to approval: its
schedules are held (the planner plans approved announcements only) until someone else approves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from announcements.errors import MAX_TEXT_CHARS, BadOverride
from announcements.normalize import Reading, read
from announcements.spans import Override, resolve_overrides
from pa_server.auth import audit
from pa_server.auth.errors import Forbidden
from pa_server.auth.models import AuditEntry
from pa_server.auth.rights import require_level, require_writer
from pa_server.db.models import Announcement, Occurrence, Rendition, Schedule, Zone
from pa_server.schemas.announcements import (
    AnnouncementCreate,
    AnnouncementUpdate,
    OverrideIn,
    RenderOptions,
)
from pa_server.services import renditions, rights
from pa_server.services import search as search_in
from pa_server.services.context import UseCase
from pa_server.services.dirty import mark_plan_dirty
from pa_server.services.errors import Conflict, Invalid, NotFound, ServiceError
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
    if not any(c.isalnum() for c in text):
        # The renderer would refuse it ("nothing speakable"): a draft with no audio, never
        # approvable, is refused here instead, for the API and the pages alike.
        raise Invalid("bad_text", "text has nothing speakable (no letters or digits)")
    return text.strip()


def create_announcement(uc: UseCase, data: AnnouncementCreate) -> Announcement:
    """A new draft. Text comes from `text` or a filled script; recording drafts may lack it."""
    require_writer(uc.actor)
    if data.level == "emergency":
        # Writing an emergency text is already an admin's (nothing else may then send it).
        require_level(uc.actor, "emergency", confirmed=True)
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
        author=uc.actor.username,
        last_editor=uc.actor.username,
        created_at=uc.now,
        updated_at=uc.now,
    )
    uc.db.add(ann)
    uc.db.flush()
    return ann


def list_announcements(
    session: Session, *, status: str | None, limit: int, offset: int, search: str | None = None
) -> tuple[list[Announcement], int]:
    """One page of announcements, newest first; and the total.

    `search` matches the title, the text and who wrote, changed or approved it (in SQL).
    """
    query = select(Announcement)
    if status is not None:
        query = query.where(Announcement.status == status)
    if search:
        query = query.where(
            or_(
                search_in.contains(search, Announcement.title, Announcement.text),
                search_in.actor_match(
                    session,
                    search,
                    Announcement.author,
                    Announcement.last_editor,
                    Announcement.approver,
                ),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Announcement.created_at.desc(), Announcement.id).limit(limit).offset(offset)
    )
    return list(rows.unique()), total


def _changed_by(uc: UseCase, ann: Announcement) -> None:
    """`ann` now says or sounds different: its editor is `uc.actor`, and it needs approval."""
    ann.last_editor = uc.actor.username
    ann.updated_at = uc.now
    if ann.status == "approved":
        ann.status, ann.approver, ann.approved_at = "draft", None, None
        mark_plan_dirty(uc.db)  # its schedules are held until it is approved again


def update_announcement(
    uc: UseCase, announcement_id: str, data: AnnouncementUpdate
) -> Announcement:
    """Edit (an approved one returns to approval), withdraw to draft, re-draft, or archive."""
    ann = get_announcement(uc.db, announcement_id)
    rights.require_announcement(uc.db, uc.actor, ann)
    changes = data.model_dump(exclude_unset=True)
    status = changes.pop("status", None)
    if changes.get("level") == "emergency" or (changes and ann.level == "emergency"):
        require_level(uc.actor, "emergency", confirmed=True)
    if changes:
        if ann.status == "archived" and status != "draft":
            raise Conflict(
                "announcement_archived", "announcement is archived: re-draft it to change it"
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
        _changed_by(uc, ann)
    if status == "archived" and ann.status != "archived":
        ann.status = "archived"
        mark_plan_dirty(uc.db)
    elif status == "draft" and ann.status != "draft":
        # Withdrawn (or re-drafted): it stops being scheduled until approved again.
        ann.status, ann.approver, ann.approved_at = "draft", None, None
        mark_plan_dirty(uc.db)
    ann.updated_at = uc.now
    uc.db.flush()
    return ann


def approve_announcement(uc: UseCase, announcement_id: str) -> Announcement:
    """Approve a rendered draft: from now on it may be scheduled and broadcast."""
    ann = get_announcement(uc.db, announcement_id)
    rights.require_approval(uc.db, uc.actor, ann)
    if ann.status != "draft":
        raise Conflict("announcement_not_draft", f"announcement is already {ann.status}")
    if ann.rendition is None and ann.kind != "relay":  # a relay is heard live, not rendered
        raise Conflict("not_rendered", "render the announcement first: approve what is heard")
    ann.status, ann.approver, ann.approved_at = "approved", uc.actor.username, uc.now
    ann.updated_at = uc.now
    uc.db.flush()
    mark_plan_dirty(uc.db)
    return ann


def reject_announcement(uc: UseCase, announcement_id: str, reason: str) -> Announcement:
    """Refuse a draft with a reason: archived, the reason kept in the audit log."""
    ann = get_announcement(uc.db, announcement_id)
    rights.require_approval(uc.db, uc.actor, ann)
    reason = reason.strip()
    if not reason:
        raise Invalid("reason_required", "say why the announcement is rejected")
    if ann.status != "draft":
        raise Conflict("announcement_not_draft", "only a draft awaiting approval can be rejected")
    ann.status, ann.updated_at = "archived", uc.now
    uc.db.flush()
    audit.record(uc.db, "reject", "announcements", ann.id, after={"reason": reason}, now=uc.now)
    return ann


def last_rejection(session: Session, announcement_id: str) -> AuditEntry | None:
    """The audit entry of the announcement's latest rejection (who, and why), if any."""
    return session.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.entity == "announcements",
            AuditEntry.entity_id == announcement_id,
            AuditEntry.action == "reject",
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )


def _intro_commune(session: Session, ann: Announcement) -> str | None:
    """The commune an announcement speaks for: its author's, when they work in one commune."""
    zones = rights.author_zones(session, ann.author)
    communes = {"/".join(z.split("/")[:2]) for z in zones or () if z.count("/") >= 1}
    if len(communes) != 1:
        return None
    zone = session.get(Zone, communes.pop())
    return zone.name if zone is not None else None


def render_announcement(
    uc: UseCase, announcement_id: str, options: RenderOptions | None = None
) -> Rendition:
    """Render the announcement's audio (an approved one returns to approval).

    `options` (voice region, speed, repeats, pauses, intro, outro) are kept with the announcement,
    so a later re-render without options sounds the same; the operator's readings of spans of the
    text are applied. The same announcement and options give the same bytes through the pages,
    the API and `pa-server say`.
    """
    ann = get_announcement(uc.db, announcement_id)
    rights.require_announcement(uc.db, uc.actor, ann)
    if ann.status == "archived":
        raise Conflict("announcement_archived", "announcement is archived: re-draft it first")
    if options is None:
        options = RenderOptions.model_validate(ann.render_options or {})
    ann.render_options = options.model_dump(mode="json")
    if options.intro and options.intro_commune is None:
        # The same intro whichever door it came through ("Đây là Đài truyền thanh xã …").
        options = options.model_copy(update={"intro_commune": _intro_commune(uc.db, ann)})
    rendition = renditions.render_announcement(
        uc.db,
        ann,
        options,
        renderer=uc.renderer,
        default_engine=uc.settings.tts_engine,
        recordings_dir=uc.settings.recordings_dir,
        now=uc.now,
    )
    _changed_by(uc, ann)
    uc.db.flush()
    return rendition


def reading(ann: Announcement) -> Reading | None:
    """How the text is read aloud: the spoken form and every changed span (None: no text)."""
    if not ann.text:
        return None
    return read(ann.text, overrides=renditions.stored_overrides(ann))


def set_readings(
    uc: UseCase, announcement_id: str, overrides: Sequence[OverrideIn]
) -> Announcement:
    """Replace the operator's readings of spans of the text; it must be heard and approved anew."""
    ann = get_announcement(uc.db, announcement_id)
    rights.require_announcement(uc.db, uc.actor, ann)
    if ann.status == "archived":
        raise Conflict("announcement_archived", "announcement is archived: re-draft it first")
    text = ann.text or ""
    kept: list[Override] = []
    for given in overrides:
        if text[given.start : given.end] != given.written:
            raise Invalid(
                "reading_not_in_text",
                f"the text has no {given.written!r} at {given.start}..{given.end}",
            )
        try:
            kept.append(Override(given.start, given.end, given.written, given.spoken))
        except BadOverride as exc:
            raise Invalid("bad_reading", str(exc)) from exc
    if resolve_overrides(text, kept).stale:
        raise Invalid("overlapping_readings", "two readings cover the same part of the text")
    ann.spoken_overrides = [o.to_dict() for o in kept]
    ann.rendition = None  # what is heard changes: render and approve again
    _changed_by(uc, ann)
    uc.db.flush()
    return ann


def add_reading(uc: UseCase, announcement_id: str, written: str, spoken: str) -> Announcement:
    """Read the first not yet overridden occurrence of `written` in the text as `spoken`."""
    ann = get_announcement(uc.db, announcement_id)
    text = ann.text or ""
    current = [OverrideIn.model_validate(o.to_dict()) for o in renditions.stored_overrides(ann)]
    taken = {(o.start, o.end) for o in current}
    start = text.find(written) if written else -1
    while start >= 0 and (start, start + len(written)) in taken:
        start = text.find(written, start + 1)
    if start < 0:
        raise Invalid("reading_not_in_text", f"the text does not contain {written!r}")
    new = OverrideIn(start=start, end=start + len(written), written=written, spoken=spoken)
    return set_readings(uc, announcement_id, [*current, new])


def render_preview(
    uc: UseCase, announcement_id: str, options: RenderOptions | None = None
) -> Forbidden | ServiceError | None:
    """Keep what was saved (committed), then render it; a failed render is returned, not raised.

    The compose page saves a draft and renders its preview in one step: a voice that is down
    must not lose what the person typed.
    """
    uc.db.commit()
    try:
        render_announcement(uc, announcement_id, options)
    except (Forbidden, ServiceError) as exc:
        uc.db.rollback()
        return exc
    return None


def attach_recording(
    uc: UseCase, announcement_id: str, data: bytes, filename: str | None
) -> Announcement:
    """Make an operator's recording the announcement's source (render it next)."""
    ann = get_announcement(uc.db, announcement_id)
    rights.require_announcement(uc.db, uc.actor, ann)
    if ann.status == "archived":
        raise Conflict("announcement_archived", "announcement is archived: re-draft it first")
    renditions.store_recording(
        uc.db, ann, data, filename, recordings_dir=uc.settings.recordings_dir, now=uc.now
    )
    _changed_by(uc, ann)
    uc.db.flush()
    return ann


def delete_announcement(uc: UseCase, announcement_id: str) -> None:
    """Delete an announcement that was never scheduled nor broadcast (archive it otherwise)."""
    ann = get_announcement(uc.db, announcement_id)
    rights.require_announcement(uc.db, uc.actor, ann)
    session = uc.db
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
