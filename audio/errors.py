"""The `audio` package's exceptions, one tree.

AudioError
├── BadRequest          a render request that cannot be honoured (speed, repeat, commune, …)
│   └── BadText         empty text, text over 5,000 characters, nothing speakable
├── UnknownEngine       an engine name we do not have
├── UnknownVoice        a voice the chosen engine does not speak
├── BadRecording        an operator's recording that is empty, unreadable or corrupt
├── TTSUnavailable      an engine that could not speak now (network, HTTP 429, missing library)
├── EncoderUnavailable  no encoder for the requested format (Opus without ffmpeg)
└── EncodeError         the encoder failed on our audio
"""

from __future__ import annotations


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
