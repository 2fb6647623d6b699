"""CAP 1.2 alerts: parsing and checking messages, mapping areas to zones, the district policy,
the Vietnamese text, and reading feeds. Pure functions over plain values (no database, no
FastAPI); `pa_server.services.alerts` holds the use cases.

Exceptions: `CapError` (a message or feed that cannot be used) → `CapInvalid` (refused, with a
code and a Vietnamese reason).
"""

from __future__ import annotations


class CapError(Exception):
    """A CAP message or feed this server cannot use."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        #: Why, in Vietnamese: shown to people beside the kept message.
        self.reason = reason


class CapInvalid(CapError):
    """The message is not valid CAP 1.2 (or not safe to read): refused, and kept as such."""
