"""Encoding: MP3 in-process with lameenc; Opus through an ffmpeg found on PATH or imageio-ffmpeg."""

from __future__ import annotations

import shutil
import subprocess

import lameenc

from audio.errors import EncodeError, EncoderUnavailable
from audio.pcm import Pcm

MP3_BITRATE_KBPS = 64
#: LAME's algorithm quality (2 best … 7 fast); 5 is transparent enough for speech at 64 kb/s.
MP3_QUALITY = 5
OPUS_BITRATE = "32k"

FORMATS: dict[str, tuple[str, str]] = {"mp3": ("mp3", "audio/mpeg"), "opus": ("opus", "audio/ogg")}

FFMPEG_HELP = (
    "Opus needs ffmpeg: install it (apt-get install ffmpeg) or `pip install imageio-ffmpeg` "
    "(about 165 MB, carries its own ffmpeg); MP3 needs neither"
)


def find_ffmpeg() -> str | None:
    """Path of an ffmpeg: the system's first, else the imageio-ffmpeg wheel's, else None."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:
        return None


def check_format(fmt: str) -> None:
    """Raise EncoderUnavailable now (before any synthesis) if `fmt` cannot be produced."""
    if fmt not in FORMATS:
        raise EncoderUnavailable(f"unknown format {fmt!r} (choose mp3 or opus)")
    if fmt == "opus" and find_ffmpeg() is None:
        raise EncoderUnavailable(FFMPEG_HELP)


def encode(pcm: Pcm, fmt: str) -> bytes:
    """Encode mono PCM as `fmt` ("mp3" or "opus")."""
    check_format(fmt)
    return _mp3(pcm) if fmt == "mp3" else _opus(pcm)


def _mp3(pcm: Pcm) -> bytes:
    enc = lameenc.Encoder()
    enc.set_bit_rate(MP3_BITRATE_KBPS)
    enc.set_in_sample_rate(pcm.rate)
    enc.set_channels(1)
    enc.set_quality(MP3_QUALITY)
    try:
        return bytes(enc.encode(pcm.samples) + enc.flush())
    except Exception as exc:  # lameenc raises bare RuntimeError/ValueError subclasses
        raise EncodeError(f"MP3 encoding failed: {exc}") from exc


def _opus(pcm: Pcm) -> bytes:
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        raise EncoderUnavailable(FFMPEG_HELP)
    cmd = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "s16le", "-ar", str(pcm.rate), "-ac", "1", "-i", "pipe:0",
        "-ar", "48000", "-c:a", "libopus", "-b:a", OPUS_BITRATE, "-application", "voip",
        "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "ogg", "pipe:1",
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, input=pcm.samples, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EncodeError(f"ffmpeg could not run: {exc}") from exc
    if done.returncode != 0 or not done.stdout:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise EncodeError(f"ffmpeg failed to encode Opus: {err[-1] if err else done.returncode}")
    return done.stdout
