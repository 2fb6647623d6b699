"""Who may log in to the broker and what each login may do, for both brokers.

One rule set (`topic_rules`, a pure function of the fleet) says which topics each agent and
the server may read and write; `render_mosquitto_acl` writes it as Mosquitto's ACL and the
embedded broker (`pa_server.messaging.broker`) enforces the same `TopicRules` itself.
Passwords are hashed in Mosquitto 2's own PBKDF2-SHA512 form (`$7$<iterations>$<salt
b64>$<hash b64>`, what `mosquitto_passwd` writes): the server stores each device's hash once,
the embedded broker verifies it directly and `pa-server mqtt-acl` writes it into Mosquitto's
password file, and no plaintext password is ever kept.

Exceptions (all subclasses of `MqttAuthError`):

- `InvalidHash` — a string that is not a Mosquitto `$7$` hash.
- `InvalidName` — a username, topic prefix or file entry Mosquitto would misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devices.protocol import (
    MalformedMessage,
    Topics,
    validate_device_id,
    validate_zone_path,
    zone_ancestors,
)

#: Mosquitto 2's `mosquitto_passwd` default. Device passwords are random 192-bit tokens
#: (`new_device_password`), so iterations add nothing against guessing them, while every
#: reconnect storm of a district's agents pays for them in broker CPU.
DEFAULT_ITERATIONS = 101
SALT_BYTES = 12  # what mosquitto_passwd uses
HASH_BYTES = 64  # SHA-512 output
MAX_ITERATIONS = 10_000_000

#: Server usernames: no `:` (password file), no `+#/` (Mosquitto refuses them in `%u`
#: patterns), no whitespace or `%` (ACL syntax), no leading `$`.
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
#: Topic prefixes: plain levels only, so no wildcard, `%` substitution or space reaches the ACL.
PREFIX_LEVEL_RE = re.compile(r"^[A-Za-z0-9._-]+\Z")

#: The server's broker username unless `PA_MQTT_USERNAME` says otherwise.
DEFAULT_SERVER_USER = "pa-server"

_HASH_RE = re.compile(r"^\$7\$([0-9]{1,8})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)\Z")


class MqttAuthError(Exception):
    """Base of every error of this module."""


class InvalidHash(MqttAuthError, ValueError):
    """Not a Mosquitto PBKDF2-SHA512 (`$7$`) password hash."""


class InvalidName(MqttAuthError, ValueError):
    """A username, topic prefix or device entry that would corrupt the broker's files."""


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    """One agent's broker identity: username = device id, its zone, its stored hash."""

    device_id: str
    zone_path: str
    password_hash: str

    def __post_init__(self) -> None:
        try:
            validate_device_id(self.device_id)
            validate_zone_path(self.zone_path)
        except MalformedMessage as exc:
            raise InvalidName(str(exc)) from exc
        parse_hash(self.password_hash)


# --------------------------------------------------------------------------- hashes


def hash_password(
    password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """Hash `password` the way `mosquitto_passwd` does: `$7$<iter>$<salt b64>$<hash b64>`."""
    if not password:
        raise ValueError("empty password")
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be 1..{MAX_ITERATIONS}")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def parse_hash(hashed: str) -> tuple[int, bytes, bytes]:
    """Split a `$7$` hash into (iterations, salt, digest); raise `InvalidHash` otherwise."""
    m = _HASH_RE.match(hashed) if isinstance(hashed, str) else None
    if not m:
        raise InvalidHash("not a Mosquitto $7$ (PBKDF2-SHA512) password hash")
    try:
        salt = base64.b64decode(m[2], validate=True)
        digest = base64.b64decode(m[3], validate=True)
    except binascii.Error as exc:
        raise InvalidHash("bad base64 in password hash") from exc
    iterations = int(m[1])
    if not 1 <= iterations <= MAX_ITERATIONS or not salt or len(digest) != HASH_BYTES:
        raise InvalidHash("password hash has bad iterations, salt or digest length")
    return iterations, salt, digest


def verify_password(password: str, hashed: str) -> bool:
    """True if `password` matches the `$7$` hash; False for a wrong password or a bad hash."""
    try:
        iterations, salt, digest = parse_hash(hashed)
    except InvalidHash:
        return False
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(candidate, digest)


def new_device_password() -> tuple[str, str]:
    """A fresh random password for provisioning an agent, and its hash for the server to keep."""
    password = secrets.token_urlsafe(24)
    return password, hash_password(password)


def load_or_create_secret(path: Path) -> str:
    """The secret in `path`; on first use a new random one, written there with mode 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="utf-8").strip()
        if not secret:
            raise MqttAuthError(f"{path} is empty: delete it to have a new secret made") from None
        return secret
    secret = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return secret


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------- names


def validate_username(name: str) -> str:
    """Return `name` if Mosquitto can hold it as a password-file user; else `InvalidName`."""
    if not isinstance(name, str) or not USERNAME_RE.match(name):
        raise InvalidName(f"invalid broker username {name!r}: [A-Za-z0-9._-], 1-64 chars")
    return name


def validate_prefix(prefix: str) -> str:
    """Return the topic prefix if it is plain levels (no wildcard, `%`, `$`, space or empty)."""
    if not prefix or not all(PREFIX_LEVEL_RE.match(level) for level in prefix.split("/")):
        raise InvalidName(f"invalid topic prefix {prefix!r}: levels of [A-Za-z0-9._-] joined by /")
    return prefix


# --------------------------------------------------------------------------- files


def write_password_file(path: Path, entries: Iterable[tuple[str, str]]) -> None:
    """Atomically write a Mosquitto password file (mode 0600) of (username, `$7$` hash) pairs."""
    seen: set[str] = set()
    lines = []
    for user, hashed in entries:
        validate_username(user)
        parse_hash(hashed)
        if user in seen:
            raise InvalidName(f"username {user!r} appears twice")
        seen.add(user)
        lines.append(f"{user}:{hashed}\n")
    _write_atomic(path, "".join(lines), mode=0o600)


@dataclass(frozen=True, slots=True)
class Grant:
    """One right on one topic filter: `read` (subscribe, receive) or `write` (publish)."""

    access: Literal["read", "write"]
    topic: str


@dataclass(frozen=True, slots=True)
class TopicRules:
    """Who may read and write what: the one rule set both brokers enforce.

    `every_agent` holds patterns where `%u` stands for the agent's username (its device id);
    `agents` adds each device's zone topics (zones differ per agent, so no pattern can say it).
    """

    prefix: str
    server_user: str
    server: tuple[Grant, ...]
    every_agent: tuple[Grant, ...]
    agents: tuple[tuple[str, tuple[Grant, ...]], ...]

    def grants_for(self, username: str) -> tuple[Grant, ...] | None:
        """Everything `username` may do, or None for a user these rules do not know."""
        if username == self.server_user:
            return self.server
        for device_id, zone_grants in self.agents:
            if device_id == username:
                own = tuple(
                    Grant(g.access, g.topic.replace(USER_PLACEHOLDER, username))
                    for g in self.every_agent
                )
                return own + zone_grants
        return None


#: Stands for the agent's own username in `TopicRules.every_agent` (Mosquitto's own syntax).
USER_PLACEHOLDER = "%u"


def topic_rules(*, prefix: str, server_user: str, devices: Iterable[tuple[str, str]]) -> TopicRules:
    """The rule set for a fleet of (device id, zone path): agents publish their own state and
    receipts and read their own and their zone chain's commands and timelines; only the server
    publishes commands and timelines and reads state and receipts. Refuses any name that could
    widen what a rule grants (`InvalidName`)."""
    validate_prefix(prefix)
    validate_username(server_user)
    topics = Topics(prefix)
    agents = []
    seen: set[str] = set()
    for device_id, zone_path in sorted(devices):
        try:
            ancestors = zone_ancestors(zone_path)
            validate_device_id(device_id)
        except MalformedMessage as exc:
            raise InvalidName(str(exc)) from exc
        if device_id == server_user:
            raise InvalidName(f"device id {device_id!r} is the server's username")
        if device_id in seen:
            raise InvalidName(f"device {device_id!r} appears twice")
        seen.add(device_id)
        zone_grants: list[Grant] = []
        for zone in ancestors:
            zone_grants += [Grant("read", topics.cmd_zone(zone))]
            zone_grants += [Grant("read", topics.timeline_zone(zone))]
        agents.append((device_id, tuple(zone_grants)))
    u = USER_PLACEHOLDER
    return TopicRules(
        prefix=prefix,
        server_user=server_user,
        server=(
            Grant("read", topics.state_wildcard()),
            Grant("read", topics.event_wildcard()),
            Grant("write", f"{prefix}/cmd/#"),
            Grant("write", f"{prefix}/timeline/#"),
        ),
        every_agent=(
            Grant("read", f"{prefix}/cmd/device/{u}"),
            Grant("read", f"{prefix}/timeline/device/{u}"),
            Grant("write", f"{prefix}/state/{u}"),
            Grant("write", f"{prefix}/event/{u}"),
        ),
        agents=tuple(agents),
    )


def filter_covers(granted: str, requested: str) -> bool:
    """True if every topic `requested` (a topic or a filter) can match is matched by `granted`.

    A `+` or `#` in `requested` is covered only by a wildcard at least as wide in `granted`:
    a grant on `a/+` covers a subscription to `a/+` or `a/x`, never `a/#`.
    """
    want = requested.split("/")
    for i, level in enumerate(granted.split("/")):
        if level == "#":
            return True  # the rest, also the parent level itself (MQTT's `a/#` matches `a`)
        if i >= len(want) or want[i] == "#":
            return False
        if level != "+" and level != want[i]:
            return False  # a literal covers only itself, never a `+`
    return len(want) == len(granted.split("/"))


def acl_text(*, prefix: str, server_user: str, devices: Iterable[tuple[str, str]]) -> str:
    """The Mosquitto ACL: server reads state/event, writes cmd/timeline; agents their own."""
    return render_mosquitto_acl(
        topic_rules(prefix=prefix, server_user=server_user, devices=devices)
    )


def render_mosquitto_acl(rules: TopicRules) -> str:
    """`rules` in Mosquitto's acl_file syntax (patterns once, then one block per user)."""
    out = [
        "# Generated by `pa-server mqtt-acl`; regenerate rather than edit.\n",
        "# Mosquitto denies whatever is not granted here. Agents log in as their device id.\n",
        "\n",
        "# Every agent: its own device topics (username = device id).\n",
        *(f"pattern {g.access} {g.topic}\n" for g in rules.every_agent),
        "\n",
        "# The server: reads all state and receipts, writes all commands and timelines.\n",
        f"user {rules.server_user}\n",
        *(f"topic {g.access} {g.topic}\n" for g in rules.server),
    ]
    for device_id, grants in rules.agents:
        out += ["\n", f"user {device_id}\n"]
        out += [f"topic {g.access} {g.topic}\n" for g in grants]
    return "".join(out)


def write_acl(
    path: Path, *, prefix: str, server_user: str, devices: Iterable[tuple[str, str]]
) -> None:
    """Atomically write the ACL file (mode 0644); see `acl_text` for what it grants."""
    _write_atomic(
        path, acl_text(prefix=prefix, server_user=server_user, devices=devices), mode=0o644
    )


def mosquitto_conf(password_file: Path, acl_file: Path, *, listeners: Sequence[str] = ()) -> str:
    """A mosquitto.conf snippet that enforces the password file and ACL on every listener."""
    for p in (password_file, acl_file):
        if not p.is_absolute() or any(c in str(p) for c in "\n\r"):
            raise InvalidName(f"conf paths must be absolute and on one line: {p}")
    lines = [
        "# Generated by `pa-server mqtt-acl`: include from mosquitto.conf",
        "# (e.g. copy into /etc/mosquitto/conf.d/). Mosquitto reads both files after dropping",
        "# to its own user: `chown mosquitto: passwd acl` (or run mqtt-acl with --owner).",
        "# Reload after regenerating: `systemctl reload mosquitto` (SIGHUP).",
        "",
        "# One set of rules for every listener (TLS on 8883 and plain on localhost alike).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        "",
        "# Past this many QoS-1 messages queued for a client that falls behind (the server's",
        "# ingest during a broadcast), Mosquitto drops the rest: the default 1000 lost receipts",
        "# in bench/ingest.py. 100000 of ~300 bytes is ~30 MB of broker memory at worst.",
        "max_queued_messages 100000",
        "",
        "# Production: TLS for agents outside the server's machine, e.g.",
        "# listener 8883",
        "# certfile /etc/mosquitto/certs/server.crt",
        "# keyfile /etc/mosquitto/certs/server.key",
    ]
    lines += [f"listener {spec}" for spec in listeners]
    return "\n".join(lines) + "\n"


def write_mosquitto_conf(path: Path, password_file: Path, acl_file: Path) -> None:
    """Atomically write the `mosquitto_conf` snippet (mode 0644) that uses the two files."""
    _write_atomic(path, mosquitto_conf(password_file, acl_file), mode=0o644)


def _write_atomic(path: Path, text: str, *, mode: int) -> None:
    """Write beside `path` with `mode`, fsync, then rename: readers see old or new, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # before any byte is written: secrets never sit world-readable
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
