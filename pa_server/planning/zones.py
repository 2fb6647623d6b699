"""The zone tree as the planner needs it: target lineages and resolved quiet hours."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from pa_server.planning.model import (
    DEFAULT_QUIET_END,
    DEFAULT_QUIET_START,
    DEFAULT_TIMEZONE,
    DeviceSpec,
    SkipReason,
    ZoneSpec,
    timezone_of,
)

DAY_S: Final = 86400


_BUCKET_MS: Final = 15 * 60 * 1000  # UTC offsets change only on quarter hours
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class QuietHours:
    """Quiet hours resolved for one zone: seconds of the local day, start > end crosses midnight."""

    __slots__ = ("_answers", "_offsets", "end_s", "quiet", "start_s", "tz")

    def __init__(self, start_s: int, end_s: int, tz: ZoneInfo) -> None:
        self.start_s, self.end_s, self.tz = start_s, end_s, tz
        self.quiet = ((start_s, end_s),) if start_s < end_s else ((start_s, DAY_S), (0, end_s))
        self._offsets: dict[int, int] = {}  # UTC quarter-hour → offset in ms
        # Schedules share times and durations, so the same question comes back often.
        self._answers: dict[tuple[int, int], bool] = {}

    def overlaps(self, play_at: datetime, duration_ms: int) -> bool:
        """Whether any part of [play_at, play_at + duration) falls in these quiet hours."""
        return self.overlaps_ms((play_at - _EPOCH) // timedelta(milliseconds=1), duration_ms)

    def overlaps_ms(self, at_ms: int, duration_ms: int) -> bool:
        """`overlaps` for an instant in ms since the epoch (the planner's hot path)."""
        known = self._answers.get((at_ms, duration_ms))
        if known is None:
            known = self._answers[at_ms, duration_ms] = self._overlaps(at_ms, duration_ms)
        return known

    def _overlaps(self, at_ms: int, duration_ms: int) -> bool:
        bucket = at_ms // _BUCKET_MS
        offset = self._offsets.get(bucket)
        if offset is None:
            moment = datetime.fromtimestamp(bucket * _BUCKET_MS / 1000, UTC)
            delta = self.tz.utcoffset(moment)
            offset = 0 if delta is None else delta // timedelta(milliseconds=1)
            self._offsets[bucket] = offset
        s = ((at_ms + offset) // 1000) % DAY_S
        d = -(-duration_ms // 1000)
        if d >= DAY_S:
            return True
        for q0, q1 in self.quiet:
            if s < q1 and q0 < s + d:
                return True
            if s + d > DAY_S and q0 < s + d - DAY_S:  # the play runs past midnight
                return True
        return False


@dataclass(frozen=True, slots=True)
class Resolved:
    """A target placed in the tree: node keys root → itself, and its quiet hours (None: none)."""

    target: str
    lineage: tuple[str, ...]
    quiet: QuietHours | None


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _ancestors(path: str) -> tuple[str, ...]:
    parts = path.split("/")
    return tuple("/".join(parts[: i + 1]) for i in range(len(parts)))


class ZoneIndex:
    """Zones and devices indexed for resolving targets; built once per plan."""

    def __init__(self, zones: Iterable[ZoneSpec], devices: Iterable[DeviceSpec]) -> None:
        self.zones = {z.path: z for z in zones}
        self.device_zone = {d.id: d.zone_path for d in devices}
        self._quiet: dict[str, QuietHours | None] = {}
        # Zones with equal hours share one object, and with it its memo of answers.
        self._interned: dict[tuple[int, int, str], QuietHours] = {}
        self._resolved: dict[str, Resolved | SkipReason] = {}

    def lineage(self, target: str) -> tuple[str, ...]:
        """Node keys from the root down to `target` (devices are leaves `device:<id>`)."""
        kind, _, name = target.partition(":")
        if kind == "zone":
            return _ancestors(name)
        zone = self.device_zone.get(name)
        return (*_ancestors(zone), target) if zone is not None else (target,)

    def quiet_hours(self, path: str) -> QuietHours | None:
        """Quiet hours of zone `path`: its own, else its nearest ancestor's, else 21:30–05:00."""
        if path in self._quiet:
            return self._quiet[path]
        lineage = _ancestors(path)
        known = [self.zones[p] for p in reversed(lineage) if p in self.zones]
        tz_name = known[0].timezone if known else DEFAULT_TIMEZONE
        start, end = _seconds(DEFAULT_QUIET_START), _seconds(DEFAULT_QUIET_END)
        for zone in known:
            if zone.quiet_start is not None and zone.quiet_end is not None:
                start, end = _seconds(zone.quiet_start), _seconds(zone.quiet_end)
                break
        quiet = None
        if start != end:
            quiet = self._interned.get((start, end, tz_name))
            if quiet is None:
                quiet = QuietHours(start, end, timezone_of(tz_name))
                self._interned[start, end, tz_name] = quiet
        self._quiet[path] = quiet
        return quiet

    def resolve(self, target: str) -> Resolved | SkipReason:
        """Place `target` in the tree, or say why it cannot be (unknown zone or device)."""
        found = self._resolved.get(target)
        if found is not None:
            return found
        kind, _, name = target.partition(":")
        result: Resolved | SkipReason
        if kind == "zone":
            result = (
                Resolved(target, _ancestors(name), self.quiet_hours(name))
                if name in self.zones
                else "unknown_zone"
            )
        else:
            zone = self.device_zone.get(name)
            result = (
                "unknown_device"
                if zone is None
                else Resolved(target, self.lineage(target), self.quiet_hours(zone))
            )
        self._resolved[target] = result
        return result
