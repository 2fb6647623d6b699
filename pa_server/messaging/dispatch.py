"""Dispatch: turn the planned items of each target into signed, retained timelines and commands.

A timeline is republished only when its content (the items, not the horizon, which moves
every tick) or the signing key changed, or when the one the broker holds is nearing its expiry.
What was last published per target (version, content hash, the signed envelope itself) lives in
a `PublishedStore` (the database in the server, a dict in tests), so a restarted server
republishes nothing that did not change, and can serve and republish exactly what it sent.

Protocol v2 rules kept here:

- A timeline's `version` is its `issued_at` in ms. Each target's issue instant is strictly
  later than the last one this store knows (two publishes in the same millisecond, or a clock
  that went back, move it forward by a millisecond), so versions only grow, across restarts
  and database restores too, because they follow the clock rather than a counter.
- The server is the source of truth, retained messages a cache: `republish_current` sends
  every stored envelope again (after each broker (re)connect), `check_retained` compares what
  the broker holds with the store and republishes what is missing or differs.
- No envelope over `MAX_ENVELOPE_BYTES` is published: the timeline keeps its nearest items and
  its horizon ends at the first item left out; the cut is logged, counted (`on_cut`) and stored
  per target (`Published.items_cut`, read by `pa_server.services.timelines.plan_cuts`).
- Every command body names its target; a `stop` goes to every target of its occurrence.

Errors: a failed publish raises the bus's `BusError` after recording the targets already
published; the rest are retried on the next `sync`.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from devices.protocol import (
    BODY_MODELS,
    MAX_ENVELOPE_BYTES,
    Body,
    Item,
    Kind,
    PlayBody,
    TimelineBody,
    Topics,
    canonical_json,
    instant_ms,
    parse_target,
    truncate_ms,
)
from pa_server.messaging.bus import Bus
from pa_server.messaging.signing import ServerKeys

log = logging.getLogger(__name__)

#: A timeline is republished once less than this share of its validity is left.
REFRESH_FRACTION = 0.25
#: Default lifetime of a command envelope (agents drop it after this).
COMMAND_TTL = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Called with (target, items kept, items cut) whenever a timeline had to be cut to fit.
CutHook = Callable[[str, int, int], None]
#: Called with (reason, count) when timelines are republished outside a content change:
#: `reconnect` (broker connection (re)started), `missing` / `differs` (the retained check).
RepublishHook = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class Published:
    """What was last published for one target."""

    version: int
    content_hash: str
    #: The signed envelope as sent; None for a row written before protocol v2.
    envelope: bytes | None = None
    expires_at: datetime | None = None
    #: Items of the planned timeline left out to fit the size limit.
    items_cut: int = 0


class PublishedStore(Protocol):
    """Where the dispatcher remembers the last timeline published per target."""

    def get(self, target: str) -> Published | None: ...

    def put(self, target: str, published: Published) -> None: ...

    def all(self) -> dict[str, Published]: ...


class DictPublishedStore:
    """A `PublishedStore` in memory (tests, tools)."""

    def __init__(self) -> None:
        self.rows: dict[str, Published] = {}

    def get(self, target: str) -> Published | None:
        return self.rows.get(target)

    def put(self, target: str, published: Published) -> None:
        self.rows[target] = published

    def all(self) -> dict[str, Published]:
        return dict(self.rows)


def content_hash(items: Iterable[Item], kid: str) -> str:
    """sha256 of the canonical JSON of the items in timeline order and the signing key id.

    The horizon is left out (it moves every tick); the key id is in, so that a key rotation
    republishes every timeline under the new key.
    """
    wire = {"kid": kid, "items": [item.to_wire() for item in _ordered(items)]}
    return hashlib.sha256(canonical_json(wire)).hexdigest()


def _ordered(items: Iterable[Item]) -> list[Item]:
    # One order for the same set of items, whatever order the planner produced them in.
    return sorted(items, key=lambda i: (i.play_at or _EPOCH, i.occurrence_id))


def _instant_of_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class _Signed:
    payload: bytes
    version: int
    kept: int
    cut: int
    horizon_until: datetime


class Dispatcher:
    """Publishes timelines when their content changes, and immediate commands."""

    def __init__(
        self,
        bus: Bus,
        keys: ServerKeys,
        topics: Topics,
        published: PublishedStore,
        *,
        on_cut: CutHook | None = None,
        on_republish: RepublishHook | None = None,
        max_bytes: int = MAX_ENVELOPE_BYTES,
    ) -> None:
        self._bus = bus
        self._keys = keys
        self._topics = topics
        self._published = published
        self._on_cut = on_cut
        self._on_republish = on_republish
        self._max_bytes = max_bytes
        # Targets seen in this process: one that drops out of `desired` gets an empty timeline.
        self._known: set[str] = set(published.all())
        self._republish_all = False
        # Targets to sign afresh at the next sync whatever their content (nothing valid stored).
        self._resign: set[str] = set()
        # Last version issued per target by this process: a floor even if the store lags.
        self._last_version: dict[str, int] = {}

    def forget_published(self) -> None:
        """Make the next `sync` sign and publish every target again, changed or not."""
        self._republish_all = True

    # ------------------------------------------------------------------ timelines

    def sync(
        self,
        desired: Mapping[str, tuple[Item, ...]],
        *,
        now: datetime,
        horizon_until: datetime,
    ) -> list[str]:
        """Publish the timeline of each target whose content changed; return those targets.

        `desired` maps target names (`zone:…`, `device:…`) to their planned items. A target
        published before and now absent (or empty) gets an empty timeline, once.
        """
        if horizon_until <= now:
            raise ValueError("horizon_until must lie after now")
        for target in desired:
            parse_target(target)  # a bad name is a bug upstream: fail before publishing
        horizon = horizon_until - now
        done: list[str] = []
        for target in sorted(self._known | set(desired)):
            items = _ordered(desired.get(target, ()))
            digest = content_hash(items, self._keys.kid)
            stored = self._published.get(target)
            if stored is None and not items:
                continue  # never published and nothing to say: no retained message needed
            if stored is not None and not self._due(target, stored, digest, now, horizon):
                self._known.add(target)
                continue
            signed = self._sign_timeline(target, items, stored, now, horizon_until)
            self._bus.publish(self._topics.timeline_for(target), signed.payload, retain=True)
            expires_at = max(horizon_until, _instant_of_ms(signed.version))
            self._published.put(
                target,
                Published(signed.version, digest, signed.payload, expires_at, signed.cut),
            )
            self._last_version[target] = signed.version
            self._known.add(target)
            done.append(target)
            self._resign.discard(target)
            log.info("published timeline %s v%s (%d items)", target, signed.version, signed.kept)
        self._republish_all = False
        return done

    def _due(
        self, target: str, stored: Published, digest: str, now: datetime, horizon: timedelta
    ) -> bool:
        if self._republish_all or target in self._resign or stored.envelope is None:
            return True
        if stored.content_hash != digest:
            return True
        expires = stored.expires_at or _instant_of_ms(stored.version) + horizon
        return expires - now <= horizon * REFRESH_FRACTION

    def next_version(self, target: str, now: datetime, stored: Published | None = None) -> int:
        """The version (= issue instant in ms) of `target`'s next timeline: `now`, or later.

        Strictly greater than every version this process or the store knows for the target:
        two publishes in one millisecond, or a clock that went back, still grow it.
        """
        floor = max(self._last_version.get(target, -1), stored.version if stored else -1)
        version = max(instant_ms(truncate_ms(now)), floor + 1)
        if version - instant_ms(now) > 1000:
            log.warning(
                "timeline %s: clock is %d ms behind the last version; issuing ahead of it",
                target,
                version - instant_ms(now),
            )
        return version

    def _sign_timeline(
        self,
        target: str,
        items: list[Item],
        stored: Published | None,
        now: datetime,
        horizon_until: datetime,
    ) -> _Signed:
        version = self.next_version(target, now, stored)
        issued = _instant_of_ms(version)
        expires_at = max(horizon_until, issued)

        def sign(kept: int) -> bytes:
            # Cut: the plan is complete only until the first item left out.
            until = horizon_until if kept == len(items) else items[kept].play_at or horizon_until
            body = TimelineBody(
                target=target, version=version, horizon_until=until, items=tuple(items[:kept])
            )
            return self._keys.sign("timeline", body, now=issued, expires_at=expires_at)

        payload = sign(len(items))
        if len(payload) <= self._max_bytes:
            return _Signed(payload, version, len(items), 0, horizon_until)
        # The largest prefix of the nearest items that fits: binary search over its length.
        low, high = 0, len(items) - 1
        while low < high:
            mid = (low + high + 1) // 2
            if len(sign(mid)) <= self._max_bytes:
                low = mid
            else:
                high = mid - 1
        payload = sign(low)
        if len(payload) > self._max_bytes:
            raise ValueError(f"an empty timeline for {target} exceeds {self._max_bytes} bytes")
        cut = len(items) - low
        until = items[low].play_at or horizon_until
        log.warning(
            "timeline %s too large for one envelope (%d bytes max): kept the %d nearest items "
            "until %s, cut %d",
            target,
            self._max_bytes,
            low,
            until.isoformat(),
            cut,
        )
        if self._on_cut is not None:
            self._on_cut(target, low, cut)
        return _Signed(payload, version, low, cut, until)

    def republish_current(self, now: datetime) -> list[str]:
        """Publish every stored, unexpired timeline envelope again, as it was (retained).

        For a broker (re)connection: the broker may have lost its retained messages (restart
        without persistence). Agents that hold one already know it (same id and version).
        Targets with nothing valid to resend are signed afresh at the next `sync`.
        """
        done: list[str] = []
        for target, row in sorted(self._published.all().items()):
            if row.envelope is None or row.expires_at is None or row.expires_at <= now:
                self._resign.add(target)
                continue
            self._bus.publish(self._topics.timeline_for(target), row.envelope, retain=True)
            done.append(target)
        if done:
            log.info("republished %d current timelines after a broker (re)connect", len(done))
            if self._on_republish is not None:
                self._on_republish("reconnect", len(done))
        return done

    def check_retained(self, held: Mapping[str, bytes], now: datetime) -> list[str]:
        """Republish each current timeline the broker does not hold as stored; return targets.

        `held` is what the broker retains under the timeline topics (topic → payload), as
        collected by `PahoBus.retained`.
        """
        missing: list[str] = []
        differs: list[str] = []
        for target, row in sorted(self._published.all().items()):
            if row.envelope is None or row.expires_at is None or row.expires_at <= now:
                continue
            topic = self._topics.timeline_for(target)
            found = held.get(topic)
            if found == row.envelope:
                continue
            (missing if found is None else differs).append(target)
            self._bus.publish(topic, row.envelope, retain=True)
        for reason, targets in (("missing", missing), ("differs", differs)):
            if targets:
                log.warning(
                    "broker %s %d retained timelines; republished: %s",
                    "lost" if reason == "missing" else "held a different copy of",
                    len(targets),
                    ", ".join(targets[:20]),
                )
                if self._on_republish is not None:
                    self._on_republish(reason, len(targets))
        return missing + differs

    # ------------------------------------------------------------------ commands

    def command(
        self,
        target: str,
        kind: Kind,
        body: Item | Body | Mapping[str, Any],
        *,
        now: datetime,
        ttl: timedelta = COMMAND_TTL,
    ) -> str:
        """Sign and publish a `play`/`stop`/`volume`/`ping` to a target; return its envelope id.

        The body is addressed to `target` (v2 target binding): a mapping without `target` or a
        plain `Item` gets it; a body naming another target is a bug (`ValueError`). A `play`
        stays valid until its `play_at + max_late_s` if that is later than `now + ttl`.
        """
        if kind == "timeline":
            raise ValueError("timelines go through sync(), not command()")
        addressed = address(kind, body, target)
        expires_at = now + ttl
        if isinstance(addressed, PlayBody) and addressed.play_at is not None:
            late = addressed.play_at + timedelta(seconds=addressed.max_late_s)
            expires_at = max(expires_at, late)
        envelope_id = uuid.uuid4().hex
        payload = self._keys.sign(
            kind, addressed, now=now, expires_at=expires_at, envelope_id=envelope_id
        )
        self._bus.publish(self._topics.cmd_for(target), payload, retain=False)
        log.info("sent %s to %s (envelope %s)", kind, target, envelope_id)
        return envelope_id

    def stop(self, occurrence_id: str, targets: Iterable[str], *, now: datetime) -> list[str]:
        """Send `stop` for one occurrence to every one of its targets; return them.

        One envelope per target (each body names its own target, and agents refuse one that
        arrives on another target's topic), so a broadcast to three zones sends three.
        """
        sent: list[str] = []
        for target in dict.fromkeys(targets):  # in order, each once
            self.command(target, "stop", {"occurrence_id": occurrence_id}, now=now)
            sent.append(target)
        return sent


def address(kind: Kind, body: Item | Body | Mapping[str, Any], target: str) -> Body:
    """The body of a `kind` command addressed to `target` (validated; `ValueError` if not)."""
    parse_target(target)
    model = BODY_MODELS[kind]
    if isinstance(body, Item) and not isinstance(body, PlayBody):
        if kind != "play":
            raise ValueError(f"an item is the body of play, not of {kind}")
        return PlayBody.of(target, body)
    if isinstance(body, Mapping):
        named = body.get("target", target)
        if named != target:
            raise ValueError(f"{kind} body addressed to {named}, sent to {target}")
        return model.model_validate({**body, "target": target})  # type: ignore[return-value]
    if type(body) is not model:
        raise TypeError(f"body of kind {kind!r} must be {model.__name__}")
    if body.target != target:
        raise ValueError(f"{kind} body addressed to {body.target}, sent to {target}")
    return body
