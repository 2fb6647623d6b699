"""The `audio` package's exceptions, one tree.

AudioError
├── BadRequest          a render request that cannot be honoured
│   ├── BadOptions      RenderOptions out of range or of the wrong type (every field's error)
│   └── BadText         empty text, text over 5,000 characters, nothing speakable
├── UnknownEngine       an engine name we do not have
├── UnknownVoice        a voice the chosen engine does not speak
├── BadRecording        an operator's recording that is empty, unreadable or corrupt
├── TTSUnavailable      an engine that could not speak now (network, HTTP 429, missing library)
├── EncoderUnavailable  no encoder for the requested format (Opus without ffmpeg)
├── EncodeError         the encoder failed on our audio
└── RenderBusy          the render worker cannot take it now: try again shortly
    └── RenderCrashed   the worker process died during this render (it is restarted)
"""

from __future__ import annotations

from dataclasses import dataclass


class AudioError(Exception):
    """Base of every error raised by `audio`."""


class BadRequest(AudioError):
    """A render request with a value out of range or a missing part."""


class UnknownEngine(AudioError):
    """An engine name that is not one of ours."""


class UnknownVoice(AudioError):
    """A voice the chosen engine does not have."""


class BadRecording(AudioError):
    """An operator's recording we cannot decode."""


class TTSUnavailable(AudioError):
    """A TTS engine failed to speak (unreachable, timed out, refused, broken)."""


class EncoderUnavailable(AudioError):
    """No encoder for the requested output format on this machine."""


class EncodeError(AudioError):
    """The encoder failed."""


class BadText(BadRequest):
    """Text we will not speak: empty, over the length limit, or with nothing speakable."""


@dataclass(frozen=True)
class FieldError:
    """One option's error: the field, an English code and message, a Vietnamese message."""

    field: str
    code: str
    message: str
    message_vi: str


class BadOptions(BadRequest):
    """RenderOptions that cannot be used; `errors` holds one FieldError per problem."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors

    def __reduce__(self) -> tuple[type[BadOptions], tuple[tuple[FieldError, ...]]]:
        # crosses the render worker's process boundary: rebuild from the errors, not the text
        return (BadOptions, (self.errors,))


class RenderBusy(AudioError):
    """Too many renders are waiting already; the caller should retry in a moment."""


class RenderCrashed(RenderBusy):
    """The render worker process died (killed, out of memory); a fresh one replaces it."""
