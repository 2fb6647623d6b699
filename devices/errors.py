"""The agent's exception tree (everything the agent raises derives from `DeviceError`).

- `DeviceError`
  - `ConfigError` — the config file is missing, unreadable, or has a missing/invalid field.
  - `MediaError` — a media file could not be had.
    - `MediaUnavailable` — HTTP error, timeout, or no room in the cache.
    - `MediaMismatch` — the bytes fetched do not match the announced sha256 or size.
  - `PlayerError` — the sound output failed (no device, undecodable file).
  - `LinkError` — the MQTT link could not be set up (bad URL, TLS file).
  - `HttpError` — an HTTP request got no usable answer (refused, timed out, too slow).

Wire-protocol errors live in `devices.protocol` (`ProtocolError` and below).
"""

from __future__ import annotations


class DeviceError(Exception):
    """Base of every agent error."""


class ConfigError(DeviceError):
    """A config file that cannot be used; the message names the field."""


class MediaError(DeviceError):
    """A media file could not be fetched or verified."""


class MediaUnavailable(MediaError):
    """The media server did not deliver (HTTP error, timeout) or the cache has no room."""


class MediaMismatch(MediaError):
    """The fetched bytes differ from the announced sha256 or size."""


class PlayerError(DeviceError):
    """The sound output could not prepare or play a file."""


class LinkError(DeviceError):
    """The MQTT link could not be set up."""


class HttpError(DeviceError):
    """An HTTP request got no usable answer: refused, timed out, too slow, or malformed."""
