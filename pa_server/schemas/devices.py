"""Device shapes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pa_server.schemas.common import UTC, Input, Output, SingleLine


class DeviceCreate(Input):
    id: SingleLine | None = Field(
        default=None,
        description="[a-z0-9-]{1,64}; none derives it from the zone and the name (which is "
        "then required and unique within the zone)",
    )
    zone: SingleLine = Field(description="zone path")
    name: SingleLine = Field(default="", max_length=200)
    location: SingleLine = Field(default="", max_length=300)


class DeviceUpdate(Input):
    zone: SingleLine | None = None
    name: SingleLine | None = Field(default=None, max_length=200)
    location: SingleLine | None = Field(default=None, max_length=300)


class DeviceStatePublic(Output):
    online: bool
    at: UTC | None
    received_at: UTC
    payload: dict[str, Any]


class DevicePublic(Output):
    id: str
    zone: str = Field(validation_alias="zone_path")
    name: str
    location: str
    created_at: UTC
    updated_at: UTC
    online: bool | None = None
    last_seen_at: UTC | None = None
    clock_offset_ms: int | None = Field(default=None, description="server clock minus agent's")
    clock_synced: bool | None = Field(default=None, description="the agent trusts its clock")
    flags: list[str] = Field(
        default_factory=list, description="problems staff should look at: clock_drift, …"
    )


class DeviceCreated(DevicePublic):
    """Returned once, at registration: the broker password is never shown again."""

    mqtt_username: str
    mqtt_password: str
    agent_config: str = Field(description="the agent's config.toml, as `pa-server device add`")


class DeviceConfig(Output):
    """A new broker password and the agent config holding it (the old password stops working)."""

    device_id: str
    mqtt_password: str
    agent_config: str = Field(description="the agent's config.toml")


class DeviceMove(Input):
    zone: SingleLine = Field(description="the zone path to move to")


class VolumeRequest(Input):
    volume: int = Field(ge=0, le=100)


class CommandSent(Output):
    target: str
    kind: str
