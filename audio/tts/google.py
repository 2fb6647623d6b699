"""gTTS (Google Translate's voice, lang `vi`): the default voice when the internet answers."""

from __future__ import annotations

import io
import logging

from audio.decode import decode_audio
from audio.errors import BadRecording, TTSUnavailable, UnknownVoice
from audio.pcm import Pcm

log = logging.getLogger(__name__)

#: gTTS has one Vietnamese voice.
DEFAULT_VOICE = "vi"
#: Below this speed we ask Google for its slow reading; Google has no other rates.
SLOW_BELOW = 0.9
#: Above this speed we shorten Google's audio with pydub's speedup (pitch kept).
FAST_ABOVE = 1.05


class GttsEngine:
    """Google Translate TTS over HTTPS, MP3 decoded in-process; every failure is TTSUnavailable."""

    name = "gtts"

    def __init__(self, timeout_s: float = 4.0) -> None:
        self.timeout_s = timeout_s

    def resolve_voice(self, voice: str | None) -> str:
        """gTTS speaks one Vietnamese voice: accept only that (or None)."""
        if voice is None or voice.strip().lower() in {DEFAULT_VOICE, "default"}:
            return DEFAULT_VOICE
        raise UnknownVoice(f"gTTS has one Vietnamese voice ('vi'), not {voice!r}")

    def synthesize(self, text: str, *, voice: str, speed: float) -> Pcm:
        """Ask Google for `text`, decode its MP3; raises TTSUnavailable on any failure."""
        mp3 = self._fetch(text, slow=speed < SLOW_BELOW)
        try:
            pcm = decode_audio(mp3, "gTTS response")
        except BadRecording as exc:
            raise TTSUnavailable(f"gTTS returned undecodable audio: {exc}") from exc
        if speed > FAST_ABOVE:
            from audio.compose import speed_up

            pcm = speed_up(pcm, speed)
        return pcm

    def _fetch(self, text: str, *, slow: bool) -> bytes:
        import requests
        from gtts import gTTS, gTTSError

        buf = io.BytesIO()
        try:
            # lang_check=False: the language list is local anyway, and "vi" is fixed.
            gTTS(text, lang="vi", slow=slow, lang_check=False, timeout=self.timeout_s).write_to_fp(
                buf
            )
        except gTTSError as exc:
            cause = exc.__context__
            if isinstance(cause, requests.Timeout):
                msg = f"gTTS timed out after {self.timeout_s:g} s"
            elif isinstance(cause, requests.ConnectionError):
                msg = "gTTS is unreachable (no connection to translate.google.com)"
            elif exc.rsp is not None and exc.rsp.status_code == 429:
                msg = "gTTS refused: HTTP 429 too many requests (rate-limited by Google)"
            else:
                msg = f"gTTS failed: {exc}"
            raise TTSUnavailable(msg) from exc
        except (AssertionError, ValueError, requests.RequestException) as exc:
            raise TTSUnavailable(f"gTTS failed: {exc!r}") from exc
        if not buf.getvalue():
            raise TTSUnavailable("gTTS returned no audio")
        return buf.getvalue()
