"""Wire protocol v2 between `pa_server` and the loudspeaker agents: the one definition.

Both sides import this module; `docs/protocol.md` describes it for people and
`/work/shared/design/PROTOCOL.md` is the contract. Changing the wire format means bumping
`PROTOCOL_VERSION`, never a silent edit. The domain facts both sides share (TT39 levels and
their priorities, the envelope size limit) are defined here once.

Exceptions (all subclasses of `ProtocolError`):

- `MalformedMessage` — not JSON, too big, wrong shape or type, unknown kind, bad topic, a
  timeline whose `version` is not its `issued_at` in ms or that expires before its horizon.
- `UnsupportedVersion` — an envelope whose `v` is not ours, e.g. a v1 one (counted as malformed).
- `BadSignature` — unsigned, signed by an unknown key, or signature does not verify.
- `Expired` — `expires_at` has passed, or `issued_at` lies more than 5 minutes ahead.
- `Replayed` — an envelope id already seen (see `ReplayWindow`), or an older timeline.
- `Misdirected` — a body whose `target` is not the receiver or not the topic it came on.

Everything here is pure: the clock is an argument, nothing touches the network.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal, NewType, Self

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
    model_validator,
)

PROTOCOL_VERSION: Final = 2
DEFAULT_PREFIX: Final = "pa/v2"
#: Largest envelope an agent accepts and the server publishes (the server cuts a timeline's
#: horizon until it fits: see `envelope_fits`).
MAX_ENVELOPE_BYTES: Final = 256 * 1024
#: Every inbound payload (envelope, state, receipt) is bounded by the same limit.
MAX_MESSAGE_BYTES: Final = MAX_ENVELOPE_BYTES
#: Longest a `play_at` may lie ahead of `now` before the item is refused as absurd.
MAX_PLAY_AHEAD = timedelta(days=31)
#: How far `issued_at` may lie in the future before we suspect a forged or broken clock.
CLOCK_TOLERANCE = timedelta(minutes=5)

# `\Z`, not `$`: `$` also matches before a trailing newline, which let "loa-01\n" through.
ZONE_SEGMENT_RE = re.compile(r"^[a-z0-9-]+\Z")
DEVICE_ID_RE = re.compile(r"^[a-z0-9-]{1,64}\Z")
SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
MAX_ZONE_DEPTH = 6

#: A zone path (`vinh-tuong/tan-tien`) that passed `validate_zone_path`.
ZonePath = NewType("ZonePath", str)
#: A device id (`loa-01`) that passed `validate_device_id`.
DeviceId = NewType("DeviceId", str)

# --------------------------------------------------------------------------- domain facts

#: The TT39 announcement levels (thông thường, ưu tiên, khẩn cấp).
Level = Literal["normal", "priority", "emergency"]
LEVELS: Final[tuple[Level, ...]] = ("normal", "priority", "emergency")
NORMAL_PRIORITY: Final = 50
PRIORITY_PRIORITY: Final = 80
#: Interrupts whatever plays and ignores quiet hours; such items always carry a volume.
EMERGENCY_PRIORITY: Final = 100
#: Keyed by `Level`; typed by `str` so a level read from the database indexes it directly.
LEVEL_PRIORITY: Final[Mapping[str, int]] = {
    "normal": NORMAL_PRIORITY,
    "priority": PRIORITY_PRIORITY,
    "emergency": EMERGENCY_PRIORITY,
}


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


class Misdirected(ProtocolError):
    """The body's target is not the receiver, or not the target of the topic it came on."""

    reason = "misdirected"


REJECTION_REASONS = ("signature", "expired", "replayed", "malformed", "misdirected")


# --------------------------------------------------------------------------- names


def validate_zone_path(path: str) -> ZonePath:
    """Return `path` if it is a valid zone path (slugs joined by '/', ≤ 6 levels), else raise."""
    parts = path.split("/")
    if not path or len(parts) > MAX_ZONE_DEPTH or not all(ZONE_SEGMENT_RE.match(p) for p in parts):
        raise MalformedMessage(f"invalid zone path {path!r}: [a-z0-9-]+ per level, 1-6 levels")
    return ZonePath(path)


def validate_device_id(device_id: str) -> DeviceId:
    """Return `device_id` if it matches [a-z0-9-]{1,64}, else raise `MalformedMessage`."""
    if not DEVICE_ID_RE.match(device_id):
        raise MalformedMessage(f"invalid device id {device_id!r}: [a-z0-9-]{{1,64}}")
    return DeviceId(device_id)


def zone_ancestors(path: str) -> list[ZonePath]:
    """`a/b/c` → `['a', 'a/b', 'a/b/c']`: the zones whose messages reach an agent in `path`."""
    parts = validate_zone_path(path).split("/")
    return [ZonePath("/".join(parts[: i + 1])) for i in range(len(parts))]


def listened_targets(device_id: str, zone_path: str) -> list[str]:
    """Every target an agent accepts: its zone and each ancestor, then the device itself."""
    zones = [f"zone:{z}" for z in zone_ancestors(zone_path)]
    return [*zones, device_target(device_id)]


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


def _valid_target(v: str) -> str:
    try:
        parse_target(v)
    except MalformedMessage as exc:
        raise ValueError(str(exc)) from exc
    return v


def _valid_device_id(v: str) -> DeviceId:
    try:
        return validate_device_id(v)
    except MalformedMessage as exc:
        raise ValueError(str(exc)) from exc


#: A body's `target` on the wire: `device:<id>` or `zone:<path>`.
Target = Annotated[str, AfterValidator(_valid_target)]
#: A device id in a wire model, checked against the protocol's grammar.
WireDeviceId = Annotated[str, AfterValidator(_valid_device_id)]


# --------------------------------------------------------------------------- topics


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic taken apart: `channel` is cmd/timeline/state/event; `target` as in bodies."""

    channel: Literal["cmd", "timeline", "state", "event"]
    target: str


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses every topic of the protocol under one prefix (default `pa/v2`)."""

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


def instant_ms(dt: datetime) -> int:
    """Milliseconds since the epoch of an aware instant (what a timeline `version` is)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every instant on the wire is UTC")
    # Integer arithmetic, not timestamp()*1000: floats misround some millisecond instants.
    delta = dt.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def truncate_ms(dt: datetime) -> datetime:
    """`dt` without its sub-millisecond part: the precision an instant has on the wire."""
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


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


#: A host name or IP address a live stream is served from (no scheme, no port).
HOST_RE = re.compile(r"^[A-Za-z0-9.:-]{1,253}\Z")
STREAM_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")


class Live(_Wire):
    """A synchronised stream an agent lets through to the amplifier while its item is due."""

    engine: Literal["snapcast"]
    host: str
    port: int = Field(ge=1, le=65535)
    stream: str

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not HOST_RE.match(v):
            raise ValueError("live host must be a host name or IP address, no scheme or port")
        return v

    @field_validator("stream")
    @classmethod
    def _stream(cls, v: str) -> str:
        if not STREAM_RE.match(v):
            raise ValueError("live stream must match [A-Za-z0-9._-]{1,64}")
        return v


class Item(_Wire):
    """One planned playback (an occurrence) on a timeline: a file (`media`) or a stream (`live`).

    A live item also has `until`, when the agent silences the stream again.
    """

    occurrence_id: str = Field(min_length=1, max_length=128)
    title: str = Field(default="", max_length=300)
    play_at: Instant | None = None
    until: Instant | None = None
    max_late_s: int = Field(default=120, ge=0, le=24 * 3600)
    priority: int = Field(default=NORMAL_PRIORITY, ge=0, le=100)
    volume: int | None = Field(default=None, ge=0, le=100)
    media: Media | None = None
    live: Live | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.media is None) == (self.live is None):
            raise ValueError("an item has exactly one of media and live")
        if self.live is None and self.until is not None:
            raise ValueError("until belongs to live items only")
        if self.live is not None:
            if self.until is None:
                raise ValueError("a live item needs until")
            if self.play_at is not None and self.until <= self.play_at:
                raise ValueError("a live item's until must be after its play_at")
        return self

    @property
    def is_live(self) -> bool:
        return self.live is not None


def require_media(item: Item) -> Media:
    """The media of a file item; `MalformedMessage` for a live one (code that plays files only)."""
    if item.media is None:
        raise MalformedMessage(f"item {item.occurrence_id} is live, not a file")
    return item.media


class PlayBody(Item):
    """The body of `play`: an item (`play_at` may be omitted: as soon as possible) plus `target`."""

    target: Target

    @classmethod
    def of(cls, target: str, item: Item) -> PlayBody:
        """Address `item` to `target`."""
        return cls.model_validate({**item.model_dump(), "target": target})

    def item(self) -> Item:
        """The item without its address (what a timeline holds)."""
        return Item.model_validate(self.model_dump(exclude={"target"}))


class TimelineBody(_Wire):
    """The complete upcoming plan for one target; a higher `version` replaces a lower one.

    `version` is the envelope's `issued_at` in ms since the epoch: `open_envelope` checks it.
    """

    target: Target
    version: int = Field(ge=0)
    horizon_until: Instant
    items: tuple[Item, ...] = ()

    @field_validator("items")
    @classmethod
    def _timed(cls, v: tuple[Item, ...]) -> tuple[Item, ...]:
        if any(item.play_at is None for item in v):
            raise ValueError("every timeline item needs play_at")
        return v


class StopBody(_Wire):
    """Stop one occurrence, or (no `occurrence_id`) whatever plays."""

    target: Target
    occurrence_id: str | None = Field(default=None, min_length=1, max_length=128)


class VolumeBody(_Wire):
    """Set the default volume of every agent the target reaches."""

    target: Target
    volume: int = Field(ge=0, le=100)


class PingBody(_Wire):
    """Ask the agents the target reaches to republish their state."""

    target: Target


Kind = Literal["timeline", "play", "stop", "volume", "ping"]
BODY_MODELS: dict[str, type[_Wire]] = {
    "timeline": TimelineBody,
    "play": PlayBody,
    "stop": StopBody,
    "volume": VolumeBody,
    "ping": PingBody,
}
Body = TimelineBody | PlayBody | StopBody | VolumeBody | PingBody


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

    @property
    def target(self) -> str:
        """Whom the body is addressed to: `device:<id>` or `zone:<path>`."""
        return self.body.target


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
    misdirected: int = 0


class State(_Wire):
    """An agent's retained state. The LWT form carries only `device_id` and `online: false`."""

    device_id: WireDeviceId
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

    device_id: WireDeviceId
    occurrence_id: str = Field(min_length=1, max_length=128)
    type: ReceiptType
    at: Instant
    late_ms: int | None = None
    detail: str | None = Field(default=None, max_length=1000)


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


def envelope_fits(payload: bytes) -> bool:
    """Whether a serialised envelope is within `MAX_ENVELOPE_BYTES` (agents refuse larger)."""
    return len(payload) <= MAX_ENVELOPE_BYTES


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
    """Build, sign and serialise an envelope; the bytes are ready to publish.

    `issued_at` is `now` to the millisecond. A timeline body must carry
    `version == instant_ms(now)` and `horizon_until <= expires_at` (`ValueError` otherwise:
    agents would refuse it); `sign_timeline` builds one that does.
    """
    body_model = (
        body if isinstance(body, BaseModel) else BODY_MODELS[kind].model_validate(dict(body))
    )
    if type(body_model) is not BODY_MODELS[kind]:
        raise TypeError(f"body of kind {kind!r} must be {BODY_MODELS[kind].__name__}")
    issued_at = truncate_ms(now)
    if isinstance(body_model, TimelineBody):
        if body_model.version != instant_ms(issued_at):
            raise ValueError(
                f"timeline version {body_model.version} is not issued_at in ms "
                f"({instant_ms(issued_at)})"
            )
        if expires_at < body_model.horizon_until:
            raise ValueError("a timeline must not expire before its horizon_until")
    unsigned = {
        "v": PROTOCOL_VERSION,
        "id": envelope_id or uuid.uuid4().hex,
        "kind": kind,
        "issued_at": format_instant(issued_at),
        "expires_at": format_instant(expires_at),
        "kid": kid,
        "body": body_model.model_dump(mode="json", exclude_none=False),
    }
    sig = key.sign(canonical_json(unsigned))
    return canonical_json({**unsigned, "sig": base64.b64encode(sig).decode()})


def sign_timeline(
    target: str,
    items: tuple[Item, ...] | list[Item],
    *,
    horizon_until: datetime,
    key: Ed25519PrivateKey,
    kid: str,
    now: datetime,
    expires_at: datetime | None = None,
    envelope_id: str | None = None,
) -> bytes:
    """Sign the timeline of `target`: version = `now` in ms, valid at least until its horizon."""
    body = TimelineBody(
        target=target,
        version=instant_ms(truncate_ms(now)),
        horizon_until=horizon_until,
        items=tuple(items),
    )
    return sign_envelope(
        "timeline",
        body,
        key=key,
        kid=kid,
        now=now,
        expires_at=max(expires_at or horizon_until, horizon_until),
        envelope_id=envelope_id,
    )


def open_envelope(
    payload: bytes | str,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
) -> Envelope:
    """Check size, JSON, version, signature, shape, expiry and timeline rules; return it.

    Replay (seen ids, older timeline versions) is the caller's state: see `ReplayWindow`.
    Whether the envelope is for the receiver and came on its target's topic is
    `check_delivery`. Raises a `ProtocolError` subclass whose `reason` names the counter.
    """
    obj = loads_object(payload)
    version = obj.get("v")
    if version != PROTOCOL_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version < 2:
            raise UnsupportedVersion(
                f"protocol v{version} envelope refused: this side speaks v{PROTOCOL_VERSION} "
                "only (upgrade the server and the agents together)"
            )
        raise UnsupportedVersion(f"unsupported protocol version {version!r}")
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
    if isinstance(env.body, TimelineBody):
        # A version that is not the signed issue instant could claim any future (v1's hole).
        if env.body.version != instant_ms(env.issued_at):
            raise MalformedMessage(
                f"timeline {env.body.target} version {env.body.version} is not its issued_at "
                f"in ms ({instant_ms(env.issued_at)})"
            )
        if env.expires_at < env.body.horizon_until:
            raise MalformedMessage(f"timeline {env.body.target} expires before its horizon")
    return env


def check_delivery(env: Envelope, topic: str, *, topics: Topics, listens: Collection[str]) -> None:
    """Raise `Misdirected` unless `env` is for one of `listens` and came on its target's topic.

    `listens` is what the receiver is (see `listened_targets`); the topic must be exactly the
    target's timeline topic for a timeline and its cmd topic for every other kind, so a
    captured zone command replayed on another zone's topic is refused.
    """
    target = env.target
    if target not in listens:
        raise Misdirected(f"{env.kind} {env.id} is for {target}, not for this agent")
    expected = topics.timeline_for(target) if env.kind == "timeline" else topics.cmd_for(target)
    if topic != expected:
        raise Misdirected(f"{env.kind} {env.id} for {target} arrived on {topic}, not {expected}")


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
    """The version of a timeline issued at `now`: its issue instant in ms since the epoch."""
    return instant_ms(truncate_ms(now))
