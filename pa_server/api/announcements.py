"""/api/v1/announcements: compose, render, record, approve."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, UploadFile, status

from pa_server.api.deps import Limit, Offset, SessionDep, SettingsDep, UseCaseDep
from pa_server.config import Settings
from pa_server.db.models import Announcement
from pa_server.schemas.announcements import (
    AnnouncementCreate,
    AnnouncementPublic,
    AnnouncementUpdate,
    OverrideIn,
    ReadingPublic,
    RejectRequest,
    RenderOptions,
    RenditionPublic,
)
from pa_server.schemas.common import DEFAULT_LIMIT, Page, unsafe_character
from pa_server.services import announcements, renditions
from pa_server.services.errors import Invalid
from pa_server.services.timelines import media_url

router = APIRouter(prefix="/announcements", tags=["announcements"])


def _public(ann: Announcement, settings: Settings) -> AnnouncementPublic:
    public = AnnouncementPublic.model_validate(ann)
    if public.rendition is not None:
        public.rendition.url = media_url(
            settings.resolved_public_url, public.rendition.sha256, public.rendition.ext
        )
    return public


@router.get("", response_model=Page[AnnouncementPublic])
def list_announcements(
    session: SessionDep,
    settings: SettingsDep,
    status_: Annotated[
        Literal["draft", "approved", "archived"] | None, Query(alias="status")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[AnnouncementPublic]:
    """One page of announcements, newest first."""
    rows, total = announcements.list_announcements(
        session, status=status_, limit=limit, offset=offset
    )
    items = [_public(a, settings) for a in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("", response_model=AnnouncementPublic, status_code=status.HTTP_201_CREATED)
def create_announcement(data: AnnouncementCreate, uc: UseCaseDep) -> AnnouncementPublic:
    """A new draft from text or from a script with its placeholder values."""
    return _public(announcements.create_announcement(uc, data), uc.settings)


@router.get("/{announcement_id}", response_model=AnnouncementPublic)
def get_announcement(
    announcement_id: str, session: SessionDep, settings: SettingsDep
) -> AnnouncementPublic:
    """One announcement with its current rendition."""
    return _public(announcements.get_announcement(session, announcement_id), settings)


@router.patch("/{announcement_id}", response_model=AnnouncementPublic)
def update_announcement(
    announcement_id: str, data: AnnouncementUpdate, uc: UseCaseDep
) -> AnnouncementPublic:
    """Edit (an approved one returns to approval), withdraw to draft, re-draft or archive."""
    ann = announcements.update_announcement(uc, announcement_id, data)
    return _public(ann, uc.settings)


@router.delete("/{announcement_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_announcement(announcement_id: str, uc: UseCaseDep) -> None:
    """Delete an announcement never scheduled nor broadcast."""
    announcements.delete_announcement(uc, announcement_id)


@router.post("/{announcement_id}/render", response_model=RenditionPublic)
def render_announcement(
    announcement_id: str, uc: UseCaseDep, options: RenderOptions | None = None
) -> RenditionPublic:
    """Turn the text into audio; the result is its current rendition, with its URL."""
    rendition = announcements.render_announcement(uc, announcement_id, options)
    public = RenditionPublic.model_validate(rendition)
    public.url = media_url(uc.settings.resolved_public_url, rendition.sha256, rendition.ext)
    return public


@router.post("/{announcement_id}/approve", response_model=AnnouncementPublic)
def approve_announcement(announcement_id: str, uc: UseCaseDep) -> AnnouncementPublic:
    """Approve a rendered draft so it can be scheduled and broadcast (not one's own edit)."""
    return _public(announcements.approve_announcement(uc, announcement_id), uc.settings)


@router.post("/{announcement_id}/reject", response_model=AnnouncementPublic)
def reject_announcement(
    announcement_id: str, body: RejectRequest, uc: UseCaseDep
) -> AnnouncementPublic:
    """Refuse a draft with a reason (it is archived; the reason is in the audit log)."""
    ann = announcements.reject_announcement(uc, announcement_id, body.reason)
    return _public(ann, uc.settings)


@router.get("/{announcement_id}/reading", response_model=ReadingPublic)
def get_reading(announcement_id: str, session: SessionDep) -> ReadingPublic:
    """How the text is read aloud: the spoken form and every span the rules or readings changed."""
    found = announcements.reading(announcements.get_announcement(session, announcement_id))
    if found is None:
        raise Invalid("no_text", "a recording has no text to read")
    return ReadingPublic.model_validate(found.to_dict())


@router.put("/{announcement_id}/readings", response_model=AnnouncementPublic)
def set_readings(
    announcement_id: str, body: list[OverrideIn], uc: UseCaseDep
) -> AnnouncementPublic:
    """Replace the operator's readings of spans of the text (it returns to approval)."""
    return _public(announcements.set_readings(uc, announcement_id, body), uc.settings)


@router.post("/{announcement_id}/recording", response_model=AnnouncementPublic)
def upload_recording(announcement_id: str, file: UploadFile, uc: UseCaseDep) -> AnnouncementPublic:
    """Make an operator's recording (MP3, WAV, FLAC, Ogg) the source; render it next."""
    why = unsafe_character(file.filename or "")
    if why is not None:  # the name is stored; PostgreSQL refuses a NUL (a 500 before)
        raise Invalid("control_character", f"the file name holds a {why}")
    data = file.file.read(renditions.MAX_RECORDING_BYTES + 1)
    if len(data) > renditions.MAX_RECORDING_BYTES:
        raise Invalid("upload_too_big", f"recording exceeds {renditions.MAX_RECORDING_BYTES} bytes")
    ann = announcements.attach_recording(uc, announcement_id, data, file.filename)
    return _public(ann, uc.settings)
