"""The services' exception tree: every refusal carries a machine-readable `code`.

- `ServiceError(code, message)` — base; the API maps it to an HTTP status:
  - `Invalid` — bad input (422): `invalid_rrule`, `unknown_timezone`, `end_before_start`,
    `announcement_not_approved`, `unknown_zone`, `unknown_device`, `invalid_slug`,
    `text_too_long`, `duplicate_id`, `not_audio`, `upload_too_big`, …
  - `NotFound` — the resource named in the URL does not exist (404).
  - `Conflict` — the request is valid but the resource's state forbids it (409), e.g.
    deleting a zone that still has devices.
  - `Unavailable` — a part of the system this needs is not running (503).
"""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal with a stable `code` for machines and a `message` for people."""

    status = 500

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Invalid(ServiceError):
    """The input cannot be accepted as given."""

    status = 422


class NotFound(ServiceError):
    """The resource named does not exist."""

    status = 404


class Conflict(ServiceError):
    """The resource's current state forbids the request."""

    status = 409


class Unavailable(ServiceError):
    """A component this request needs (renderer, bus, script library) is not available."""

    status = 503
