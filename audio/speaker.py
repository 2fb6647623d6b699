"""Speaks the sentences of one render: sentence cache first, then engines in order."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from audio.errors import TTSUnavailable
from audio.pcm import Pcm
from audio.sentence_cache import SentenceCache
from audio.tts import TTSEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spoken:
    """Audio for every sentence, in order, and which engine spoke them."""

    pieces: tuple[Pcm, ...]
    engines: tuple[str, ...]
    fell_back: bool
    failures: tuple[str, ...]


class Speaker:
    """Tries each (engine, voice) of `chain` for the whole text; the first that speaks it all wins.

    A failing engine is not asked again in this render (a circuit breaker: one timeout, not one
    per sentence), and the next engine speaks every sentence, so a broadcast never switches
    voice half-way. Engines in `cache_only` are used only for sentences already cached.
    """

    def __init__(
        self,
        chain: Sequence[tuple[TTSEngine, str]],
        cache: SentenceCache,
        speed: float,
        cache_only: frozenset[str] = frozenset(),
    ) -> None:
        self.chain = chain
        self.cache = cache
        self.speed = speed
        self.cache_only = cache_only

    def speak(self, sentences: Sequence[str]) -> Spoken:
        """Audio for every sentence; raises TTSUnavailable when no engine can speak them all."""
        failures: list[str] = []
        for engine, voice in self.chain:
            try:
                pieces = [self._one(engine, voice, s) for s in sentences]
            except TTSUnavailable as exc:
                failures.append(f"{engine.name}: {exc}")
                log.warning("%s could not speak (%s); trying the next engine", engine.name, exc)
                continue
            return Spoken(
                tuple(pieces), (engine.name,) * len(pieces), bool(failures), tuple(failures)
            )
        raise TTSUnavailable("no engine could speak the text: " + "; ".join(failures))

    def _one(self, engine: TTSEngine, voice: str, sentence: str) -> Pcm:
        hit = self.cache.get(engine.name, voice, self.speed, sentence)
        if hit is not None:
            return hit
        if engine.name in self.cache_only:
            raise TTSUnavailable("failed recently; not retried yet")
        pcm = engine.synthesize(sentence, voice=voice, speed=self.speed)
        if pcm.frames == 0:
            raise TTSUnavailable(f"produced no audio for {sentence[:60]!r}")
        self.cache.put(engine.name, voice, self.speed, sentence, pcm)
        return pcm
