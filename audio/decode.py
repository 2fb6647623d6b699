"""Compressed audio (MP3, WAV, OGG Vorbis, FLAC) → `Pcm`, in-process with miniaudio (no ffmpeg)."""

from __future__ import annotations

import miniaudio

from audio.errors import BadRecording
from audio.pcm import OUTPUT_RATE, Pcm


def decode_audio(data: bytes, what: str = "audio", rate: int = OUTPUT_RATE) -> Pcm:
    """Decode `data` to 16-bit mono at `rate` Hz; raises BadRecording naming `what`."""
    if not data:
        raise BadRecording(f"{what} is empty")
    try:
        info = miniaudio.decode(
            data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=rate
        )
    except miniaudio.MiniaudioError as exc:
        raise BadRecording(f"{what} is not readable MP3/WAV/OGG/FLAC audio ({exc})") from exc
    if info.num_frames == 0 or info.sample_rate <= 0:
        raise BadRecording(f"{what} holds no audio")
    return Pcm(info.samples.tobytes(), info.sample_rate)
