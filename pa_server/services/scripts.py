"""The script library (`announcements.library`) seen through service errors."""

from __future__ import annotations

from collections.abc import Mapping

from announcements import library
from announcements.errors import AnnouncementError, UnknownPlaceholder, UnknownScript
from announcements.normalize import normalize
from pa_server.services.errors import Invalid, NotFound


def list_scripts() -> list[library.Script]:
    """Every script of the library."""
    return library.list_scripts()


def _lookup(name: str, error: type[Invalid] | type[NotFound]) -> library.Script:
    try:
        return library.get_script(name)
    except UnknownScript as exc:
        raise error("unknown_script", str(exc)) from exc
    except AnnouncementError as exc:
        raise Invalid("invalid_script", str(exc)) from exc


def get_script(name: str) -> library.Script:
    """The script named in a URL, or `NotFound('unknown_script')` (404)."""
    return _lookup(name, NotFound)


def require_script(name: str) -> library.Script:
    """The script a request body refers to, or `Invalid('unknown_script')` (422)."""
    return _lookup(name, Invalid)


def fill_script(script: library.Script, values: Mapping[str, str]) -> str:
    """The script's text with `values` put in; missing or unknown placeholders are refused."""
    try:
        return library.fill(script, values)
    except UnknownPlaceholder as exc:
        raise Invalid("unknown_placeholder", str(exc)) from exc
    except AnnouncementError as exc:
        raise Invalid("missing_placeholder", str(exc)) from exc


def spoken_form(text: str) -> str:
    """What the TTS will say for `text` (numbers, dates, abbreviations spelled out)."""
    return normalize(text)
