"""Per-sentence synthesis cache on disk, keyed by (engine, voice, speed, spoken sentence)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import wave
from pathlib import Path

from audio.atomic import write_atomic
from audio.pcm import Pcm

log = logging.getLogger(__name__)


class SentenceCache:
    """WAV files named by the hash of what produced them; a changed sentence misses alone."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def key(engine: str, voice: str, speed: float, text: str) -> str:
        """Hex key of one synthesis (speed rounded so 1.0 and 1.0000001 share it)."""
        spec = json.dumps([engine, voice, round(speed, 3), text], ensure_ascii=False)
        return hashlib.sha256(spec.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def get(self, engine: str, voice: str, speed: float, text: str) -> Pcm | None:
        """The cached audio, or None (a damaged entry counts as missing)."""
        path = self._path(self.key(engine, voice, speed, text))
        try:
            with wave.open(str(path), "rb") as w:
                return Pcm(w.readframes(w.getnframes()), w.getframerate())
        except FileNotFoundError:
            return None
        except (wave.Error, EOFError, OSError) as exc:
            log.warning("ignoring damaged sentence cache entry %s: %s", path, exc)
            return None

    def put(self, engine: str, voice: str, speed: float, text: str, pcm: Pcm) -> None:
        """Store `pcm` for this key atomically."""
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(pcm.rate)
            w.writeframes(pcm.samples)
        write_atomic(self._path(self.key(engine, voice, speed, text)), buf.getvalue())
