"""espeak-ng through ctypes on the `espeakng-loader` wheel: offline Vietnamese voices."""

from __future__ import annotations

import _ctypes  # dlclose: unload espeak-ng between utterances (see _Library)
import ctypes
import logging
import threading
from typing import Any

from audio.errors import TTSUnavailable, UnknownVoice
from audio.pcm import Pcm

log = logging.getLogger(__name__)

#: Friendly names → espeak-ng voice names. Northern (Hà Nội), central (Huế), southern (Sài Gòn).
VOICES: dict[str, str] = {
    "bac": "vi",
    "north": "vi",
    "vi": "vi",
    "trung": "vi-vn-x-central",
    "central": "vi-vn-x-central",
    "vi-vn-x-central": "vi-vn-x-central",
    "nam": "vi-vn-x-south",
    "south": "vi-vn-x-south",
    "vi-vn-x-south": "vi-vn-x-south",
}
DEFAULT_VOICE = "vi"
#: espeak-ng's default rate in words per minute; speed 1.0 maps here.
BASE_RATE_WPM = 175
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450

# SYNCHRONOUS: espeak_Synth returns only once every sample went through the callback, on this
# thread (RETRIEVAL would synthesise on espeak-ng's own thread and need espeak_Synchronize).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
_EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Library:
    """espeak-ng, loaded afresh for every utterance so the same text always gives the same audio.

    espeak-ng keeps state from one utterance to the next in C statics (its pitch-flutter
    index, a waveform double buffer): the same sentence synthesised twice in one process
    came out different (measured: different samples, lengths a few samples apart). Loading
    the library, speaking, then terminating and unloading it (dlclose) starts every utterance
    from the same state, for about 6 ms more per utterance; renders from the page, the API
    and the CLI then agree byte for byte even with separate caches.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise TTSUnavailable(
                "espeak-ng is not installed (pip install espeakng-loader)"
            ) from exc
        self.path = espeakng_loader.get_library_path()
        self.data = espeakng_loader.get_data_path().encode()
        self.chunks: list[bytes] = []
        # Kept on self: ctypes would otherwise free the trampoline while C still holds it.
        self.callback = _SynthCallback(self._collect)
        lib = self._open()  # fail here, at first use, if the library or its data is unusable
        self.rate = int(lib.rate)
        self._close(lib)

    def _open(self) -> Any:
        lib: Any = ctypes.CDLL(self.path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Terminate.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data, 0)
        if rate <= 0:
            self._close(lib, initialised=False)
            raise TTSUnavailable(f"espeak-ng failed to initialise (data path {self.data!r})")
        lib.rate = rate
        lib.espeak_SetSynthCallback(self.callback)
        return lib

    @staticmethod
    def _close(lib: Any, *, initialised: bool = True) -> None:
        if initialised:
            lib.espeak_Terminate()
        # the last handle closed unloads the library: the next _open starts from clean statics
        _ctypes.dlclose(lib._handle)

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self.chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    def speak(self, text: str, voice: str, rate_wpm: int) -> Pcm:
        lib = self._open()
        try:
            if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise UnknownVoice(f"espeak-ng has no voice {voice!r}")
            lib.espeak_SetParameter(_ESPEAK_RATE, rate_wpm, 0)
            data = text.encode("utf-8") + b"\0"
            self.chunks = []
            err = lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
            )
            if err != _EE_OK:
                raise TTSUnavailable(f"espeak-ng synthesis failed (error {err})")
            samples, self.chunks = b"".join(self.chunks), []
        finally:
            self._close(lib)
        return Pcm(samples, self.rate)


_lock = threading.Lock()
_library: _Library | None = None


def _speak_locked(text: str, voice: str, rate_wpm: int) -> Pcm:
    global _library  # the library is process-global state by nature
    with _lock:
        if _library is None:
            _library = _Library()
        return _library.speak(text, voice, rate_wpm)


def rate_for(speed: float) -> int:
    """espeak-ng words-per-minute rate for a speed factor (1.0 = 175 wpm)."""
    return max(MIN_RATE_WPM, min(MAX_RATE_WPM, round(BASE_RATE_WPM * speed)))


class EspeakEngine:
    """espeak-ng's Vietnamese voices: `bac`/north (default), `trung`/central, `nam`/south."""

    name = "espeak"

    def resolve_voice(self, voice: str | None) -> str:
        """espeak-ng voice name for a friendly or espeak name (None = northern)."""
        if voice is None:
            return DEFAULT_VOICE
        try:
            return VOICES[voice.strip().lower()]
        except KeyError:
            names = ", ".join(sorted(VOICES))
            raise UnknownVoice(f"unknown espeak-ng voice {voice!r} (known: {names})") from None

    def synthesize(self, text: str, *, voice: str, speed: float) -> Pcm:
        """Speak `text` with espeak-ng; the speed becomes espeak-ng's words-per-minute rate."""
        return _speak_locked(text, voice, rate_for(speed))
