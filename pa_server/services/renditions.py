"""Rendering announcements into media, and uploaded recordings.

The renderer is `audio.render.Renderer`, passed in (tests pass a fake with the same
`render(request) -> Rendition` method); its errors become service errors here.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import miniaudio
from sqlalchemy.orm import Session

from announcements.errors import BadOverride
from announcements.spans import Override
from audio.errors import (
    AudioError,
    BadOptions,
    BadRecording,
    BadText,
    EncoderUnavailable,
    RenderBusy,
    TTSUnavailable,
)
from audio.options import RenderOptions as AudioOptions
from audio.render import RenderRequest
from pa_server.db.models import Announcement, Rendition
from pa_server.schemas.announcements import RenderOptions
from pa_server.services.errors import Conflict, Invalid, Unavailable

log = logging.getLogger(__name__)

#: Largest recording accepted (a 10-minute WAV at 16 kHz mono is ~19 MB).
MAX_RECORDING_BYTES = 25 * 1024 * 1024

#: What a recording may be, tried in this order: extension and miniaudio's probe.
_PROBES: tuple[tuple[str, Any], ...] = (
    ("wav", miniaudio.wav_get_info),
    ("flac", miniaudio.flac_get_info),
    ("ogg", miniaudio.vorbis_get_info),
    ("mp3", miniaudio.mp3_get_info),
)


class RenditionLike(Protocol):
    """What `audio.render.Rendition` carries that we store."""

    @property
    def sha256(self) -> str: ...
    @property
    def ext(self) -> str: ...
    @property
    def mime(self) -> str: ...
    @property
    def bytes(self) -> int: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def loudness_lufs(self) -> float | None: ...
    @property
    def true_peak_dbtp(self) -> float | None: ...
    @property
    def engines(self) -> tuple[str, ...]: ...
    @property
    def fell_back(self) -> bool: ...
    @property
    def spoken_text(self) -> str: ...


class RendererLike(Protocol):
    """`audio.render.Renderer`'s one method."""

    def render(self, req: RenderRequest) -> RenditionLike: ...


def probe_audio(data: bytes) -> tuple[str, int]:
    """The extension and duration (ms) of an audio file; `Invalid` if it is not one we read."""
    if len(data) > MAX_RECORDING_BYTES:
        raise Invalid(
            "upload_too_big",
            f"recording of {len(data)} bytes exceeds {MAX_RECORDING_BYTES} bytes",
        )
    if not data:
        raise Invalid("not_audio", "the upload is empty")
    for ext, probe in _PROBES:
        try:
            info = probe(data)
        except miniaudio.DecodeError:
            continue
        if info.num_frames > 0:
            return ext, int(info.duration * 1000)
    raise Invalid("not_audio", "the upload is not MP3, WAV, FLAC or Ogg Vorbis audio")


def store_recording(
    session: Session,
    announcement: Announcement,
    data: bytes,
    filename: str | None,
    *,
    recordings_dir: Path,
    now: datetime,
) -> Announcement:
    """Keep an operator's recording (content-addressed) as the announcement's source."""
    if announcement.status != "draft":
        raise Conflict("announcement_not_draft", "only a draft announcement can change")
    ext, _duration_ms = probe_audio(data)
    sha = hashlib.sha256(data).hexdigest()
    recordings_dir.mkdir(parents=True, exist_ok=True)
    path = recordings_dir / f"{sha}.{ext}"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a file
    announcement.kind = "recording"
    announcement.recording_sha256 = sha
    announcement.recording_ext = ext
    announcement.recording_name = (filename or f"recording.{ext}")[:200]
    announcement.rendition_id = None
    announcement.updated_at = now
    session.flush()
    return announcement


def audio_options(options: RenderOptions, default_engine: str) -> AudioOptions:
    """The API's render options as `audio`'s RenderOptions (stored as `AudioOptions.to_json()`).

    The intro is said when the commune is given, as before; `AudioOptions` carries the new
    choices (region, comma and sentence pauses) with their defaults until the API has them.
    """
    try:
        return AudioOptions.from_dict(
            {
                "engine": options.engine or default_engine,
                "region": options.voice or "bac",
                "comma_pause_ms": options.comma_pause_ms,
                "sentence_pause_ms": options.sentence_pause_ms,
                "speed": options.speed,
                "repeat": options.repeat,
                "repeat_pause_ms": round(options.gap_s * 1000),
                "chime": options.chime,
                "intro": options.intro and options.intro_commune is not None,
                "commune": options.intro_commune,
                "outro": options.outro,
                "format": options.format,
                "band_limit": options.band_limit,
            }
        )
    except BadOptions as exc:
        raise Invalid("bad_options", str(exc)) from exc


def stored_overrides(announcement: Announcement) -> tuple[Override, ...]:
    """The operator's readings stored with an announcement (none when there are none)."""
    try:
        return tuple(Override.from_dict(d) for d in announcement.spoken_overrides or ())
    except BadOverride as exc:  # written by this server only; a bad row is a bug, said loudly
        raise Invalid("bad_overrides", f"stored readings are malformed: {exc}") from exc


def render_announcement(
    session: Session,
    announcement: Announcement,
    options: RenderOptions,
    *,
    renderer: RendererLike | None,
    default_engine: str,
    recordings_dir: Path,
    now: datetime,
) -> Rendition:
    """Render a draft announcement and make the result its current rendition."""
    if renderer is None:
        raise Unavailable("renderer_unavailable", "audio rendering is not available")
    if announcement.status != "draft":
        raise Conflict("announcement_not_draft", "only a draft announcement can be re-rendered")
    recording: bytes | None = None
    if announcement.kind == "recording":
        path = recordings_dir / f"{announcement.recording_sha256}.{announcement.recording_ext}"
        try:
            recording = path.read_bytes()
        except OSError as exc:
            raise Conflict("recording_missing", f"recording file {path.name} is gone") from exc
    req = RenderRequest(
        text=announcement.text if recording is None else None,
        recording=recording,
        recording_name=announcement.recording_name,
        options=audio_options(options, default_engine),
        overrides=stored_overrides(announcement),
    )
    try:
        result = renderer.render(req)
    except RenderBusy as exc:
        raise Unavailable("render_busy", str(exc)) from exc
    except (TTSUnavailable, EncoderUnavailable) as exc:
        raise Unavailable("tts_unavailable", f"no voice or encoder available now: {exc}") from exc
    except BadText as exc:
        raise Invalid("bad_text", str(exc)) from exc
    except BadRecording as exc:
        raise Invalid("not_audio", str(exc)) from exc
    except AudioError as exc:
        log.warning("rendering announcement %s failed: %s", announcement.id, exc)
        raise Invalid("render_failed", f"rendering failed: {exc}") from exc
    rendition = Rendition(
        announcement_id=announcement.id,
        sha256=result.sha256,
        ext=result.ext,
        mime=result.mime,
        bytes=result.bytes,
        duration_ms=result.duration_ms,
        loudness_lufs=result.loudness_lufs,
        true_peak_dbtp=result.true_peak_dbtp,
        engines=list(result.engines),
        fell_back=result.fell_back,
        spoken_text=result.spoken_text,
        created_at=now,
    )
    session.add(rendition)
    session.flush()
    announcement.rendition = rendition
    announcement.updated_at = now
    session.flush()
    return rendition
