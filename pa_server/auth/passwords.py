"""Password hashing with argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024

_hasher = PasswordHasher()

#: Verified against when the user does not exist, so an unknown name costs as long as a wrong
#: password and response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-only-for-timing")


class WeakPassword(ValueError):
    """The password breaks the length rule (message in Vietnamese for forms and the CLI)."""


def check_strength(password: str) -> None:
    """Raise `WeakPassword` unless `password` has an acceptable length."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Mật khẩu phải có ít nhất {MIN_LENGTH} ký tự.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Mật khẩu không được dài quá {MAX_LENGTH} ký tự.")


def hash_password(password: str) -> str:
    """The argon2id hash string to store for `password`."""
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches `stored_hash`; a missing hash still costs one verification."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when `stored_hash` was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)
