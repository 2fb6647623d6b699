"""Checks of names and values shared by the services, raising `Invalid` with the right code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devices.protocol import MalformedMessage, validate_device_id, validate_zone_path
from pa_server.services.errors import Invalid


def check_zone_path(path: str) -> str:
    """A valid zone path, or `Invalid('invalid_slug')`."""
    try:
        return validate_zone_path(path)
    except MalformedMessage as exc:
        raise Invalid("invalid_slug", str(exc)) from exc


def check_device_id(device_id: str) -> str:
    """A valid device id, or `Invalid('invalid_slug')`."""
    try:
        return validate_device_id(device_id)
    except MalformedMessage as exc:
        raise Invalid("invalid_slug", str(exc)) from exc


def check_timezone(name: str) -> ZoneInfo:
    """The named IANA time zone, or `Invalid('unknown_timezone')`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid("unknown_timezone", f"unknown time zone {name!r}") from exc


def in_zone(value: datetime, zone: ZoneInfo) -> datetime:
    """An aware UTC instant; a naive `value` is read as wall time in `zone`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00 at +07:00 lies before year 1 in UTC
        raise Invalid("instant_out_of_range", f"{value.isoformat()} is out of range") from exc


def shifted(value: datetime, delta: timedelta) -> datetime:
    """`value + delta`, or `Invalid('instant_out_of_range')` past year 1 or 9999."""
    try:
        return value + delta
    except OverflowError as exc:
        raise Invalid(
            "instant_out_of_range", f"{value.isoformat()} {delta} is out of range"
        ) from exc


def check_volume(volume: int | None) -> int | None:
    """A volume 0–100 or None, or `Invalid('invalid_volume')`."""
    if volume is not None and not 0 <= volume <= 100:
        raise Invalid("invalid_volume", f"volume {volume} is outside 0-100")
    return volume
