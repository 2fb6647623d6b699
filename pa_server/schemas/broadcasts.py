"""Broadcast (occurrence with delivery) and report shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from pa_server.schemas.announcements import Level
from pa_server.schemas.common import UTC, Input, MultiLine, Output, SingleLine
from pa_server.schemas.schedules import OccurrencePublic


class DeliveryCounts(Output):
    expected: int = 0
    fetched: int = 0
    started: int = 0
    finished: int = 0
    failed: int = 0
    skipped: int = 0
    missed: int = 0


class DeviceDelivery(Output):
    device_id: str
    zone: str
    fetched: UTC | None = None
    started: UTC | None = None
    finished: UTC | None = None
    failed: UTC | None = None
    skipped: UTC | None = None
    missed: UTC | None = None
    late_ms: int | None = None
    detail: str | None = None


class BroadcastPublic(OccurrencePublic):
    delivery: DeliveryCounts


class RecordingPublic(Output):
    """A live broadcast's recording, the proof of what was said; `url` downloads it for a
    signed-in person (the media store's own address is for the loudspeakers)."""

    occurrence_id: str
    session_id: str
    title: str
    started_at: UTC
    started_by: str
    sha256: str
    seconds: float | None
    url: str


class BroadcastDetail(BroadcastPublic):
    devices: list[DeviceDelivery]
    #: A live broadcast (microphone, relay) with a recording: where to download it.
    recording: RecordingPublic | None = None


class BroadcastCreate(Input):
    """Play an approved announcement now (or at `play_at`) on zones and/or devices."""

    announcement_id: SingleLine
    zones: list[SingleLine] = Field(default_factory=list)
    devices: list[SingleLine] = Field(default_factory=list)
    level: Level | None = None
    volume: int | None = None
    play_at: datetime | None = None
    max_late_s: int = Field(default=300, ge=0, le=24 * 3600)


class PlaybackRow(Output):
    """One device's account for a period: planned against played."""

    zone: str
    device_id: str
    planned: int
    started: int
    finished: int
    failed: int
    missed: int
    no_report: int


class PlaybackReport(Output):
    zone: str | None
    start: UTC
    end: UTC
    rows: list[PlaybackRow]
    #: The recordings of the live broadcasts in the period that reached the zone.
    recordings: list[RecordingPublic] = Field(default_factory=list)


class EmergencyCreate(Input):
    """An emergency written and sent in one step (admins, with `?confirm_emergency=true`)."""

    title: SingleLine = Field(min_length=1, max_length=300)
    text: MultiLine = Field(min_length=1, max_length=2000)
    zones: list[SingleLine] = Field(default_factory=list, max_length=200)
    devices: list[SingleLine] = Field(default_factory=list, max_length=1000)
