"""What a person reads on a page, and the patterns that must never be in it.

Used by `test_visible_text.py` (every page, as every role) and the phone browser test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

#: Text of these elements is never shown.
HIDDEN_TAGS = {"script", "style", "template", "noscript"}
#: Attributes whose text a person sees (tooltips, hints, screen readers).
SHOWN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


@dataclass
class Piece:
    """A run of visible text; `identifier` when inside translate="no" (a login, a device id)
    or a quotation in another language (lang="en"), and `technical` inside a collapsed
    technicians' detail (the agent's own words) or a secret shown once (`data-secret`)."""

    text: str
    identifier: bool = False
    technical: bool = False


@dataclass
class _Frame:
    tag: str
    hidden: bool
    identifier: bool
    technical: bool


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[_Frame] = []
        self.pieces: list[Piece] = []

    def _top(self) -> _Frame:
        return self.stack[-1] if self.stack else _Frame("", False, False, False)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        top = self._top()
        hidden = top.hidden or tag in HIDDEN_TAGS or "hidden" in found
        lang = (found.get("lang") or "vi").lower()
        frame = _Frame(
            tag,
            hidden,
            # A quotation marked as another language (an alert's original words) is not prose
            # of ours, like an identifier.
            top.identifier or found.get("translate") == "no" or not lang.startswith("vi"),
            # A password or token shown once is random by construction: no rule can hold for it.
            top.technical or "data-technical" in found or "data-secret" in found,
        )
        if not hidden:
            for name in SHOWN_ATTRIBUTES:
                value = found.get(name)
                if value:
                    self.pieces.append(Piece(value, frame.identifier, frame.technical))
            if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
                self.pieces.append(Piece(found["value"] or ""))
        if tag not in VOID_TAGS:
            self.stack.append(frame)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        top = self._top()
        if not top.hidden and data.strip():
            self.pieces.append(Piece(data.strip(), top.identifier, top.technical))


def visible_pieces(html: str) -> list[Piece]:
    """The runs of text a person can read on the page (title included)."""
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return parser.pieces


def visible_text(html: str) -> str:
    """All visible text, one run per line."""
    return "\n".join(p.text for p in visible_pieces(html))


#: Never on a page, whatever the element.
FORBIDDEN: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("target code", re.compile(r"\b(zone|device):")),
    ("recurrence rule", re.compile(r"\b(FREQ|BYDAY|BYHOUR|BYMINUTE|RRULE|INTERVAL)\b")),
    ("\\u escape", re.compile(r"\\u[0-9a-fA-F]{4}")),
    ("JSON", re.compile(r'[{\[]\s*"|"\s*:\s*["{\[\d]|\b(null|true|false)\b')),
    ("table name", re.compile(r"\b[a-z]+_[a-z_]+\b")),
    ("Python value", re.compile(r"\bNone\b")),
)
#: Not in text meant to be read (identifiers and technicians' details aside).
FORBIDDEN_IN_PROSE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("zone path", re.compile(r"(?<![\w/.:-])[0-9-]*[a-z][a-z0-9-]*/[a-z0-9][a-z0-9-]*")),
    ("slug", re.compile(r"(?<![\w/.:-])[a-z]+[a-z0-9]*(?:-[a-z0-9]+)+(?![\w/-])")),
)

#: Common English words (and the server's codes) that are not Vietnamese syllables too.
ENGLISH_WORDS = frozenset(
    line.strip()
    for line in (Path(__file__).parent / "data" / "english_words.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
#: English-looking words people here read every day: product names and borrowed terms.
ALLOWED_WORDS = frozenset(
    {"bluezone", "mqtt", "rss", "podcast", "csv", "excel", "google", "mb", "kb", "wav", "mp3",
     "flac", "ogg", "ics", "wifi", "internet", "email", "zalo", "covid"}
)  # fmt: skip
_WORD = re.compile(r"(?<![\wÀ-ỹ])[A-Za-z]{2,}(?![\wÀ-ỹ])")


def problems(html: str) -> list[str]:
    """What a person should not read on this page: "kind: excerpt" lines (empty when clean)."""
    found: list[str] = []
    for piece in visible_pieces(html):
        for kind, pattern in FORBIDDEN:
            if not piece.technical and (m := pattern.search(piece.text)):
                found.append(f"{kind}: {m.group(0)!r} in {piece.text[:120]!r}")
        if piece.identifier or piece.technical:
            continue
        for kind, pattern in FORBIDDEN_IN_PROSE:
            if m := pattern.search(piece.text):
                found.append(f"{kind}: {m.group(0)!r} in {piece.text[:120]!r}")
        for word in _WORD.findall(piece.text):
            lower = word.lower()
            if lower in ENGLISH_WORDS and lower not in ALLOWED_WORDS:
                found.append(f"English word: {word!r} in {piece.text[:120]!r}")
    return found


@dataclass
class Checked:
    """Pages checked and what was found on each (for one readable failure)."""

    found: dict[str, list[str]] = field(default_factory=dict)

    def check(self, where: str, html: str) -> None:
        """Record `html`'s problems under `where`."""
        issues = list(dict.fromkeys(problems(html)))
        if issues:
            self.found[where] = issues

    def report(self) -> str:
        """Every page with problems, and the problems."""
        return "\n".join(f"{where}:\n  " + "\n  ".join(v) for where, v in self.found.items())
