"""/api/v1/devices: the loudspeaker agents, their state, and commands to them."""

from __future__ import annotations

from fastapi import APIRouter, status

from pa_server.api.deps import Limit, Offset, SessionDep, SettingsDep, UseCaseDep
from pa_server.schemas.common import DEFAULT_LIMIT, Page
from pa_server.schemas.devices import (
    CommandSent,
    DeviceConfig,
    DeviceCreate,
    DeviceCreated,
    DeviceMove,
    DevicePublic,
    DeviceStatePublic,
    DeviceUpdate,
    VolumeRequest,
)
from pa_server.services import devices
from pa_server.services.errors import NotFound
from pa_server.services.provisioning import device_config_toml

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("", response_model=Page[DevicePublic])
def list_devices(
    session: SessionDep,
    settings: SettingsDep,
    zone: str | None = None,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Page[DevicePublic]:
    """One page of devices (by id), optionally within a zone and below."""
    rows, total = devices.list_devices(session, zone=zone, limit=limit, offset=offset)
    threshold = settings.clock_drift_threshold_s
    items = [devices.device_public(d, drift_threshold_s=threshold) for d in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("", response_model=DeviceCreated, status_code=status.HTTP_201_CREATED)
def create_device(data: DeviceCreate, uc: UseCaseDep) -> DeviceCreated:
    """Register a device (no `id`: derived from zone and name); the response holds its broker
    password and agent config, shown only this once."""
    device, password = devices.create_device(uc, data)
    public = devices.device_public(device)
    return DeviceCreated(
        **public.model_dump(by_alias=False),
        mqtt_username=device.id,
        mqtt_password=password,
        agent_config=device_config_toml(device, password, uc.settings),
    )


@router.get("/{device_id}", response_model=DevicePublic)
def get_device(device_id: str, session: SessionDep, settings: SettingsDep) -> DevicePublic:
    """One device, with its clock flags."""
    return devices.device_public(
        devices.get_device(session, device_id),
        drift_threshold_s=settings.clock_drift_threshold_s,
    )


@router.patch("/{device_id}", response_model=DevicePublic)
def update_device(device_id: str, data: DeviceUpdate, uc: UseCaseDep) -> DevicePublic:
    """Rename or relocate a device. A different `zone` is 422 `zone_change_needs_move`: only
    `POST /devices/{id}/move` changes it, as the moved agent needs a new password and config."""
    return devices.device_public(devices.update_device(uc, device_id, data))


@router.post("/{device_id}/move", response_model=DeviceConfig)
def move_device(device_id: str, data: DeviceMove, uc: UseCaseDep) -> DeviceConfig:
    """Move a device to another zone; returns its new password and agent config (the config
    names the zone, so the agent needs the new one to hear its new zone)."""
    device, password = devices.move_device(uc, device_id, data.zone)
    return DeviceConfig(
        device_id=device.id,
        mqtt_password=password,
        agent_config=device_config_toml(device, password, uc.settings),
    )


@router.post("/{device_id}/password", response_model=DeviceConfig)
def reset_password(device_id: str, uc: UseCaseDep) -> DeviceConfig:
    """Give a device a new broker password; returns it and the agent config holding it."""
    password = devices.reset_password(uc, device_id)
    device = devices.get_device(uc.db, device_id)
    return DeviceConfig(
        device_id=device.id,
        mqtt_password=password,
        agent_config=device_config_toml(device, password, uc.settings),
    )


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device(device_id: str, uc: UseCaseDep) -> None:
    """Retire a device; 409 `device_in_use` while a schedule names it itself."""
    devices.delete_device(uc, device_id)


@router.get("/{device_id}/state", response_model=DeviceStatePublic)
def device_state(device_id: str, session: SessionDep) -> DeviceStatePublic:
    """The last state the agent reported."""
    device = devices.get_device(session, device_id)
    if device.state is None:
        raise NotFound("no_state", f"device {device_id!r} has not reported yet")
    return DeviceStatePublic.model_validate(device.state)


@router.post("/{device_id}/ping", response_model=CommandSent, status_code=202)
def ping_device(device_id: str, uc: UseCaseDep) -> CommandSent:
    """Ask the agent to republish its state."""
    return CommandSent(target=devices.ping_device(uc, device_id), kind="ping")


@router.post("/{device_id}/volume", response_model=CommandSent, status_code=202)
def set_volume(device_id: str, data: VolumeRequest, uc: UseCaseDep) -> CommandSent:
    """Set the agent's volume (0–100)."""
    return CommandSent(target=devices.set_volume(uc, device_id, data.volume), kind="volume")
