"""The live room's exception tree (everything `pa_server.live` raises derives from `LiveError`).

- `LiveError`
  - `LiveUnavailable` — no snapserver: not installed, not configured, or it would not start.
    Carries `reason_vi`, the sentence pages show (with the one command that fixes it).
  - `SnapcastError` — the snapserver's JSON-RPC control failed or answered an error.
  - `NoFreeStream` — every stream of the pool carries a session already.
  - `UnknownSession` — no session by that id (already ended, or never started).
  - `BadAudio` — PCM chunks that are not what the source announced (odd length, bad rate).
"""

from __future__ import annotations

INSTALL_COMMAND = "sudo apt-get install snapserver"


class LiveError(Exception):
    """Base of every live-audio error."""


class LiveUnavailable(LiveError):
    """Live audio cannot run here; `reason_vi` says why, in Vietnamese, for the pages."""

    def __init__(self, message: str, reason_vi: str) -> None:
        super().__init__(message)
        self.reason_vi = reason_vi


class SnapcastError(LiveError):
    """The snapserver's control API failed or refused a request."""


class NoFreeStream(LiveError):
    """All streams of the pool are in use."""


class UnknownSession(LiveError):
    """No live session by that id."""


class BadAudio(LiveError):
    """PCM that does not match the announced format."""
