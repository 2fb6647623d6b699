"""Errors of the `announcements` package.

AnnouncementError                 base of everything raised here
├── EmptyText                     nothing but blanks was given
├── TextTooLong                   more than MAX_TEXT_CHARS characters
├── NothingSpeakable              the text holds no word a speaker could say
├── UnknownScript                 no script in the library has that name
├── MissingPlaceholder            a script was filled without some placeholder (all named)
├── UnknownPlaceholder            a value was given for a placeholder the script lacks
├── ScriptFileError               a script data file is unreadable or malformed
├── AbbreviationFileError         an abbreviation table is unreadable or malformed
├── ReadingRulesError             the reading rules (reading.toml) are unreadable or malformed
└── BadOverride                   an operator override is malformed (offsets, digits, JSON)
"""

from __future__ import annotations

from collections.abc import Iterable

#: Longest announcement text accepted, in characters (about ten minutes of speech).
MAX_TEXT_CHARS = 5000


class AnnouncementError(Exception):
    """Base of every error raised by `announcements`."""


class EmptyText(AnnouncementError):
    """The text is empty or only blanks."""

    def __init__(self) -> None:
        super().__init__("text is empty")


class TextTooLong(AnnouncementError):
    """The text is longer than MAX_TEXT_CHARS."""

    def __init__(self, length: int, limit: int = MAX_TEXT_CHARS) -> None:
        self.length, self.limit = length, limit
        super().__init__(f"text is {length} characters long; the limit is {limit}")


class NothingSpeakable(AnnouncementError):
    """The text has no letters or numbers to say (only punctuation or symbols)."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"text has nothing to say: {text[:40]!r}")


class UnknownScript(AnnouncementError):
    """No script of that name in the library."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        names = ", ".join(sorted(known))
        super().__init__(f"unknown script {name!r}" + (f" (known: {names})" if names else ""))


class MissingPlaceholder(AnnouncementError):
    """A script was filled without a value for one or more placeholders; all are named."""

    def __init__(self, script: str, names: Iterable[str]) -> None:
        self.script, self.names = script, tuple(names)
        super().__init__(
            f"script {script!r} needs a value for: " + ", ".join(f"{{{n}}}" for n in self.names)
        )


class UnknownPlaceholder(AnnouncementError):
    """A value was given for a placeholder the script does not have."""

    def __init__(self, script: str, names: Iterable[str], known: Iterable[str]) -> None:
        self.script, self.names = script, tuple(names)
        super().__init__(
            f"script {script!r} has no placeholder "
            + ", ".join(f"{{{n}}}" for n in self.names)
            + " (it has: "
            + (", ".join(f"{{{k}}}" for k in known) or "none")
            + ")"
        )


class ScriptFileError(AnnouncementError):
    """A script data file cannot be read or lacks a required field."""


class AbbreviationFileError(AnnouncementError):
    """An abbreviation table cannot be read or has a malformed line."""


class ReadingRulesError(AnnouncementError):
    """The reading rules file (`reading.toml`) cannot be read or lacks a table."""


class BadOverride(AnnouncementError):
    """An operator override is malformed: offsets, written text, digits in the spoken form."""
