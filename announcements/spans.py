"""Text that remembers where every rewritten piece came from, and operator overrides.

`Tracked` holds the working text of the normaliser as a list of pieces. A piece is either
*original* (its text is exactly the source characters it covers, so it can be cut anywhere) or
*changed* (a replacement for a source range, kept whole). A substitution whose match reaches
into a changed piece swallows that whole piece, so every changed piece always maps to one
contiguous range of the source text: that is what a listening page highlights.

`Override` is an operator's correction: "say this written span so". Overrides are resolved
against the current text (`resolve_overrides`); those whose written text is no longer there are
returned as stale, never silently dropped.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from announcements.errors import BadOverride

#: Stands in the working text for a span an override has fixed, so no rule rewrites it.
#: (A private-use character: no pattern of the normaliser matches it.)
LOCK = "\ue000"


@dataclass(frozen=True)
class Override:
    """An operator's spoken form for the written text at [start, end) of an announcement."""

    start: int
    end: int
    written: str
    spoken: str

    def __post_init__(self) -> None:
        if self.start < 0 or self.end <= self.start:
            raise BadOverride(f"override offsets must satisfy 0 <= start < end: {self!r}")
        if len(self.written) != self.end - self.start:
            raise BadOverride(f"override written text does not span start..end: {self!r}")
        if re.search(r"[0-9]", self.spoken):
            raise BadOverride(f"override spoken form has digits: {self.spoken!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form stored with an announcement."""
        return {
            "start": self.start,
            "end": self.end,
            "written": self.written,
            "spoken": self.spoken,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Override:
        """Read one override back from its JSON form (raises BadOverride when malformed)."""
        try:
            start, end = data["start"], data["end"]
            written, spoken = data["written"], data["spoken"]
        except (KeyError, TypeError) as exc:
            raise BadOverride(f"override needs start, end, written, spoken: {data!r}") from exc
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
            raise BadOverride(f"override offsets must be integers: {data!r}")
        if not (isinstance(written, str) and isinstance(spoken, str)):
            raise BadOverride(f"override texts must be strings: {data!r}")
        return cls(start, end, written, spoken)


def overrides_to_json(overrides: Iterable[Override]) -> str:
    """Serialise overrides as a JSON list (the form the server stores)."""
    return json.dumps([o.to_dict() for o in overrides], ensure_ascii=False)


def overrides_from_json(text: str) -> list[Override]:
    """Parse a JSON list of overrides (raises BadOverride when malformed)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadOverride(f"overrides are not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise BadOverride("overrides must be a JSON list")
    return [Override.from_dict(item) for item in data]


@dataclass(frozen=True)
class Resolution:
    """Overrides placed on a text: `applied` at their current offsets, `stale` not placed."""

    applied: tuple[Override, ...]
    stale: tuple[Override, ...]


def resolve_overrides(text: str, overrides: Iterable[Override]) -> Resolution:
    """Place each override on `text`: at its offsets, else at the nearest copy of its written text.

    An override whose written text is gone (the announcement was edited), or which would
    overlap one already placed, is stale.
    """
    applied: list[Override] = []
    stale: list[Override] = []
    for o in overrides:
        placed: Override | None = None
        if text[o.start : o.end] == o.written:
            placed = o
        else:
            found = [m.start() for m in re.finditer(re.escape(o.written), text)]
            if found:
                start = min(found, key=lambda s: abs(s - o.start))
                placed = Override(start, start + len(o.written), o.written, o.spoken)
        if placed is None or any(placed.start < a.end and a.start < placed.end for a in applied):
            stale.append(o)
        else:
            applied.append(placed)
    return Resolution(tuple(sorted(applied, key=lambda o: o.start)), tuple(stale))


@dataclass(frozen=True)
class Span:
    """One changed span: source[start:end] is `written`, read aloud as `spoken`."""

    start: int
    end: int
    written: str
    spoken: str
    overridden: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form a listening page uses."""
        return {
            "start": self.start,
            "end": self.end,
            "written": self.written,
            "spoken": self.spoken,
            "overridden": self.overridden,
        }


@dataclass(slots=True)
class _Piece:
    start: int  # source offsets
    end: int
    text: str
    changed: bool
    spoken: str | None = None  # set for a piece an override fixed (its text is LOCK)


Edit = tuple[int, int, str]


class Tracked:
    """A working text made of pieces, each mapped to a range of the source text."""

    def __init__(self, source: str, locks: Sequence[Override] = ()) -> None:
        self.source = source
        pieces: list[_Piece] = []
        at = 0
        for o in sorted(locks, key=lambda o: o.start):
            if o.start > at:
                pieces.append(_Piece(at, o.start, source[at : o.start], False))
            pieces.append(_Piece(o.start, o.end, LOCK, True, o.spoken))
            at = o.end
        if at < len(source) or not pieces:
            pieces.append(_Piece(at, len(source), source[at:], False))
        self._pieces = pieces
        self._text: str | None = None

    @property
    def text(self) -> str:
        """The working text as the rules see it."""
        if self._text is None:
            self._text = "".join(p.text for p in self._pieces)
        return self._text

    def sub(self, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str] | str) -> None:
        """Like `pattern.sub(repl, text)`, remembering where each replacement came from."""
        text = self.text
        edits: list[Edit] = []
        for m in pattern.finditer(text):
            old = m.group(0)
            new = repl(m) if callable(repl) else m.expand(repl)
            if new == old:
                continue
            # Keep only the part that changed, so "gọi 115" marks "115", not the keyword too.
            # A replacement padded with a space (" ngày mười lăm…") keeps the written words it
            # starts with ("ngày ") in place of the padding.
            bare = new.lstrip()
            if bare != new and old[:1].strip() and bare[:1] == old[:1]:
                new = bare
            head = 0
            limit = min(len(old), len(new))
            while head < limit and old[head] == new[head]:
                head += 1
            tail = 0
            while tail < limit - head and old[-1 - tail] == new[-1 - tail]:
                tail += 1
            edits.append((m.start() + head, m.end() - tail, new[head : len(new) - tail]))
        self.apply(edits)

    def apply(self, edits: Sequence[Edit]) -> None:
        """Apply sorted, non-overlapping (start, end, replacement) edits of the working text.

        An edit that would touch a span fixed by an override is skipped.
        """
        if not edits:
            return
        text, pieces = self.text, self._pieces
        starts: list[int] = []
        pos = 0
        for p in pieces:
            starts.append(pos)
            pos += len(p.text)

        def at(p: int) -> int:
            return bisect_right(starts, p) - 1

        # Widen each edit to whole changed pieces, then merge edits that now overlap.
        clusters: list[tuple[int, int, list[Edit]]] = []
        for a, b, new in edits:
            lo, hi = a, b
            blocked = False
            if a < len(text):
                i = at(a)
                j = at(b - 1) if b > a else i
                blocked = any(pieces[k].spoken is not None for k in range(i, j + 1))
                if pieces[i].changed and (b > a or starts[i] < a):
                    lo = starts[i]
                    if b == a:
                        hi = starts[i] + len(pieces[i].text)
                if b > a and pieces[j].changed:
                    hi = starts[j] + len(pieces[j].text)
            if blocked:
                continue
            if clusters and lo < clusters[-1][1]:
                c_lo, c_hi, c_edits = clusters[-1]
                clusters[-1] = (c_lo, max(c_hi, hi), [*c_edits, (a, b, new)])
            else:
                clusters.append((lo, hi, [(a, b, new)]))
        if not clusters:
            return
        self._pieces = self._rebuild(text, clusters)
        self._text = None

    def _rebuild(self, text: str, clusters: list[tuple[int, int, list[Edit]]]) -> list[_Piece]:
        """Cut original pieces at cluster edges and put one changed piece per cluster."""
        cuts = sorted({c for lo, hi, _ in clusters for c in (lo, hi)})
        atoms: list[tuple[int, _Piece]] = []
        pos = 0
        for p in self._pieces:
            n = len(p.text)
            if p.changed or n == 0:
                atoms.append((pos, p))
            else:
                prev = pos
                inner = cuts[bisect_right(cuts, pos) : bisect_right(cuts, pos + n - 1)]
                for c in [*inner, pos + n]:
                    off_a, off_b = prev - pos, c - pos
                    atoms.append(
                        (prev, _Piece(p.start + off_a, p.start + off_b, p.text[off_a:off_b], False))
                    )
                    prev = c
            pos += n

        out: list[_Piece] = []
        k = 0
        for lo, hi, sub_edits in clusters:
            while k < len(atoms) and atoms[k][0] + len(atoms[k][1].text) <= lo:
                out.append(atoms[k][1])
                k += 1
            absorbed: list[_Piece] = []
            while k < len(atoms) and atoms[k][0] < hi:
                absorbed.append(atoms[k][1])
                k += 1
            if any(p.spoken is not None for p in absorbed):
                out.extend(absorbed)  # an override's span is never rewritten
                continue
            parts: list[str] = []
            at = lo
            for a, b, new in sub_edits:
                parts += [text[at:a], new]
                at = b
            parts.append(text[at:hi])
            if absorbed:
                src_a, src_b = absorbed[0].start, max(p.end for p in absorbed)
            else:
                src_a = src_b = atoms[k][1].start if k < len(atoms) else len(self.source)
            out.append(_Piece(src_a, src_b, "".join(parts), True))
        out.extend(p for _, p in atoms[k:])
        return out

    def joined(self) -> str:
        """The working text with every override's spoken form in place."""
        return "".join(p.spoken if p.spoken is not None else p.text for p in self._pieces)

    def spans(self, tidy: Callable[[str], str]) -> list[Span]:
        """Changed spans in source order (audible changes only); `tidy` cleans each spoken form."""
        raw: list[tuple[int, int, str, bool]] = []
        for p in self._pieces:
            if not p.changed:
                continue
            spoken = p.spoken if p.spoken is not None else p.text
            overridden = p.spoken is not None
            raw.append((p.start, p.end, spoken, overridden))
        spans: list[Span] = []
        for start, end, spoken, overridden in raw:
            written = self.source[start:end]
            said = tidy(spoken)
            if not overridden and _letters(written) == _letters(said):
                continue  # only spacing, punctuation or letter case changed: nothing to hear
            spans.append(Span(start, end, written, said, overridden))
        return spans


def _letters(text: str) -> str:
    """Letters and digits only, lower-case, for deciding whether a change can be heard."""
    return " ".join(re.sub(r"[\W_]+", " ", unicodedata.normalize("NFC", text).lower()).split())
