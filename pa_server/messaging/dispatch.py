"""Dispatch: turn the planned items of each target into signed, retained timelines and commands.

A timeline is republished only when its content (the items, not the horizon, which moves
every tick) or the signing key changed, or when the one the broker holds is nearing its expiry.
What was last published per target (version and content hash) lives in a `PublishedStore` (the
database in the server, a dict in tests), so a restarted server republishes nothing that did
not change.

Errors: a failed publish raises the bus's `BusError` after recording the targets already
published; the rest are retried on the next `sync`.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from devices.protocol import (
    Item,
    Kind,
    TimelineBody,
    Topics,
    canonical_json,
    parse_target,
    timeline_version,
)
from pa_server.messaging.bus import Bus
from pa_server.messaging.signing import ServerKeys

log = logging.getLogger(__name__)

#: A timeline is republished once less than this share of its validity is left.
REFRESH_FRACTION = 0.25
#: Default lifetime of a command envelope (agents drop it after this).
COMMAND_TTL = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PublishedStore(Protocol):
    """Where the dispatcher remembers the last timeline published per target."""

    def get(self, target: str) -> tuple[int, str] | None: ...

    def put(self, target: str, version: int, content_hash: str) -> None: ...


@runtime_checkable
class ListablePublishedStore(PublishedStore, Protocol):
    """A store that can also list its targets (lets a restarted server empty vanished ones)."""

    def targets(self) -> Iterable[str]: ...


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


def _version_instant(version: int) -> datetime:
    return datetime.fromtimestamp(version / 1000, tz=UTC)


class Dispatcher:
    """Publishes timelines when their content changes, and immediate commands."""

    def __init__(
        self, bus: Bus, keys: ServerKeys, topics: Topics, published: PublishedStore
    ) -> None:
        self._bus = bus
        self._keys = keys
        self._topics = topics
        self._published = published
        # Targets seen in this process: one that drops out of `desired` gets an empty timeline.
        self._known: set[str] = set()
        self._republish_all = False
        # expires_at of what this process published; after a restart it is estimated from the
        # stored version (the issue instant in ms) and the current horizon length.
        self._expires: dict[str, datetime] = {}
        if isinstance(published, ListablePublishedStore):
            self._known.update(published.targets())

    def forget_published(self) -> None:
        """Make the next `sync` publish every target, changed or not.

        For a broker that lost its retained messages: the embedded amqtt broker keeps them in
        memory only, so a server that starts it must call this once at start-up.
        """
        self._republish_all = True

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
            version = timeline_version(now)
            if stored is not None and version <= stored[0]:
                version = stored[0] + 1  # the clock went back: versions still only grow
            body = TimelineBody(
                target=target, version=version, horizon_until=horizon_until, items=tuple(items)
            )
            payload = self._keys.sign("timeline", body, now=now, expires_at=horizon_until)
            self._bus.publish(self._topics.timeline_for(target), payload, retain=True)
            self._published.put(target, version, digest)
            self._expires[target] = horizon_until
            self._known.add(target)
            done.append(target)
            log.info("published timeline %s v%s (%d items)", target, version, len(items))
        self._republish_all = False
        return done

    def _due(
        self,
        target: str,
        stored: tuple[int, str],
        digest: str,
        now: datetime,
        horizon: timedelta,
    ) -> bool:
        version, stored_digest = stored
        if self._republish_all or stored_digest != digest:
            return True
        expires = self._expires.get(target) or _version_instant(version) + horizon
        return expires - now <= horizon * REFRESH_FRACTION

    def command(
        self,
        target: str,
        kind: Kind,
        body: Item | Mapping[str, Any],
        *,
        now: datetime,
        ttl: timedelta = COMMAND_TTL,
    ) -> str:
        """Sign and publish a `play`/`stop`/`volume`/`ping` to a target; return its envelope id.

        A `play` stays valid until its `play_at + max_late_s` if that is later than `now + ttl`.
        """
        if kind == "timeline":
            raise ValueError("timelines go through sync(), not command()")
        expires_at = now + ttl
        if kind == "play":
            item = body if isinstance(body, Item) else Item.model_validate(dict(body))
            if item.play_at is not None:
                expires_at = max(expires_at, item.play_at + timedelta(seconds=item.max_late_s))
            body = item
        envelope_id = uuid.uuid4().hex
        payload = self._keys.sign(
            kind, body, now=now, expires_at=expires_at, envelope_id=envelope_id
        )
        self._bus.publish(self._topics.cmd_for(target), payload, retain=False)
        log.info("sent %s to %s (envelope %s)", kind, target, envelope_id)
        return envelope_id
