"""Wire protocol v1 between `pa_server` and the loudspeaker agents: the one definition.

Both sides import this module; `docs/protocol.md` describes it for people. Changing the wire
format means bumping `PROTOCOL_VERSION`, never a silent edit.

Exceptions (all subclasses of `ProtocolError`):

- `MalformedMessage` — not JSON, too big, wrong shape or type, unknown kind, bad topic.
- `UnsupportedVersion` — an envelope whose `v` is not ours (counted as malformed by agents).
- `BadSignature` — unsigned, signed by an unknown key, or signature does not verify.
- `Expired` — `expires_at` has passed (or `issued_at` lies in the future beyond tolerance).
- `Replayed` — an envelope id already seen (see `ReplayWindow`).

Everything here is pure: the clock is an argument, nothing touches the network.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
)

PROTOCOL_VERSION = 1
DEFAULT_PREFIX = "pa/v1"
#: Largest envelope an agent accepts; a 48 h timeline of a busy zone is far below this.
MAX_MESSAGE_BYTES = 256 * 1024
#: Longest a `play_at` may lie ahead of `now` before the item is refused as absurd.
MAX_PLAY_AHEAD = timedelta(days=31)
#: How far `issued_at` may lie in the future before we suspect a forged or broken clock.
CLOCK_TOLERANCE = timedelta(minutes=5)

# `\Z`, not `$`: `$` also matches before a trailing newline, which let "loa-01\n" through.
ZONE_SEGMENT_RE = re.compile(r"^[a-z0-9-]+\Z")
DEVICE_ID_RE = re.compile(r"^[a-z0-9-]{1,64}\Z")
SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
MAX_ZONE_DEPTH = 6


# --------------------------------------------------------------------------- errors


class ProtocolError(Exception):
    """Base of every wire-protocol error; `reason` is the agent's rejection counter key."""

    reason = "malformed"


class MalformedMessage(ProtocolError):
    """Not JSON, oversized, wrong shape, unknown kind, or a bad topic."""


class UnsupportedVersion(MalformedMessage):
    """An envelope of a protocol version this code does not speak."""


class BadSignature(ProtocolError):
    """Unsigned, signed by an unknown key, or the signature does not verify."""

    reason = "signature"


class Expired(ProtocolError):
    """The envelope's `expires_at` has passed."""

    reason = "expired"


class Replayed(ProtocolError):
    """The envelope id (or an older timeline version) was already seen."""

    reason = "replayed"


REJECTION_REASONS = ("signature", "expired", "replayed", "malformed")


# --------------------------------------------------------------------------- names


def validate_zone_path(path: str) -> str:
    """Return `path` if it is a valid zone path (slugs joined by '/', ≤ 6 levels), else raise."""
    parts = path.split("/")
    if not path or len(parts) > MAX_ZONE_DEPTH or not all(ZONE_SEGMENT_RE.match(p) for p in parts):
        raise MalformedMessage(f"invalid zone path {path!r}: [a-z0-9-]+ per level, 1-6 levels")
    return path


def validate_device_id(device_id: str) -> str:
    """Return `device_id` if it matches [a-z0-9-]{1,64}, else raise `MalformedMessage`."""
    if not DEVICE_ID_RE.match(device_id):
        raise MalformedMessage(f"invalid device id {device_id!r}: [a-z0-9-]{{1,64}}")
    return device_id


def zone_ancestors(path: str) -> list[str]:
    """`a/b/c` → `['a', 'a/b', 'a/b/c']`: the zones whose messages reach an agent in `path`."""
    parts = validate_zone_path(path).split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def zone_target(path: str) -> str:
    """The timeline target name of a zone, e.g. `zone:vinh-tuong/tan-tien`."""
    return f"zone:{validate_zone_path(path)}"


def device_target(device_id: str) -> str:
    """The timeline target name of one device, e.g. `device:loa-01`."""
    return f"device:{validate_device_id(device_id)}"


def parse_target(target: str) -> tuple[Literal["zone", "device"], str]:
    """Split a target name into its type and its zone path or device id."""
    kind, _, name = target.partition(":")
    if kind == "zone":
        return "zone", validate_zone_path(name)
    if kind == "device":
        return "device", validate_device_id(name)
    raise MalformedMessage(f"invalid target {target!r}: expected zone:<path> or device:<id>")


# --------------------------------------------------------------------------- topics


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic taken apart: `channel` is cmd/timeline/state/event; `target` as in bodies."""

    channel: Literal["cmd", "timeline", "state", "event"]
    target: str


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses every topic of the protocol under one prefix (default `pa/v1`)."""

    prefix: str = DEFAULT_PREFIX

    def cmd_device(self, device_id: str) -> str:
        return f"{self.prefix}/cmd/device/{validate_device_id(device_id)}"

    def cmd_zone(self, zone_path: str) -> str:
        return f"{self.prefix}/cmd/zone/{validate_zone_path(zone_path)}"

    def timeline_device(self, device_id: str) -> str:
        return f"{self.prefix}/timeline/device/{validate_device_id(device_id)}"

    def timeline_zone(self, zone_path: str) -> str:
        return f"{self.prefix}/timeline/zone/{validate_zone_path(zone_path)}"

    def timeline_for(self, target: str) -> str:
        """The retained timeline topic of a target name (`zone:…` or `device:…`)."""
        kind, name = parse_target(target)
        return self.timeline_zone(name) if kind == "zone" else self.timeline_device(name)

    def cmd_for(self, target: str) -> str:
        """The command topic of a target name (`zone:…` or `device:…`)."""
        kind, name = parse_target(target)
        return self.cmd_zone(name) if kind == "zone" else self.cmd_device(name)

    def state(self, device_id: str) -> str:
        return f"{self.prefix}/state/{validate_device_id(device_id)}"

    def event(self, device_id: str) -> str:
        return f"{self.prefix}/event/{validate_device_id(device_id)}"

    def state_wildcard(self) -> str:
        return f"{self.prefix}/state/+"

    def event_wildcard(self) -> str:
        return f"{self.prefix}/event/+"

    def agent_subscriptions(self, device_id: str, zone_path: str) -> list[str]:
        """What an agent subscribes to: its device topics, then cmd+timeline of each ancestor."""
        subs = [self.cmd_device(device_id), self.timeline_device(device_id)]
        for zone in zone_ancestors(zone_path):
            subs += [self.cmd_zone(zone), self.timeline_zone(zone)]
        return subs

    def parse(self, topic: str) -> ParsedTopic:
        """Take a topic apart; raise `MalformedMessage` for anything not of this protocol."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            raise MalformedMessage(f"topic {topic!r} is not under prefix {self.prefix!r}")
        parts = topic[len(head) :].split("/")
        channel = parts[0]
        if channel in ("state", "event") and len(parts) == 2:
            return ParsedTopic(channel, device_target(parts[1]))  # type: ignore[arg-type]
        if channel in ("cmd", "timeline") and len(parts) >= 3:
            rest = "/".join(parts[2:])
            if parts[1] == "device" and len(parts) == 3:
                return ParsedTopic(channel, device_target(rest))  # type: ignore[arg-type]
            if parts[1] == "zone":
                return ParsedTopic(channel, zone_target(rest))  # type: ignore[arg-type]
        raise MalformedMessage(f"topic {topic!r} is not a protocol topic")


# --------------------------------------------------------------------------- time


def utc_now() -> datetime:
    """The current instant, timezone-aware UTC (the only place code should ask the clock)."""
    return datetime.now(UTC)


def format_instant(dt: datetime) -> str:
    """RFC 3339 UTC with a `Z`, milliseconds only when present: `2026-11-28T05:00:00Z`."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every instant on the wire is UTC")
    # isoformat, not strftime: "%Y" writes year 999 as "999", which nothing parses back.
    naive = dt.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="milliseconds" if dt.microsecond else "seconds") + "Z"


def parse_instant(value: str) -> datetime:
    """Parse an RFC 3339 instant that carries a zone; naive strings are refused."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise MalformedMessage(f"invalid instant {value!r}") from exc
    if dt.tzinfo is None:
        raise MalformedMessage(f"instant {value!r} has no zone; the wire is UTC")
    try:
        return dt.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 lies before year 1 in UTC
        raise MalformedMessage(f"instant {value!r} is out of range") from exc


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("instant must carry a zone (UTC on the wire)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # pydantic turns only ValueError into a validation error
        raise ValueError("instant out of range in UTC") from exc


Instant = Annotated[
    datetime, AfterValidator(_require_aware), PlainSerializer(format_instant, return_type=str)
]


# --------------------------------------------------------------------------- models


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict of this value (instants as `…Z` strings)."""
        return self.model_dump(mode="json")


class Media(_Wire):
    """One audio file an agent must fetch, verify and play."""

    url: str = Field(max_length=2048)
    sha256: str
    bytes: int = Field(gt=0, le=512 * 1024 * 1024)
    duration_ms: int = Field(ge=0, le=6 * 3600 * 1000)
    mime: str = Field(default="audio/mpeg", max_length=64)

    @field_validator("url")
    @classmethod
    def _http_only(cls, v: str) -> str:
        if not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError("media url must be http(s)")
        return v

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not SHA256_RE.match(v):
            raise ValueError("sha256 must be 64 lower-case hex digits")
        return v


class Item(_Wire):
    """One planned playback (an occurrence) on a timeline; also the body of `play`."""

    occurrence_id: str = Field(min_length=1, max_length=128)
    title: str = Field(default="", max_length=300)
    play_at: Instant | None = None
    max_late_s: int = Field(default=120, ge=0, le=24 * 3600)
    priority: int = Field(default=50, ge=0, le=100)
    volume: int | None = Field(default=None, ge=0, le=100)
    media: Media


class TimelineBody(_Wire):
    """The complete upcoming plan for one target; a higher `version` replaces a lower one."""

    target: str
    version: int = Field(ge=0)
    horizon_until: Instant
    items: tuple[Item, ...] = ()

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        try:
            parse_target(v)
        except MalformedMessage as exc:
            raise ValueError(str(exc)) from exc
        return v

    @field_validator("items")
    @classmethod
    def _timed(cls, v: tuple[Item, ...]) -> tuple[Item, ...]:
        if any(item.play_at is None for item in v):
            raise ValueError("every timeline item needs play_at")
        return v


class StopBody(_Wire):
    """Stop one occurrence, or (empty) whatever plays."""

    occurrence_id: str | None = Field(default=None, min_length=1, max_length=128)


class VolumeBody(_Wire):
    volume: int = Field(ge=0, le=100)


class PingBody(_Wire):
    pass


Kind = Literal["timeline", "play", "stop", "volume", "ping"]
BODY_MODELS: dict[str, type[_Wire]] = {
    "timeline": TimelineBody,
    "play": Item,
    "stop": StopBody,
    "volume": VolumeBody,
    "ping": PingBody,
}
Body = TimelineBody | Item | StopBody | VolumeBody | PingBody


class Envelope(_Wire):
    """A verified server→agent message. Build with `sign_envelope`, read with `open_envelope`."""

    v: int
    id: str = Field(min_length=8, max_length=64)
    kind: Kind
    issued_at: Instant
    expires_at: Instant
    kid: str = Field(min_length=1, max_length=64)
    body: Body
    sig: str


class Playing(_Wire):
    occurrence_id: str
    started_at: Instant


class CacheInfo(_Wire):
    items: int = Field(ge=0)
    bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)


class Rejected(_Wire):
    signature: int = 0
    expired: int = 0
    replayed: int = 0
    malformed: int = 0


class State(_Wire):
    """An agent's retained state. The LWT form carries only `device_id` and `online: false`."""

    device_id: str
    online: bool
    at: Instant | None = None
    agent_version: str | None = Field(default=None, max_length=64)
    volume: int | None = Field(default=None, ge=0, le=100)
    playing: Playing | None = None
    timelines: dict[str, int] = Field(default_factory=dict)
    cache: CacheInfo | None = None
    clock_offset_ms: int | None = None
    clock_synced: bool | None = None
    uptime_s: int | None = Field(default=None, ge=0)
    temp_c: float | None = None
    rejected: Rejected = Field(default_factory=Rejected)
    last_error: str | None = Field(default=None, max_length=1000)

    @field_validator("device_id")
    @classmethod
    def _device(cls, v: str) -> str:
        try:
            return validate_device_id(v)
        except MalformedMessage as exc:
            raise ValueError(str(exc)) from exc


ReceiptType = Literal["fetched", "started", "finished", "failed", "skipped", "missed"]
RECEIPT_TYPES: tuple[ReceiptType, ...] = (
    "fetched",
    "started",
    "finished",
    "failed",
    "skipped",
    "missed",
)


class Receipt(_Wire):
    """What an agent did with one occurrence; idempotent on (device_id, occurrence_id, type)."""

    device_id: str
    occurrence_id: str = Field(min_length=1, max_length=128)
    type: ReceiptType
    at: Instant
    late_ms: int | None = None
    detail: str | None = Field(default=None, max_length=1000)

    @field_validator("device_id")
    @classmethod
    def _device(cls, v: str) -> str:
        try:
            return validate_device_id(v)
        except MalformedMessage as exc:
            raise ValueError(str(exc)) from exc


def offline_state(device_id: str) -> bytes:
    """The LWT payload an agent registers before connecting."""
    return dumps({"device_id": validate_device_id(device_id), "online": False})


# --------------------------------------------------------------------------- JSON


def canonical_json(obj: Any) -> bytes:
    """Keys sorted, separators `,` `:`, UTF-8, non-ASCII as is: the bytes that get signed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def dumps(obj: Any) -> bytes:
    """Serialise a payload for the wire (canonical form, so equal content gives equal bytes)."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return canonical_json(obj)


def loads_object(payload: bytes | str) -> dict[str, Any]:
    """Parse a payload that must be one JSON object of bounded size."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from exc
    except RecursionError as exc:  # 256 KiB of '[' nests far deeper than the parser's stack
        raise MalformedMessage("JSON nested too deeply") from exc
    if not isinstance(obj, dict):
        raise MalformedMessage("payload is not a JSON object")
    return obj


def parse_state(payload: bytes | str) -> State:
    """Parse an agent's state message (server side)."""
    try:
        return State.model_validate(loads_object(payload))
    except ValidationError as exc:
        raise MalformedMessage(f"invalid state: {_short(exc)}") from exc


def parse_receipt(payload: bytes | str) -> Receipt:
    """Parse an agent's receipt message (server side)."""
    try:
        return Receipt.model_validate(loads_object(payload))
    except ValidationError as exc:
        raise MalformedMessage(f"invalid receipt: {_short(exc)}") from exc


def _short(exc: ValidationError) -> str:
    errs = exc.errors()
    first = errs[0]
    where = ".".join(str(p) for p in first["loc"]) or "<root>"
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{where}: {first['msg']}{more}"


# --------------------------------------------------------------------------- keys


def public_key_b64(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The raw 32-byte public key, base64: the form in agent configs and `/api/v1/keys`."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(pub.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def load_public_key_b64(text: str) -> Ed25519PublicKey:
    """Inverse of `public_key_b64`; raises `ValueError` with a clear message on bad input."""
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("public key must be 32 raw Ed25519 bytes in base64") from exc


# --------------------------------------------------------------------------- envelopes


def sign_envelope(
    kind: Kind,
    body: Body | Mapping[str, Any],
    *,
    key: Ed25519PrivateKey,
    kid: str,
    now: datetime,
    expires_at: datetime,
    envelope_id: str | None = None,
) -> bytes:
    """Build, sign and serialise an envelope; the bytes are ready to publish."""
    body_model = (
        body if isinstance(body, BaseModel) else BODY_MODELS[kind].model_validate(dict(body))
    )
    if not isinstance(body_model, BODY_MODELS[kind]):
        raise TypeError(f"body of kind {kind!r} must be {BODY_MODELS[kind].__name__}")
    unsigned = {
        "v": PROTOCOL_VERSION,
        "id": envelope_id or uuid.uuid4().hex,
        "kind": kind,
        "issued_at": format_instant(now),
        "expires_at": format_instant(expires_at),
        "kid": kid,
        "body": body_model.model_dump(mode="json", exclude_none=False),
    }
    sig = key.sign(canonical_json(unsigned))
    return canonical_json({**unsigned, "sig": base64.b64encode(sig).decode()})


def open_envelope(
    payload: bytes | str,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
) -> Envelope:
    """Check size, JSON, version, signature, shape and expiry; return the envelope.

    Replay (seen ids, older timeline versions) is the caller's state: see `ReplayWindow`.
    Raises a `ProtocolError` subclass whose `reason` names the rejection counter.
    """
    obj = loads_object(payload)
    if obj.get("v") != PROTOCOL_VERSION:
        raise UnsupportedVersion(f"unsupported protocol version {obj.get('v')!r}")
    sig_text = obj.pop("sig", None)
    kid = obj.get("kid")
    if not isinstance(sig_text, str) or not sig_text:
        raise BadSignature("unsigned envelope")
    if not isinstance(kid, str) or kid not in keys:
        raise BadSignature(f"unknown key id {kid!r}")
    try:
        keys[kid].verify(base64.b64decode(sig_text, validate=True), canonical_json(obj))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise BadSignature("signature does not verify") from exc
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in BODY_MODELS:
        raise MalformedMessage(f"unknown kind {kind!r}")
    try:
        # `body` is a union: validate it against the one model its kind names.
        body = BODY_MODELS[kind].model_validate(obj.get("body"))
        env = Envelope.model_validate({**obj, "body": body, "sig": sig_text})
    except ValidationError as exc:
        raise MalformedMessage(f"invalid envelope: {_short(exc)}") from exc
    if env.expires_at <= now:
        raise Expired(f"envelope {env.id} expired at {format_instant(env.expires_at)}")
    if env.issued_at - now > CLOCK_TOLERANCE:
        raise Expired(f"envelope {env.id} issued in the future ({format_instant(env.issued_at)})")
    if env.expires_at < env.issued_at:
        raise MalformedMessage("expires_at before issued_at")
    return env


class ReplayWindow:
    """Envelope ids seen until their expiry: a second sight of an id is a replay.

    Pure state; the agent persists `to_json()` on disk so the window survives restarts.
    """

    def __init__(self, seen: Mapping[str, datetime] | None = None, max_ids: int = 50_000) -> None:
        self._seen: dict[str, datetime] = dict(seen or {})
        self._max = max_ids

    def __contains__(self, envelope_id: object) -> bool:
        return envelope_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, env: Envelope, now: datetime) -> None:
        """Raise `Replayed` if `env.id` was seen; otherwise remember it until it expires."""
        if env.id in self._seen:
            raise Replayed(f"envelope {env.id} already seen")
        self.prune(now)
        if len(self._seen) >= self._max:
            # Dropping the soonest-expiring id keeps memory bounded; ids expire anyway.
            del self._seen[min(self._seen, key=self._seen.__getitem__)]
        self._seen[env.id] = env.expires_at

    def prune(self, now: datetime) -> None:
        """Forget ids whose envelopes have expired: they are refused as expired anyway."""
        for eid in [e for e, exp in self._seen.items() if exp <= now]:
            del self._seen[eid]

    def to_json(self) -> dict[str, str]:
        return {eid: format_instant(exp) for eid, exp in self._seen.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> ReplayWindow:
        return cls({eid: parse_instant(exp) for eid, exp in data.items()})


def timeline_version(now: datetime) -> int:
    """A timeline version that only grows, across restarts and restores: ms since the epoch."""
    return int(now.timestamp() * 1000)
