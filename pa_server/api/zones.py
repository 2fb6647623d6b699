"""/api/v1/zones: the zone tree."""

from __future__ import annotations

from fastapi import APIRouter, status

from pa_server.api.deps import SessionDep, UseCaseDep
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
def create_zone(data: ZoneCreate, uc: UseCaseDep) -> ZonePublic:
    """Add a zone under an existing parent (admins): by `parent` and Vietnamese `name` (the slug
    path is derived, unique among siblings), or by an explicit `path`."""
    return ZonePublic.model_validate(zones.create_zone(uc, data))


@router.get("/{path:path}", response_model=ZonePublic)
def get_zone(path: str, session: SessionDep) -> ZonePublic:
    """One zone."""
    return ZonePublic.model_validate(zones.get_zone(session, path))


@router.patch("/{path:path}", response_model=ZonePublic)
def update_zone(path: str, data: ZoneUpdate, uc: UseCaseDep) -> ZonePublic:
    """Rename a zone (its path stays) or change its quiet hours, time zone or volumes (admins)."""
    return ZonePublic.model_validate(zones.update_zone(uc, path, data))


@router.delete("/{path:path}", status_code=status.HTTP_204_NO_CONTENT)
def delete_zone(path: str, uc: UseCaseDep) -> None:
    """Remove an empty zone (admins): 409 `zone_in_use` while anything hangs in it or names it."""
    zones.delete_zone(uc, path)
