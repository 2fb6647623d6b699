"""A locally installed Piper voice (`.onnx` + `.onnx.json`), configured by path, loaded lazily.

No Vietnamese Piper voice ships with this project, and none was tested: a district that copies
one onto the server sets `PA_TTS_PIPER_MODEL=/path/voice.onnx` (and installs `piper-tts`).
Anything missing or broken — no path, no file, no `piper-tts`, a model that fails to load or
to speak — is `TTSUnavailable`, so the renderer falls back to espeak-ng and records it.
The model sits behind `VoiceModel`; tests load a stub through the `loader` argument.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from audio.errors import TTSUnavailable, UnknownVoice
from audio.options import REGION_ALIASES, REGIONS
from audio.pcm import Pcm

log = logging.getLogger(__name__)


class VoiceModel(Protocol):
    """A loaded neural voice: text in, 16-bit mono chunks out."""

    @property
    def sample_rate(self) -> int:
        """Rate of what `speak` yields, in Hz."""
        ...

    def speak(self, text: str, *, length_scale: float) -> Iterable[bytes]:
        """16-bit little-endian mono samples for `text`; length_scale 1/speed (Piper's knob)."""
        ...


ModelLoader = Callable[[Path], VoiceModel]


class _PiperModel:
    """`piper-tts` (1.3's API: `PiperVoice.load`, `synthesize` yielding AudioChunks)."""

    def __init__(self, voice: Any, synthesis_config: Any) -> None:
        self.voice = voice
        self.config_type = synthesis_config

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    def speak(self, text: str, *, length_scale: float) -> Iterable[bytes]:
        config = self.config_type(length_scale=length_scale)
        for chunk in self.voice.synthesize(text, syn_config=config):
            yield bytes(chunk.audio_int16_bytes)


def load_piper_model(path: Path) -> VoiceModel:
    """Load a Piper voice with `piper-tts`; raises TTSUnavailable when that cannot be done."""
    try:
        from piper import PiperVoice, SynthesisConfig  # type: ignore[import-not-found]
    except ImportError as exc:
        raise TTSUnavailable("piper-tts is not installed (pip install piper-tts)") from exc
    try:
        voice = PiperVoice.load(str(path))
    except Exception as exc:  # onnxruntime and json errors alike: the voice is unusable
        raise TTSUnavailable(f"the Piper voice {path.name} did not load: {exc}") from exc
    return _PiperModel(voice, SynthesisConfig)


class PiperEngine:
    """One configured Piper voice for every region (a voice speaks the accent it was trained on).

    `configured` is False without a path: `auto` then skips Piper instead of failing over it.
    """

    name = "piper"

    def __init__(self, model_path: Path | None, *, loader: ModelLoader = load_piper_model) -> None:
        self.model_path = model_path
        self.loader = loader
        self._model: VoiceModel | None = None
        self._failed: tuple[tuple[int, int], str] | None = None  # (file stamp, why)
        self._voice_id: tuple[tuple[int, int], str] | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """True when a model path is set (whether or not the file loads)."""
        return self.model_path is not None

    def _stamp(self) -> tuple[int, int] | None:
        if self.model_path is None:
            return None
        try:
            st = self.model_path.stat()
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def resolve_voice(self, voice: str | None) -> str:
        """The model's id (file name and content digest): sentence caches follow the model."""
        if voice is not None and REGION_ALIASES.get(voice, voice) not in REGIONS:
            raise UnknownVoice(f"unknown region {voice!r} (choose {', '.join(REGIONS)})")
        stamp = self._stamp()
        if self.model_path is None or stamp is None:
            return "none"  # speaking will fail and fall back; the id never reaches a cache
        with self._lock:
            if self._voice_id is None or self._voice_id[0] != stamp:
                digest = hashlib.sha256()
                with self.model_path.open("rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
                self._voice_id = (stamp, f"{self.model_path.stem}-{digest.hexdigest()[:12]}")
            return self._voice_id[1]

    def _loaded(self) -> VoiceModel:
        if self.model_path is None:
            raise TTSUnavailable("no Piper voice configured (set PA_TTS_PIPER_MODEL)")
        stamp = self._stamp()
        if stamp is None:
            raise TTSUnavailable(f"the Piper voice {self.model_path} is missing")
        with self._lock:
            if self._failed is not None and self._failed[0] == stamp:
                raise TTSUnavailable(self._failed[1])  # do not reload a broken file every time
            if self._model is None:
                try:
                    self._model = self.loader(self.model_path)
                except TTSUnavailable as exc:
                    self._failed = (stamp, str(exc))
                    log.warning("Piper voice unavailable, espeak-ng will speak: %s", exc)
                    raise
                self._failed = None
            return self._model

    def synthesize(self, text: str, *, voice: str, speed: float) -> Pcm:
        """Speak `text` with the Piper voice; speed becomes Piper's length scale (1/speed)."""
        model = self._loaded()
        try:
            samples = b"".join(model.speak(text, length_scale=1.0 / speed))
        except TTSUnavailable:
            raise
        except Exception as exc:  # a model that loads but cannot run
            raise TTSUnavailable(f"the Piper voice failed to speak: {exc}") from exc
        if len(samples) % 2:
            raise TTSUnavailable("the Piper voice returned a broken sample stream")
        return Pcm(samples, model.sample_rate)
