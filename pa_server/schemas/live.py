"""Live session shapes: start a microphone or a relay, a relay to schedule, a session as stored."""

from __future__ import annotations

from pydantic import Field

from pa_server.schemas.announcements import Level
from pa_server.schemas.common import UTC, Input, Output, SingleLine

#: Longest live session, in minutes (a microphone's `until`, a relay's window).
MAX_MINUTES = 12 * 60


class LiveCreate(Input):
    """A live session on zones and/or devices: a relay of `url`, or a microphone (no `url`)."""

    title: SingleLine = Field(min_length=1, max_length=300)
    zones: list[SingleLine] = Field(default_factory=list, max_length=500)
    devices: list[SingleLine] = Field(default_factory=list, max_length=500)
    level: Level = "normal"
    #: How long it may last; the microphone page or a stop ends it sooner.
    minutes: int = Field(default=30, ge=1, le=MAX_MINUTES)
    #: The stream to relay (http/https: MP3, AAC, Icecast, HLS); a relay only.
    url: SingleLine | None = Field(default=None, max_length=1000)
    volume: int | None = Field(default=None, ge=0, le=100)


class RelayCreate(Input):
    """A relay to schedule ("Tiếp sóng VOV1"): a draft announcement to approve."""

    title: SingleLine = Field(min_length=1, max_length=300)
    url: SingleLine = Field(min_length=1, max_length=1000)
    minutes: int = Field(ge=1, le=MAX_MINUTES)
    level: Level = "normal"


class LiveSessionPublic(Output):
    id: str
    kind: str
    title: str
    source_url: str | None
    targets: list[str]
    device_ids: list[str]
    level: str
    occurrence_id: str | None
    started_by: str
    started_at: UTC
    until: UTC | None
    ended_at: UTC | None
    outcome: str | None
    detail: str | None
    stopped_by: str | None
    recording_sha256: str | None
    seconds_streamed: float | None


class LiveSessionDetail(LiveSessionPublic):
    #: The target devices whose snapclient is connected to the snapserver now.
    reached: list[str]


class MicSessionPublic(LiveSessionPublic):
    #: The WebSocket the browser streams into, and the one-time token it sends first.
    mic_path: str
    mic_token: str
