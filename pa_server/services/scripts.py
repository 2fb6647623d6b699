"""The script library (`announcements.library`) seen through service errors."""

from __future__ import annotations

from collections.abc import Mapping

from announcements import library
from announcements.errors import AnnouncementError, UnknownPlaceholder, UnknownScript
from announcements.normalize import normalize
from pa_server.services.errors import Invalid


def list_scripts() -> list[library.Script]:
    """Every script of the library."""
    return library.list_scripts()


def get_script(name: str) -> library.Script:
    """The named script, or `Invalid('unknown_script')`."""
    try:
        return library.get_script(name)
    except UnknownScript as exc:
        raise Invalid("unknown_script", str(exc)) from exc
    except AnnouncementError as exc:
        raise Invalid("invalid_script", str(exc)) from exc


def fill_script(name: str, values: Mapping[str, str]) -> str:
    """The script's text with `values` put in; missing or unknown placeholders are refused."""
    script = get_script(name)
    try:
        return library.fill(script, values)
    except UnknownPlaceholder as exc:
        raise Invalid("unknown_placeholder", str(exc)) from exc
    except AnnouncementError as exc:
        raise Invalid("missing_placeholder", str(exc)) from exc


def spoken_form(text: str) -> str:
    """What the TTS will say for `text` (numbers, dates, abbreviations spelled out)."""
    return normalize(text)
