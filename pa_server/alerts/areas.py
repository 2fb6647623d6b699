"""Which zones an alert's `area` covers: geocodes through the admins' table, polygons and
circles through each zone's configured point (its centre, as admins set it)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

from pa_server.alerts.cap import AreaSpec

EARTH_KM = 6371.0088


def inside_polygon(lat: float, lon: float, polygon: Iterable[tuple[float, float]]) -> bool:
    """True when (lat, lon) lies inside the closed polygon (ray casting; small areas)."""
    points = list(polygon)
    inside = False
    for (lat1, lon1), (lat2, lon2) in itertools.pairwise(points):
        if (lon1 > lon) != (lon2 > lon):
            cross = lat1 + (lon - lon1) * (lat2 - lat1) / (lon2 - lon1)
            if lat < cross:
                inside = not inside
    return inside


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


def zones_of_areas(
    areas: Iterable[AreaSpec],
    *,
    geocodes: Mapping[tuple[str, str], str],
    points: Mapping[str, tuple[float, float]],
) -> set[str]:
    """Zone paths the areas cover.

    `geocodes`: (valueName, value) → zone path, the admins' table (a value also matches under
    any valueName when the table's name is `*`). `points`: zone path → its (lat, lon).
    """
    zones: set[str] = set()
    for area in areas:
        for name, value in area.geocodes:
            zone = geocodes.get((name, value)) or geocodes.get(("*", value))
            if zone is not None:
                zones.add(zone)
        for polygon in area.polygons:
            zones.update(z for z, (lat, lon) in points.items() if inside_polygon(lat, lon, polygon))
        for lat, lon, km in area.circles:
            zones.update(z for z, p in points.items() if distance_km((lat, lon), p) <= km)
    return zones


def outermost(zones: Iterable[str]) -> list[str]:
    """The zones not inside another listed zone (a commune covers its villages), sorted."""
    listed = sorted(set(zones))
    return [z for z in listed if not any(z != o and z.startswith(o + "/") for o in listed)]
