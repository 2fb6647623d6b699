"""TTS engines behind one small interface: text in, `Pcm` out.

Engines: `espeak` (offline, espeak-ng via ctypes), `gtts` (Google, online), `fake` (tests).
An operator's recording is decoded by `audio.tts.recording`, not spoken, so it is no engine.
"""

from __future__ import annotations

from typing import Protocol

from audio.pcm import Pcm


class TTSEngine(Protocol):
    """Something that turns one sentence of spoken-form Vietnamese into audio."""

    #: Engine name as stored in caches and metadata ("espeak", "gtts", "fake").
    name: str

    def resolve_voice(self, voice: str | None) -> str:
        """Canonical voice id for `voice` (None = default); raises UnknownVoice."""
        ...

    def synthesize(self, text: str, *, voice: str, speed: float) -> Pcm:
        """Speak `text` with a canonical `voice` at `speed` (1.0 = normal)."""
        ...
