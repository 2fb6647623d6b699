"""Sequencing on shared loudspeakers: occupied intervals per tree node and earliest free slot.

A placed occurrence occupies [play_at, play_at + duration + gap) on each of its targets.
Two target sets conflict when one target is an ancestor-or-equal of another (a device is a
leaf under its zone). So a node keeps the blocks aimed at exactly it (`own`) and the blocks
aimed at it or anything below it (`below`); a candidate aimed at node n must avoid `below[n]`
and `own[a]` for every proper ancestor a of n. Depth is at most 7, so a check reads a handful
of block sets, each only near the candidate's time: no pairwise comparison of occurrences.
Sets nobody will read (a `below` of a node no schedule targets, an `own` of a node with no
targeted descendant) are not kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

# Blocks are filed by the 10-minute bucket they start in: a node high in the tree holds tens
# of thousands of blocks, and a sorted list that size would cost a long memmove per insert.
_BUCKET_MS: Final = 10 * 60 * 1000

_Blocks = dict[int, list[tuple[int, int]]]  # bucket → (start, end) in ms, in no order


class Occupancy:
    """What is already placed on each node of the zone tree."""

    def __init__(self, targeted: Iterable[tuple[str, ...]]) -> None:
        """`targeted`: the lineage of every target that may be placed."""
        self._own: dict[str, _Blocks] = {}
        self._below: dict[str, _Blocks] = {}
        for lineage in targeted:
            self._below.setdefault(lineage[-1], {})
            for node in lineage[:-1]:
                self._own.setdefault(node, {})
        self._longest = 0
        self._plans: dict[tuple[tuple[str, ...], ...], tuple[list[_Blocks], list[_Blocks]]] = {}

    def _lists(self, lineages: tuple[tuple[str, ...], ...]) -> tuple[list[_Blocks], list[_Blocks]]:
        """(block sets to check, block sets to insert into) for one target set."""
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
        sets = self._lists(lineages)[0]
        longest = self._longest
        s = start
        while True:
            latest = -1
            end = s + length
            # A block starting before s - longest has ended by s: its bucket need not be read.
            first, last = (s - longest) // _BUCKET_MS, (end - 1) // _BUCKET_MS
            for blocks in sets:
                for bucket in range(first, last + 1):
                    for b0, b1 in blocks.get(bucket, ()):
                        if b0 < end and b1 > s and b1 > latest:
                            latest = b1
            if latest < 0:
                return s
            s = latest

    def add(self, lineages: tuple[tuple[str, ...], ...], start: int, end: int) -> None:
        """Mark [start, end) taken on these targets."""
        if end - start > self._longest:
            self._longest = end - start
        bucket, block = start // _BUCKET_MS, (start, end)
        for blocks in self._lists(lineages)[1]:
            found = blocks.get(bucket)
            if found is None:
                blocks[bucket] = [block]
            else:
                found.append(block)
