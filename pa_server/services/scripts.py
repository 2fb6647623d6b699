"""The script library (`announcements.library`) seen through service errors."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pa_server.services.errors import Invalid, Unavailable


def _library() -> ModuleType:
    # Imported lazily: the library is another room's work and may not be installed yet.
    try:
        return importlib.import_module("announcements.library")
    except ImportError as exc:
        raise Unavailable("scripts_unavailable", "the script library is not installed") from exc


def _errors() -> ModuleType:
    return importlib.import_module("announcements.errors")


def list_scripts() -> list[Any]:
    """Every script of the library."""
    return list(_library().list_scripts())


def get_script(name: str) -> Any:
    """The named script, or `Invalid('unknown_script')`."""
    lib = _library()
    try:
        return lib.get_script(name)
    except _errors().AnnouncementError as exc:
        raise Invalid("unknown_script", str(exc)) from exc


def fill_script(name: str, values: Mapping[str, str]) -> str:
    """The script's text with `values` put in; missing or unknown placeholders are refused."""
    script = get_script(name)
    try:
        return str(_library().fill(script, values))
    except _errors().AnnouncementError as exc:
        raise Invalid("missing_placeholder", str(exc)) from exc


def spoken_form(text: str) -> str:
    """What the TTS will say for `text` (numbers, dates, abbreviations spelled out)."""
    from announcements.normalize import normalize

    return normalize(text)
