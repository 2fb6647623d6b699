"""Streaming encoders: MP3 in-process with lameenc; Opus through ffmpeg (PATH or imageio-ffmpeg).

Both take the broadcast chunk by chunk and write the file as they go.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from typing import Protocol

import lameenc

from audio.errors import EncodeError, EncoderUnavailable

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


class Sink(Protocol):
    """Where an encoder writes: a binary file (ffmpeg writes to its descriptor directly)."""

    def write(self, data: bytes, /) -> int:
        """Write `data`."""
        ...

    def fileno(self) -> int:
        """The file's descriptor."""
        ...


class StreamEncoder(Protocol):
    """Takes a broadcast as consecutive int16 chunks and writes the encoded file as it goes."""

    def write(self, samples: bytes) -> None:
        """Encode the next chunk of 16-bit mono samples."""
        ...

    def finish(self) -> None:
        """Flush the encoder; the output file is complete after this."""
        ...

    def abort(self) -> None:
        """Stop without finishing (the output file is to be thrown away)."""
        ...


def open_encoder(fmt: str, out: Sink, rate: int) -> StreamEncoder:
    """An encoder for `fmt` writing into `out` (a file opened for binary writing)."""
    check_format(fmt)
    return Mp3Stream(out, rate) if fmt == "mp3" else OpusStream(out, rate)


class Mp3Stream:
    """lameenc, fed chunk by chunk: memory holds one chunk, not the whole broadcast."""

    def __init__(self, out: Sink, rate: int) -> None:
        self.out = out
        self.enc = lameenc.Encoder()
        self.enc.set_bit_rate(MP3_BITRATE_KBPS)
        self.enc.set_in_sample_rate(rate)
        self.enc.set_channels(1)
        self.enc.set_quality(MP3_QUALITY)

    def write(self, samples: bytes) -> None:
        """Encode and write the next chunk."""
        try:
            self.out.write(bytes(self.enc.encode(samples)))
        except Exception as exc:  # lameenc raises bare RuntimeError/ValueError subclasses
            raise EncodeError(f"MP3 encoding failed: {exc}") from exc

    def finish(self) -> None:
        """Write LAME's last frames."""
        try:
            self.out.write(bytes(self.enc.flush()))
        except Exception as exc:
            raise EncodeError(f"MP3 encoding failed: {exc}") from exc

    def abort(self) -> None:
        """Nothing to stop: lameenc runs in this process."""


class OpusStream:
    """ffmpeg reading raw samples on stdin and writing Ogg Opus straight into `out`."""

    def __init__(self, out: Sink, rate: int) -> None:
        ffmpeg = find_ffmpeg()
        if ffmpeg is None:
            raise EncoderUnavailable(FFMPEG_HELP)
        # errors go to a file, not a pipe: a pipe nobody reads could fill and stall ffmpeg
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115  (closed by finish/abort)
        try:
            self.proc = subprocess.Popen(
                _opus_command(ffmpeg, rate),
                stdin=subprocess.PIPE,
                stdout=out.fileno(),
                stderr=self.errors,
            )
        except OSError as exc:
            self.errors.close()
            raise EncodeError(f"ffmpeg could not run: {exc}") from exc

    def write(self, samples: bytes) -> None:
        """Hand the next chunk to ffmpeg."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(samples)
        except OSError as exc:
            self.abort()
            raise EncodeError(f"ffmpeg stopped reading: {exc}") from exc

    def finish(self) -> None:
        """Close ffmpeg's input and wait for it to write the last pages."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
            code = self.proc.wait(timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.abort()
            raise EncodeError(f"ffmpeg failed: {exc}") from exc
        self.errors.seek(0)
        err = self.errors.read().decode(errors="replace").strip().splitlines()
        self.errors.close()
        if code != 0:
            raise EncodeError(f"ffmpeg failed to encode Opus: {err[-1] if err else code}")

    def abort(self) -> None:
        """Kill ffmpeg."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.errors.close()


def _opus_command(ffmpeg: str, rate: int) -> list[str]:
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0",
        "-ar", "48000", "-c:a", "libopus", "-b:a", OPUS_BITRATE, "-application", "voip",
        "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "ogg", "pipe:1",
    ]  # fmt: skip
