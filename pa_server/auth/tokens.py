"""API tokens for scripts: random secrets shown once, stored only as a SHA-256 digest.

A token has 256 random bits, so a fast digest is enough (no guessing to slow down, unlike
passwords); the digest is indexed and looked up directly.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "pa_"


def new_token() -> str:
    """A fresh token to give to its owner once."""
    return PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the database keeps for `token`."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token in an `Authorization: Bearer …` header, or None when there is none."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
