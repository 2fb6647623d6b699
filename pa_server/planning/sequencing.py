"""Sequencing on shared loudspeakers: occupied intervals per tree node and earliest free slot.

A placed occurrence occupies [play_at, play_at + duration + gap) on each of its targets.
Two target sets conflict when one target is an ancestor-or-equal of another (a device is a
leaf under its zone). So a node keeps the blocks aimed at exactly it (`own`) and the blocks
aimed at it or anything below it (`below`); a candidate aimed at node n must avoid `below[n]`
and `own[a]` for every proper ancestor a of n. Depth is at most 7, so a check reads a handful
of sorted lists, each by bisection: no pairwise comparison of occurrences. Lists nobody will
read (a `below` of a node no schedule targets, an `own` of a node with no targeted
descendant) are not kept.
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


class Occupancy:
    """What is already placed on each node of the zone tree."""

    def __init__(self, targeted: Iterable[tuple[str, ...]]) -> None:
        """`targeted`: the lineage of every target that may be placed."""
        self._own: dict[str, _Blocks] = {}
        self._below: dict[str, _Blocks] = {}
        for lineage in targeted:
            self._below.setdefault(lineage[-1], _Blocks())
            for node in lineage[:-1]:
                self._own.setdefault(node, _Blocks())
        self._longest = 0
        self._plans: dict[tuple[tuple[str, ...], ...], tuple[list[_Blocks], list[_Blocks]]] = {}

    def _lists(self, lineages: tuple[tuple[str, ...], ...]) -> tuple[list[_Blocks], list[_Blocks]]:
        """(lists to check, lists to insert into) for one target set."""
        found = self._plans.get(lineages)
        if found is not None:
            return found
        check: dict[int, _Blocks] = {}
        insert: dict[int, _Blocks] = {}
        for lineage in lineages:
            for node in lineage:
                below = self._below.get(node)
                if below is not None:
                    insert[id(below)] = below
            own = self._own.get(lineage[-1])
            if own is not None:
                insert[id(own)] = own
            check[id(self._below[lineage[-1]])] = self._below[lineage[-1]]
            for node in lineage[:-1]:
                check[id(self._own[node])] = self._own[node]
        found = (list(check.values()), list(insert.values()))
        self._plans[lineages] = found
        return found

    def earliest(self, lineages: tuple[tuple[str, ...], ...], start: int, length: int) -> int:
        """Earliest s ≥ start where [s, s + length) meets no block on these targets."""
        lists = self._lists(lineages)[0]
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

    def add(self, lineages: tuple[tuple[str, ...], ...], start: int, end: int) -> None:
        """Mark [start, end) taken on these targets."""
        if end - start > self._longest:
            self._longest = end - start
        for blocks in self._lists(lineages)[1]:
            i = bisect_left(blocks.starts, start)
            blocks.starts.insert(i, start)
            blocks.ends.insert(i, end)
