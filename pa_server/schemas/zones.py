"""Zone shapes."""

from __future__ import annotations

from datetime import time

from pydantic import Field

from pa_server.schemas.common import UTC, Input, Output, SingleLine


class ZoneCreate(Input):
    """A zone under `parent`, named in Vietnamese; its slug path is derived from the name.

    Quiet hours: both or neither; neither inherits the parent's (the top: 21:30–05:00).
    """

    parent: SingleLine | None = Field(
        default=None, description="parent zone's path; none or empty for a top-level zone"
    )
    path: SingleLine | None = Field(
        default=None,
        description="explicit slug path (e.g. vinh-tuong/tan-tien) instead of the one derived "
        "from the name; its parent must exist",
    )
    name: SingleLine = Field(min_length=1, max_length=200, description="Vietnamese name")
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: SingleLine | None = Field(default=None, description="default: the server's")
    default_volume: int | None = None
    emergency_volume: int | None = Field(
        default=None, description="emergency items' volume; none inherits the parent's (top: 100)"
    )


class ZoneUpdate(Input):
    name: SingleLine | None = Field(default=None, min_length=1, max_length=200)
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: SingleLine | None = None
    default_volume: int | None = None
    emergency_volume: int | None = None


class ZonePublic(Output):
    path: str
    parent_path: str | None
    name: str
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    default_volume: int | None
    emergency_volume: int | None
    created_at: UTC
    updated_at: UTC


class ZoneNode(ZonePublic):
    """A zone with its children, for the tree."""

    device_count: int = 0
    children: list[ZoneNode] = Field(default_factory=list)
