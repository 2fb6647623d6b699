"""Sequencing on shared loudspeakers: occupied intervals per tree node and earliest free slot.

A placed occurrence occupies [play_at, play_at + duration + gap) on each of its targets.
Two target sets conflict when one target is an ancestor-or-equal of another (a device is a
leaf under its zone). So each node keeps the blocks aimed at exactly it (`own`) and the blocks
aimed at it or anything below it (`below`); a candidate aimed at node n must avoid `below[n]`
and `own[a]` for every proper ancestor a of n. Depth is at most 7, so a check reads a handful
of sorted lists, each by bisection: no pairwise comparison of occurrences.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable


class _Blocks:
    """Blocks (start, end) in ms, sorted by start; blocks may overlap (siblings, emergencies)."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        i = bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


class Occupancy:
    """What is already placed on each node of the zone tree."""

    def __init__(self) -> None:
        self._own: dict[str, _Blocks] = {}
        self._below: dict[str, _Blocks] = {}
        self._longest = 0

    def _lists(self, lineages: Iterable[tuple[str, ...]]) -> list[_Blocks]:
        seen: dict[int, _Blocks] = {}
        for lineage in lineages:
            below = self._below.get(lineage[-1])
            if below is not None:
                seen[id(below)] = below
            for node in lineage[:-1]:
                own = self._own.get(node)
                if own is not None:
                    seen[id(own)] = own
        return list(seen.values())

    def earliest(self, lineages: Iterable[tuple[str, ...]], start: int, length: int) -> int:
        """Earliest s ≥ start where [s, s + length) meets no block on these targets."""
        lists = self._lists(lineages)
        longest = self._longest
        s = start
        while True:
            latest = -1
            for blocks in lists:
                starts, ends = blocks.starts, blocks.ends
                # A block starting before s - longest has ended by s: skip it by bisection.
                for i in range(bisect_left(starts, s - longest), bisect_left(starts, s + length)):
                    if ends[i] > s and ends[i] > latest:
                        latest = ends[i]
            if latest < 0:
                return s
            s = latest

    def add(self, lineages: Iterable[tuple[str, ...]], start: int, end: int) -> None:
        """Mark [start, end) taken on these targets."""
        self._longest = max(self._longest, end - start)
        below_nodes: set[str] = set()
        for lineage in lineages:
            self._own.setdefault(lineage[-1], _Blocks()).add(start, end)
            below_nodes.update(lineage)
        for node in below_nodes:
            self._below.setdefault(node, _Blocks()).add(start, end)
