"""A fake engine for tests: deterministic tones whose length follows the text, calls counted."""

from __future__ import annotations

import threading
import zlib

import numpy as np

from audio.errors import TTSUnavailable, UnknownVoice
from audio.pcm import Pcm


class FakeEngine:
    """Speaks `seconds_per_char / speed` seconds of tone per character; records every call."""

    def __init__(
        self,
        name: str = "fake",
        *,
        rate: int = 22_050,
        seconds_per_char: float = 0.02,
        voices: tuple[str, ...] = ("bac", "trung", "nam"),
        fail: bool = False,
    ) -> None:
        self.name = name
        self.rate = rate
        self.seconds_per_char = seconds_per_char
        self.voices = voices
        self.fail = fail
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def resolve_voice(self, voice: str | None) -> str:
        """The first voice by default; other names must be in `voices`."""
        if voice is None:
            return self.voices[0]
        if voice not in self.voices:
            raise UnknownVoice(f"{self.name} has no voice {voice!r}")
        return voice

    def synthesize(self, text: str, *, voice: str, speed: float) -> Pcm:
        """A tone (pitch from the text's hash) lasting in proportion to the text."""
        with self._lock:
            self.calls.append(text)
        if self.fail:
            raise TTSUnavailable(f"{self.name} is down (fake)")
        return tone_for(text, self.rate, len(text) * self.seconds_per_char / speed)


def tone_for(text: str, rate: int, seconds: float) -> Pcm:
    """A speech-loud syllabic tone (−20 dBFS-ish, 4 Hz amplitude wobble) for `seconds`."""
    n = max(1, round(seconds * rate))
    t = np.arange(n) / rate
    freq = 150.0 + zlib.crc32(text.encode()) % 200
    wobble = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t)
    x = 0.3 * wobble * np.sin(2 * np.pi * freq * t)
    return Pcm.from_float(x, rate)
