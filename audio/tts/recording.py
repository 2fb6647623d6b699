"""An operator's recorded voice (MP3/WAV/OGG/FLAC bytes) as the body of an announcement."""

from __future__ import annotations

from audio.decode import decode_audio
from audio.errors import BadRecording
from audio.pcm import Pcm

#: A recording longer than this is refused: a broadcast is minutes, not an hour of audio.
MAX_RECORDING_S = 15 * 60
#: Shorter than this is a click, not speech.
MIN_RECORDING_S = 0.2


def load_recording(data: bytes, name: str | None = None) -> Pcm:
    """Decode a recording; raises BadRecording when it is empty, corrupt, too short or long."""
    what = f"recording {name!r}" if name else "recording"
    pcm = decode_audio(data, what)
    if pcm.duration_s < MIN_RECORDING_S:
        raise BadRecording(f"{what} is only {pcm.duration_s * 1000:.0f} ms long")
    if pcm.duration_s > MAX_RECORDING_S:
        raise BadRecording(f"{what} is {pcm.duration_s / 60:.0f} min long (limit 15 min)")
    return pcm
