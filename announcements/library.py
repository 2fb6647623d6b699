"""The script library: ready-written announcements in `scripts/*.toml`, filled by placeholders.

A script file holds `title`, `description`, `level` ("normal" | "priority" | "emergency"),
`repeats` and `text`; placeholders in the text are written `{commune}`, `{date}`, …
The file name (without `.toml`) is the script's name.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from announcements.errors import (
    MissingPlaceholder,
    ScriptFileError,
    UnknownPlaceholder,
    UnknownScript,
)

# The TT39 levels and their priorities are defined once, in the wire protocol (a higher
# number interrupts a lower one); re-exported here for the library's readers.
from devices.protocol import LEVEL_PRIORITY as LEVEL_PRIORITY
from devices.protocol import Level as Level

SCRIPTS_DIR = Path(__file__).with_name("scripts")
PLACEHOLDER_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Script:
    """One announcement of the library, with its placeholders in order of first use."""

    name: str
    title: str
    text: str
    placeholders: tuple[str, ...]
    repeats: int
    priority: int
    level: Level
    description: str = ""


def placeholders_of(text: str) -> tuple[str, ...]:
    """Placeholder names in `text`, each once, in order of first use."""
    return tuple(dict.fromkeys(PLACEHOLDER_RE.findall(text)))


def load_script(path: Path) -> Script:
    """Read one script file; a missing or wrong field raises ScriptFileError naming it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScriptFileError(f"{path}: cannot read script: {exc}") from exc
    name = path.stem
    if not _NAME_RE.fullmatch(name):
        raise ScriptFileError(f"{path}: script names use a-z, 0-9 and '-'")
    for key in ("title", "text", "level"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ScriptFileError(f"{path}: '{key}' must be a non-empty string")
    level = data["level"]
    if level not in LEVEL_PRIORITY:
        raise ScriptFileError(f"{path}: level must be one of {', '.join(LEVEL_PRIORITY)}")
    repeats = data.get("repeats", 2)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= 10:
        raise ScriptFileError(f"{path}: repeats must be a whole number from 1 to 10")
    text = data["text"].strip()
    if re.search(r"[{}]", PLACEHOLDER_RE.sub("", text)):
        raise ScriptFileError(f"{path}: stray brace; placeholders look like {{commune}}")
    unknown = set(data) - {"title", "text", "level", "repeats", "description"}
    if unknown:
        raise ScriptFileError(f"{path}: unknown field(s): {', '.join(sorted(unknown))}")
    return Script(
        name=name,
        title=data["title"].strip(),
        text=text,
        placeholders=placeholders_of(text),
        repeats=repeats,
        priority=LEVEL_PRIORITY[level],
        level=cast(Level, level),
        description=str(data.get("description", "")).strip(),
    )


def list_scripts(directory: Path = SCRIPTS_DIR) -> list[Script]:
    """Every script of the library, sorted by name."""
    return [load_script(p) for p in sorted(directory.glob("*.toml"))]


def get_script(name: str, directory: Path = SCRIPTS_DIR) -> Script:
    """The script called `name` (raises UnknownScript)."""
    path = directory / f"{name}.toml"
    if not _NAME_RE.fullmatch(name) or not path.is_file():
        raise UnknownScript(name, (p.stem for p in directory.glob("*.toml")))
    return load_script(path)


def fill(script: Script, values: Mapping[str, str]) -> str:
    """The script's text with every placeholder replaced verbatim by its value."""
    unknown = [k for k in values if k not in script.placeholders]
    if unknown:
        raise UnknownPlaceholder(script.name, unknown, script.placeholders)
    missing = [p for p in script.placeholders if not str(values.get(p, "")).strip()]
    if missing:
        raise MissingPlaceholder(script.name, missing)
    return PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], script.text)
