"""/api/v1/announcements: compose, render, record, approve."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, UploadFile, status

from pa_server.api.deps import (
    CurrentUser,
    Limit,
    NowDep,
    Offset,
    RendererDep,
    SessionDep,
    SettingsDep,
)
from pa_server.auth.rights import require_approve, require_level
from pa_server.config import Settings
from pa_server.db.models import Announcement
from pa_server.schemas.announcements import (
    AnnouncementCreate,
    AnnouncementPublic,
    AnnouncementUpdate,
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
def create_announcement(
    data: AnnouncementCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    now: NowDep,
) -> AnnouncementPublic:
    """A new draft from text or from a script with its placeholder values."""
    if data.level == "emergency":
        require_level(user, "emergency", confirmed=True)
    ann = announcements.create_announcement(session, data, author=user.name, now=now)
    return _public(ann, settings)


@router.get("/{announcement_id}", response_model=AnnouncementPublic)
def get_announcement(
    announcement_id: str, session: SessionDep, settings: SettingsDep
) -> AnnouncementPublic:
    """One announcement with its current rendition."""
    return _public(announcements.get_announcement(session, announcement_id), settings)


@router.patch("/{announcement_id}", response_model=AnnouncementPublic)
def update_announcement(
    announcement_id: str,
    data: AnnouncementUpdate,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> AnnouncementPublic:
    """Edit a draft, archive, or withdraw an approval (status back to draft)."""
    ann = announcements.update_announcement(session, announcement_id, data, now=now)
    return _public(ann, settings)


@router.delete("/{announcement_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_announcement(announcement_id: str, session: SessionDep) -> None:
    """Delete an announcement never scheduled nor broadcast."""
    announcements.delete_announcement(session, announcement_id)


@router.post("/{announcement_id}/render", response_model=RenditionPublic)
def render_announcement(
    announcement_id: str,
    session: SessionDep,
    settings: SettingsDep,
    renderer: RendererDep,
    now: NowDep,
    options: RenderOptions | None = None,
) -> RenditionPublic:
    """Turn the draft into audio; the result is its current rendition, with its URL."""
    ann = announcements.get_announcement(session, announcement_id)
    rendition = renditions.render_announcement(
        session,
        ann,
        options or RenderOptions(),
        renderer=renderer,
        default_engine=settings.tts_engine,
        recordings_dir=settings.data_dir / "recordings",
        now=now,
    )
    public = RenditionPublic.model_validate(rendition)
    public.url = media_url(settings.resolved_public_url, rendition.sha256, rendition.ext)
    return public


@router.post("/{announcement_id}/approve", response_model=AnnouncementPublic)
def approve_announcement(
    announcement_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    now: NowDep,
) -> AnnouncementPublic:
    """Approve a rendered draft so it can be scheduled and broadcast (not one's own)."""
    require_approve(user, announcements.get_announcement(session, announcement_id).author)
    ann = announcements.approve_announcement(session, announcement_id, approver=user.name, now=now)
    return _public(ann, settings)


@router.post("/{announcement_id}/recording", response_model=AnnouncementPublic)
def upload_recording(
    announcement_id: str,
    file: UploadFile,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> AnnouncementPublic:
    """Make an operator's recording (MP3, WAV, FLAC, Ogg) the draft's source; render it next."""
    why = unsafe_character(file.filename or "")
    if why is not None:  # the name is stored; PostgreSQL refuses a NUL (a 500 before)
        raise Invalid("control_character", f"the file name holds a {why}")
    data = file.file.read(renditions.MAX_RECORDING_BYTES + 1)
    if len(data) > renditions.MAX_RECORDING_BYTES:
        raise Invalid("upload_too_big", f"recording exceeds {renditions.MAX_RECORDING_BYTES} bytes")
    ann = announcements.get_announcement(session, announcement_id)
    renditions.store_recording(
        session,
        ann,
        data,
        file.filename,
        recordings_dir=settings.data_dir / "recordings",
        now=now,
    )
    return _public(ann, settings)
