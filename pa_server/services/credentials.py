"""Broker credentials of devices: random passwords, Mosquitto-compatible hashes.

INTERIM: `hash_password` will come from `pa_server.mqtt_auth` (the security engineer's module);
until then this small implementation produces the same `$7$` PBKDF2-SHA512 format that
`mosquitto_passwd` writes, so stored hashes stay valid after the swap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: Mosquitto 2's default iteration count for `$7$` hashes.
ITERATIONS = 101
SALT_BYTES = 12


def new_password() -> str:
    """A random broker password (≈ 190 bits), URL- and TOML-safe."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`$7$iterations$salt_b64$hash_b64`: Mosquitto's PBKDF2-SHA512 password file format."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a `$7$` hash."""
    try:
        _, kind, iterations, salt_b64, hash_b64 = stored.split("$")
        if kind != "7":
            return False
        salt = base64.b64decode(salt_b64)
        digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest, base64.b64decode(hash_b64))
