"""Which devices an occurrence's targets reach, and what an occurrence recorded about it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.protocol import parse_target, zone_ancestors
from pa_server.db.models import Device, Occurrence


def device_zones(session: Session) -> list[tuple[str, str]]:
    """Every (device id, zone path)."""
    return [(d_id, zone) for d_id, zone in session.execute(select(Device.id, Device.zone_path))]


class Audience:
    """Devices by zone subtree, so expanding targets costs the size of the answer.

    Built once per replan or request; `expected` is memoised per targets tuple (the many
    occurrences of one schedule share theirs).
    """

    def __init__(self, devices: Iterable[tuple[str, str]]) -> None:
        self.zone_of: dict[str, str] = {}
        self._under: dict[str, list[str]] = defaultdict(list)
        for device_id, zone in devices:
            self.zone_of[device_id] = zone
            for ancestor in zone_ancestors(zone):
                self._under[ancestor].append(device_id)
        self._memo: dict[tuple[str, ...], dict[str, str]] = {}

    def expected(self, targets: Iterable[str]) -> dict[str, str]:
        """The devices (id → zone) that `targets` reach now."""
        key = tuple(targets)
        found = self._memo.get(key)
        if found is None:
            ids: list[str] = []
            for target in key:
                kind, name = parse_target(target)
                if kind == "zone":
                    ids += self._under.get(name, ())
                elif name in self.zone_of:
                    ids.append(name)
            found = self._memo[key] = {d: self.zone_of[d] for d in sorted(set(ids))}
        return dict(found)

    def of(self, occ: Occurrence) -> dict[str, str]:
        """What `occ` recorded when it was planned or sent; for older rows, today's devices."""
        if occ.expected_devices is not None:
            return dict(occ.expected_devices)
        return self.expected(occ.targets)
