"""The server's Ed25519 signing keys: made on first start, kept in the data directory, rotatable.

Layout: `<data_dir>/keys/NNNN-<kid>.pem`, one PKCS#8 PEM private key per file, mode 0600. The
highest `NNNN` is the newest key and signs everything; every key in the directory is published
(`public_keys()`), so agents provisioned with an older key keep verifying while a rotation rolls
out. Retiring a key is deleting its file.

Rotation in two steps, so no agent ever sees a signature it cannot check: `add_next_key` makes
`NNNN-<kid>.next.pem`, published but not signing (provision agents with it); `rotate` then
makes it the signing key. `rotate` without a prepared key creates and switches at once.

Exceptions (all subclasses of `SigningError`):

- `KeyFileError` — a key file or the key directory is unreadable, unsafe (group/world
  permissions) or not an Ed25519 private key.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from devices.protocol import Body, Kind, public_key_b64, sign_envelope

log = logging.getLogger(__name__)

KEY_DIR_NAME = "keys"
ALG = "Ed25519"
_KEY_FILE_RE = re.compile(r"^(\d{4})-([0-9a-f]{8})(\.next)?\.pem\Z")
_NEXT = ".next"


class SigningError(Exception):
    """Base of every error about the server's signing keys."""


class KeyFileError(SigningError):
    """A key file is missing, unreadable, unsafe or not an Ed25519 private key."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key id published with a key: the first 8 hex digits of sha256 of its raw bytes."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class _Key:
    serial: int
    kid: str
    private: Ed25519PrivateKey
    path: Path
    next: bool = False  # published, not yet signing


class ServerKeys:
    """The server's keys, newest first; the newest that is not a prepared `next` key signs."""

    def __init__(self, keys: list[_Key]) -> None:
        self._keys = sorted(keys, key=lambda k: k.serial, reverse=True)
        signers = [k for k in self._keys if not k.next]
        if not signers:
            raise SigningError("no signing key: only a prepared next key; run the rotation")
        self._signer = signers[0]

    @classmethod
    def load_or_create(cls, data_dir: Path) -> ServerKeys:
        """Load every key in `<data_dir>/keys`, creating the first one if there is none."""
        key_dir = _key_dir(data_dir)
        keys = _load_all(key_dir)
        if not keys:
            keys = [_create(key_dir, serial=1)]
            log.info("created signing key %s in %s", keys[0].kid, keys[0].path)
        return cls(keys)

    @classmethod
    def add_next_key(cls, data_dir: Path) -> ServerKeys:
        """Make the key the next rotation will switch to: published now, signing later."""
        key_dir = _key_dir(data_dir)
        keys = _load_all(key_dir)
        if any(k.next for k in keys):
            raise SigningError(f"a next key is already prepared in {key_dir}; rotate first")
        new = _create(key_dir, serial=_next_serial(keys), next_key=True)
        log.info("prepared next signing key %s: provision agents with it, then rotate", new.kid)
        return cls([*keys, new])

    @classmethod
    def rotate(cls, data_dir: Path) -> ServerKeys:
        """Switch signing to the prepared next key (or to a new one); older keys stay published."""
        key_dir = _key_dir(data_dir)
        keys = _load_all(key_dir)
        pending = [k for k in keys if k.next]
        if pending:
            new = _promote(pending[0])
            keys = [k for k in keys if k is not pending[0]]
        else:
            new = _create(key_dir, serial=_next_serial(keys))
            log.warning(
                "signing key %s made and used at once: agents not yet provisioned with it "
                "will refuse what the server sends until they are",
                new.kid,
            )
        log.info("rotated signing key: %s now signs (%d older keys kept)", new.kid, len(keys))
        return cls([*keys, new])

    @property
    def kid(self) -> str:
        """The id of the key that signs."""
        return self._signer.kid

    def sign(
        self,
        kind: Kind,
        body: Body | Mapping[str, Any],
        *,
        now: datetime,
        expires_at: datetime,
        envelope_id: str | None = None,
    ) -> bytes:
        """A signed envelope of `kind` around `body`, ready to publish (random id if none)."""
        newest = self._signer
        return sign_envelope(
            kind,
            body,
            key=newest.private,
            kid=newest.kid,
            now=now,
            expires_at=expires_at,
            envelope_id=envelope_id,
        )

    def public_keys(self) -> list[dict[str, str]]:
        """Every key agents may trust (a prepared next key too), newest first.

        Each is `{"kid", "alg": "Ed25519", "public_key": <raw 32 bytes, base64>}`.
        """
        return [
            {"kid": k.kid, "alg": ALG, "public_key": public_key_b64(k.private)} for k in self._keys
        ]

    def verification_keys(self) -> dict[str, Ed25519PublicKey]:
        """`kid → public key`, the form `devices.protocol.open_envelope` takes."""
        return {k.kid: k.private.public_key() for k in self._keys}


def _key_dir(data_dir: Path) -> Path:
    key_dir = Path(data_dir) / KEY_DIR_NAME
    try:
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create key directory {key_dir}: {exc}") from exc
    return key_dir


def _load_all(key_dir: Path) -> list[_Key]:
    keys = []
    for path in sorted(key_dir.iterdir()):
        match = _KEY_FILE_RE.match(path.name)
        if match is None:
            continue  # temp files of an interrupted create, notes, backups: not keys
        keys.append(_load(path, serial=int(match.group(1)), next_key=bool(match.group(3))))
    return keys


def _next_serial(keys: list[_Key]) -> int:
    return max((k.serial for k in keys), default=0) + 1


def _promote(key: _Key) -> _Key:
    path = key.path.with_name(key.path.name.replace(_NEXT, ""))
    try:
        key.path.rename(path)
    except OSError as exc:
        raise KeyFileError(f"cannot rename {key.path} to {path}: {exc}") from exc
    return _Key(key.serial, key.kid, key.private, path)


def _load(path: Path, *, serial: int, next_key: bool) -> _Key:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"signing key {path} is accessible to group or others (mode "
            f"{stat.S_IMODE(mode):04o}); refusing to start. Fix it with: chmod 600 {path}"
        )
    try:
        private = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a readable PEM private key: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(private).__name__}, not an Ed25519 key")
    kid = key_id(private.public_key())
    if path.name != f"{serial:04d}-{kid}{_NEXT if next_key else ''}.pem":
        raise KeyFileError(f"{path} holds key {kid}, which its file name does not match")
    return _Key(serial=serial, kid=kid, private=private, path=path, next=next_key)


def _create(key_dir: Path, *, serial: int, next_key: bool = False) -> _Key:
    private = Ed25519PrivateKey.generate()
    kid = key_id(private.public_key())
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path = key_dir / f"{serial:04d}-{kid}{_NEXT if next_key else ''}.pem"
    tmp = key_dir / f".{path.name}.{os.getpid()}.tmp"
    try:
        # Mode 0600 from the first byte (O_CREAT with the mode, not a chmod afterwards), written
        # in full and fsynced before it gets its real name, so a crash leaves no half key.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        # link() refuses to overwrite: two processes racing on first start cannot clobber.
        os.link(tmp, path)
    except OSError as exc:
        raise KeyFileError(f"cannot write signing key {path}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return _Key(serial=serial, kid=kid, private=private, path=path, next=next_key)
