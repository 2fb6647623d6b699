"""Announcement and rendition shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from devices.protocol import Level as Level
from pa_server.schemas.common import UTC, Input, MultiLine, Output, SingleLine

Status = Literal["draft", "approved", "archived"]


class AnnouncementCreate(Input):
    """Text given directly, or a script name with its placeholder values (text is then filled)."""

    title: SingleLine = Field(min_length=1, max_length=300)
    kind: Literal["text", "recording"] = "text"
    text: MultiLine | None = None
    script_name: SingleLine | None = None
    placeholders: dict[SingleLine, MultiLine] = Field(default_factory=dict)
    level: Level = "normal"


class AnnouncementUpdate(Input):
    """Any change to what is said returns an approved announcement to approval."""

    title: SingleLine | None = Field(default=None, min_length=1, max_length=300)
    text: MultiLine | None = None
    script_name: SingleLine | None = None
    placeholders: dict[SingleLine, MultiLine] | None = None
    level: Level | None = None
    status: Literal["draft", "archived"] | None = None


class RejectRequest(Input):
    """Why a draft is refused (kept in the audit log)."""

    reason: MultiLine = Field(min_length=1, max_length=1000)


class OverrideIn(Input):
    """An operator's reading of the written text at [start, end) of the announcement's text."""

    start: int = Field(ge=0, le=100_000)
    end: int = Field(ge=1, le=100_000)
    written: SingleLine = Field(min_length=1, max_length=200)
    spoken: SingleLine = Field(min_length=1, max_length=400)


class SpanPublic(Output):
    start: int
    end: int
    written: str
    spoken: str
    overridden: bool = False


class ReadingPublic(Output):
    """The spoken form, every changed span, and stored readings the text no longer has."""

    text: str
    spoken: str
    spans: list[SpanPublic]
    stale: list[OverrideIn]


class RenditionPublic(Output):
    id: int
    sha256: str
    ext: str
    mime: str
    bytes: int
    duration_ms: int
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    engines: list[str]
    fell_back: bool
    spoken_text: str
    created_at: UTC
    url: str = ""


class AnnouncementPublic(Output):
    id: str
    title: str
    kind: Literal["text", "recording", "relay"]
    text: str | None
    script_name: str | None
    placeholders: dict[str, str]
    recording_name: str | None
    #: A relay ("tiếp sóng"): the stream it relays and for how long (kind `relay` only).
    source_url: str | None = None
    relay_duration_s: int | None = None
    level: Level
    render_options: dict[str, Any] | None = None
    spoken_overrides: list[dict[str, Any]] | None = None
    status: Status
    author: str
    approver: str | None
    approved_at: UTC | None
    created_at: UTC
    updated_at: UTC
    rendition: RenditionPublic | None = None


class RenderOptions(Input):
    """How to render; every field has a sensible default."""

    engine: Literal["auto", "gtts", "espeak", "piper"] | None = None
    #: The espeak-ng region: bac (north, default), trung (central), nam (south).
    voice: Literal["bac", "trung", "nam"] | None = None
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    repeat: int = Field(default=2, ge=1, le=5)
    gap_s: float = Field(default=2.0, ge=0, le=10)
    comma_pause_ms: int = Field(default=200, ge=0, le=2000)
    sentence_pause_ms: int = Field(default=350, ge=0, le=3000)
    chime: bool = True
    #: Say "Đây là Đài truyền thanh xã …" first (when the commune is known).
    intro: bool = True
    intro_commune: SingleLine | None = Field(default=None, max_length=100)
    outro: bool = True
    format: Literal["mp3", "opus"] = "mp3"
    band_limit: bool = False
