"""What arrives at the agent, and whether to believe it: envelope intake (protocol v2).

Every envelope, from the broker or pulled over HTTP, goes through `Intake`: size, JSON, version
(v1 is refused with a clear log line), signature against the keys in the config, expiry and the
5-minute bound on `issued_at`, target binding (the body's target is this agent, its zone or an
ancestor, and the envelope came on exactly that target's topic), the replay window and the
timeline versions. What it refuses is counted by reason; what it accepts it remembers with the
signed bytes, so that the next start can verify it again against the keys then configured.
Pure state behind one lock: no network, no disk, the clock passed in.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from devices import protocol
from devices.protocol import Envelope, TimelineBody, Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HeldTimeline:
    """A verified timeline as the agent holds it: the envelope and the signed bytes."""

    envelope: Envelope
    payload: bytes

    @property
    def body(self) -> TimelineBody:
        assert isinstance(self.envelope.body, TimelineBody)
        return self.envelope.body

    @property
    def version(self) -> int:
        return self.body.version


class SeenIds:
    """Envelope ids seen until their expiry, with the key that signed each (for revocation).

    A second sight of an id is a replay. Bounded: past `max_ids` the soonest-expiring id goes.
    """

    def __init__(
        self, seen: Mapping[str, tuple[datetime, str]] | None = None, max_ids: int = 50_000
    ) -> None:
        self._seen: dict[str, tuple[datetime, str]] = dict(seen or {})
        self._max = max_ids

    def __contains__(self, envelope_id: object) -> bool:
        return envelope_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, env: Envelope, now: datetime) -> None:
        """Raise `Replayed` if `env.id` was seen; otherwise remember it until it expires."""
        if env.id in self._seen:
            raise protocol.Replayed(f"envelope {env.id} already seen")
        self.prune(now)
        if len(self._seen) >= self._max:
            del self._seen[min(self._seen, key=lambda e: self._seen[e][0])]
        self._seen[env.id] = (env.expires_at, env.kid)

    def prune(self, now: datetime) -> None:
        """Forget ids whose envelopes have expired: they are refused as expired anyway."""
        for eid in [e for e, (exp, _) in self._seen.items() if exp <= now]:
            del self._seen[eid]

    def keep_keys(self, kids: Collection[str]) -> int:
        """Forget the ids signed by a key no longer configured; returns how many went."""
        gone = [e for e, (_, kid) in self._seen.items() if kid not in kids]
        for eid in gone:
            del self._seen[eid]
        return len(gone)

    def copy(self) -> SeenIds:
        return SeenIds(self._seen, self._max)

    def to_json(self) -> dict[str, list[str]]:
        return {e: [protocol.format_instant(exp), kid] for e, (exp, kid) in self._seen.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SeenIds:
        """Read `to_json`'s form; entries of another shape (v1 files) are dropped."""
        seen: dict[str, tuple[datetime, str]] = {}
        for eid, value in data.items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
                seen[eid] = (protocol.parse_instant(value[0]), value[1])
        return cls(seen)


class Intake:
    """Checks every envelope for this agent; counts what it refuses, remembers what it takes."""

    def __init__(
        self,
        *,
        device_id: str,
        zone: str,
        topics: Topics,
        keys: Mapping[str, Ed25519PublicKey],
    ) -> None:
        self.device_id = device_id
        self.topics = topics
        self.keys = dict(keys)
        self.listens = frozenset(protocol.listened_targets(device_id, zone))
        self.rejected: Counter[str] = Counter()
        self.timelines: dict[str, HeldTimeline] = {}
        self.seen = SeenIds()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ start

    def restore(
        self,
        *,
        timelines: Mapping[str, bytes],
        commands: Mapping[str, bytes],
        seen: SeenIds,
    ) -> dict[str, Envelope]:
        """Take back what was stored, re-verified against the keys configured now.

        Whatever no longer verifies (its key was removed, or it is not for this agent any
        more) is forgotten, with the version it set: removing a key and restarting revokes
        everything that key signed. Returns the held commands that still verify, by name.
        """
        kept: dict[str, Envelope] = {}
        with self._lock:
            for target, payload in timelines.items():
                env = self._reverify(payload, f"timeline {target}")
                if env is not None and env.kind == "timeline" and env.target == target:
                    self.timelines[target] = HeldTimeline(env, payload)
            for name, payload in commands.items():
                env = self._reverify(payload, f"command {name}")
                if env is not None and env.kind == "play":
                    kept[name] = env
            self.seen = seen.copy()
            gone = self.seen.keep_keys(self.keys)
        if gone:
            log.info("forgot %d remembered envelope ids of keys no longer configured", gone)
        return kept

    def _reverify(self, payload: bytes, what: str) -> Envelope | None:
        """The stored envelope if it still verifies and is still for us; else None (logged).

        It is checked as of its own `issued_at`: whether it has expired since is the plan's
        business (a Pi that boots with a wrong clock must not throw its plan away).
        """
        try:
            issued = protocol.parse_instant(str(protocol.loads_object(payload).get("issued_at")))
            env = protocol.open_envelope(payload, keys=self.keys, now=issued)
            protocol.check_delivery(
                env, self._home_topic(env), topics=self.topics, listens=self.listens
            )
        except protocol.ProtocolError as exc:
            log.warning("forgetting stored %s: it no longer verifies (%s)", what, exc)
            return None
        return env

    def _home_topic(self, env: Envelope) -> str:
        if env.kind == "timeline":
            return self.topics.timeline_for(env.target)
        return self.topics.cmd_for(env.target)

    # ------------------------------------------------------------------ arrivals

    def receive(self, topic: str, payload: bytes, now: datetime) -> Envelope | None:
        """Check a message from the broker; `None` when there is nothing new to act on.

        Raises a `ProtocolError` whose `reason` names the counter (the caller counts it).
        """
        where = self.topics.parse(topic)
        if where.channel not in ("cmd", "timeline"):
            raise protocol.Misdirected(f"{topic} is not a topic an agent receives on")
        if not payload:
            if where.channel == "timeline":
                # An admin clearing a retained message: the plan is kept (the server is the
                # source of truth; the next pull brings the current timeline).
                log.info("retained timeline on %s cleared; plan kept", topic)
                return None
            raise protocol.MalformedMessage(f"empty message on {topic}")
        env = self._open(payload, now)
        protocol.check_delivery(env, topic, topics=self.topics, listens=self.listens)
        return self._admit(env, payload, now)

    def receive_pulled(self, obj: object, now: datetime) -> Envelope | None:
        """Check one envelope of the HTTP pull (a JSON object), as if on its target's topic."""
        if not isinstance(obj, dict):
            raise protocol.MalformedMessage("pulled timeline is not a JSON object")
        payload = protocol.canonical_json(obj)
        env = self._open(payload, now)
        if env.kind != "timeline":
            raise protocol.MalformedMessage(f"pulled a {env.kind} envelope, not a timeline")
        protocol.check_delivery(
            env, self.topics.timeline_for(env.target), topics=self.topics, listens=self.listens
        )
        return self._admit(env, payload, now)

    def _open(self, payload: bytes, now: datetime) -> Envelope:
        try:
            return protocol.open_envelope(payload, keys=self.keys, now=now)
        except protocol.UnsupportedVersion as exc:
            log.error("REFUSED %s: upgrade the server to protocol v2 (PROTOCOL.md)", exc)
            raise

    def _admit(self, env: Envelope, payload: bytes, now: datetime) -> Envelope | None:
        with self._lock:
            if isinstance(env.body, TimelineBody):
                body = env.body
                known = self.timelines.get(body.target)
                # The same timeline again (retained copy after a reconnect, or pulled): known.
                same = (env.id, body.version)
                if known is not None and (known.envelope.id, known.version) == same:
                    return None
                if known is not None and body.version <= known.version:
                    raise protocol.Replayed(
                        f"timeline {body.target} v{body.version} is not newer than v{known.version}"
                    )
                self.seen.check_and_add(env, now)
                self.timelines[body.target] = HeldTimeline(env, payload)
                return env
            self.seen.check_and_add(env, now)
            return env

    # ------------------------------------------------------------------ counters

    def count(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {r: self.rejected[r] for r in protocol.REJECTION_REASONS}

    def versions(self) -> dict[str, int]:
        with self._lock:
            return {t: h.version for t, h in sorted(self.timelines.items())}

    def snapshot(self) -> tuple[dict[str, bytes], SeenIds]:
        """(timeline payloads by target, a copy of the seen ids): what is saved to disk."""
        with self._lock:
            return {t: h.payload for t, h in self.timelines.items()}, self.seen.copy()
