"""Signed session cookies and the CSRF token bound to each session.

The cookie holds `{"u": user id or None, "e": the user's session epoch, "c": CSRF token}`,
signed (HMAC-SHA1 by itsdangerous, keyed by a secret made on first start) and time-stamped.
Bumping a user's epoch (signing out, password change, new role, disabling) voids every cookie
issued to them before, on the server, wherever a copy is replayed. A user's epoch starts at a
random number, so a cookie of a deleted user does not fit a new user given the same id.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from pa_server.auth.errors import BadCsrf

log = logging.getLogger(__name__)

COOKIE_NAME = "pa_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
MAX_AGE_S = 12 * 3600
KEY_FILE = "session.key"


@dataclass(frozen=True)
class Session:
    """What a session cookie says: who (if anyone) and the CSRF token of this browser."""

    user_id: int | None
    epoch: int
    csrf: str

    @classmethod
    def anonymous(cls) -> Session:
        """A fresh session for a visitor not signed in yet (gives the sign-in form a token)."""
        return cls(user_id=None, epoch=0, csrf=secrets.token_urlsafe(24))

    @classmethod
    def signed_in(cls, user_id: int, epoch: int) -> Session:
        """A fresh session for `user_id`; a new CSRF token, so one planted earlier is useless."""
        return cls(user_id=user_id, epoch=epoch, csrf=secrets.token_urlsafe(24))


def load_or_create_secret(data_dir: Path) -> bytes:
    """The session-signing secret in `data_dir`, created (mode 0600) on first start."""
    path = data_dir / KEY_FILE
    if path.exists():
        secret = path.read_bytes().strip()
        if len(secret) < 32:
            raise ValueError(f"{path} holds a secret shorter than 32 bytes; delete it to renew")
        return secret
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode()
    # O_EXCL: two processes starting together must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_secret(data_dir)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    log.info("created session secret %s", path)
    return secret


class SessionCodec:
    """Turns a `Session` into a cookie value and back."""

    def __init__(self, secret: bytes, *, max_age_s: int = MAX_AGE_S) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="pa-session")
        self.max_age_s = max_age_s

    def dumps(self, session: Session) -> str:
        """The signed cookie value for `session`."""
        return self._serializer.dumps({"u": session.user_id, "e": session.epoch, "c": session.csrf})

    def loads(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None when missing, forged, expired or malformed."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        user_id, epoch, csrf = data.get("u"), data.get("e"), data.get("c")
        if user_id is not None and not isinstance(user_id, int):
            return None
        if not isinstance(epoch, int) or not isinstance(csrf, str) or len(csrf) < 16:
            return None
        return Session(user_id=user_id, epoch=epoch, csrf=csrf)


def check_csrf(session: Session | None, submitted: str | None) -> None:
    """Raise `BadCsrf` unless `submitted` is this session's CSRF token."""
    if session is None or not submitted:
        raise BadCsrf("missing CSRF token or session")
    if not hmac.compare_digest(session.csrf.encode(), submitted.encode()):
        raise BadCsrf("CSRF token does not match the session")


def cookie_is_secure(public_url: str) -> bool:
    """Mark the cookie Secure when the server is reached over https."""
    return public_url.lower().startswith("https://")
