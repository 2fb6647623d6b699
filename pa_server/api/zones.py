"""/api/v1/zones: the zone tree."""

from __future__ import annotations

from fastapi import APIRouter, status

from pa_server.api.deps import CurrentUser, NowDep, SessionDep, SettingsDep
from pa_server.auth.rights import require_admin
from pa_server.schemas.zones import ZoneCreate, ZoneNode, ZonePublic, ZoneUpdate
from pa_server.services import zones

router = APIRouter(prefix="/zones", tags=["zones"])


@router.get("", response_model=list[ZonePublic])
def list_zones(session: SessionDep) -> list[ZonePublic]:
    """Every zone, by path."""
    return [ZonePublic.model_validate(z) for z in zones.list_zones(session)]


@router.get("/tree", response_model=list[ZoneNode])
def zone_tree(session: SessionDep) -> list[ZoneNode]:
    """The zones as a tree, with device counts."""
    return zones.zone_tree(session)


@router.post("", response_model=ZonePublic, status_code=status.HTTP_201_CREATED)
def create_zone(
    data: ZoneCreate, session: SessionDep, settings: SettingsDep, now: NowDep, user: CurrentUser
) -> ZonePublic:
    """Add a zone under an existing parent (admins)."""
    require_admin(user)
    zone = zones.create_zone(session, data, default_timezone=settings.timezone, now=now)
    return ZonePublic.model_validate(zone)


@router.get("/{path:path}", response_model=ZonePublic)
def get_zone(path: str, session: SessionDep) -> ZonePublic:
    """One zone."""
    return ZonePublic.model_validate(zones.get_zone(session, path))


@router.patch("/{path:path}", response_model=ZonePublic)
def update_zone(
    path: str, data: ZoneUpdate, session: SessionDep, now: NowDep, user: CurrentUser
) -> ZonePublic:
    """Rename a zone or change its quiet hours, time zone or default volume (admins)."""
    require_admin(user)
    return ZonePublic.model_validate(zones.update_zone(session, path, data, now=now))


@router.delete("/{path:path}", status_code=status.HTTP_204_NO_CONTENT)
def delete_zone(path: str, session: SessionDep, user: CurrentUser) -> None:
    """Remove an empty zone (admins)."""
    require_admin(user)
    zones.delete_zone(session, path)
