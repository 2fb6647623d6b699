"""The abbreviation table (`abbreviations.tsv` beside this file, extendable) and its expansion."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from announcements.errors import AbbreviationFileError

DEFAULT_FILE = Path(__file__).with_name("abbreviations.tsv")
#: Foreign and brand words as Vietnamese syllables; same format, merged into the default table.
LEXICON_FILE = Path(__file__).with_name("lexicon.tsv")


@dataclass(frozen=True)
class Abbreviations:
    """Written forms → spoken forms; `exact` is case-sensitive, `anycase` keyed by lower case."""

    exact: Mapping[str, str]
    anycase: Mapping[str, str]
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        alternatives: list[str] = []
        keys = [(k, False) for k in self.exact] + [(k, True) for k in self.anycase]
        # Longest first, so "UBMTTQ" wins over "MTTQ" and "TP.HCM" over "TP.".
        for key, anycase in sorted(keys, key=lambda kc: -len(kc[0])):
            alt = re.escape(key)
            if anycase:
                alt = f"(?i:{alt})"
            if key[-1].isalnum():
                alt += r"(?!\w)"
            alternatives.append(alt)
        body = "|".join(alternatives) or r"(?!)"
        object.__setattr__(self, "_pattern", re.compile(rf"(?<![\w.@])(?:{body})"))

    @property
    def pattern(self) -> re.Pattern[str]:
        """Matches every written form of the table as a whole word (longest first)."""
        return self._pattern

    def lookup(self, word: str) -> str | None:
        """Spoken form of one written word, or None when the table does not know it."""
        return self.exact.get(word) or self.anycase.get(word.lower())

    def expand(self, text: str) -> str:
        """Replace every known abbreviation in `text` by its spoken form."""
        return self._pattern.sub(lambda m: f" {self.lookup(m.group(0)) or m.group(0)} ", text)

    def merged(self, other: Abbreviations) -> Abbreviations:
        """This table with `other`'s entries added (other wins on the same written form)."""
        return Abbreviations({**self.exact, **other.exact}, {**self.anycase, **other.anycase})


def parse_abbreviations(lines: Iterable[str], source: str = "<text>") -> Abbreviations:
    """Parse TSV lines (written, spoken[, "i"]) into a table; bad lines raise with their number."""
    exact: dict[str, str] = {}
    anycase: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) not in (2, 3) or not cols[0].strip() or not cols[1].strip():
            raise AbbreviationFileError(
                f"{source}:{number}: expected 'written<TAB>spoken[<TAB>i]', got {line!r}"
            )
        written, spoken = cols[0].strip(), " ".join(cols[1].split())
        if any(c.isdigit() for c in spoken):
            raise AbbreviationFileError(f"{source}:{number}: spoken form has digits: {spoken!r}")
        flag = cols[2].strip() if len(cols) == 3 else ""
        if flag not in ("", "i"):
            raise AbbreviationFileError(f"{source}:{number}: third column must be 'i' or empty")
        if flag == "i":
            anycase[written.lower()] = spoken
        else:
            exact[written] = spoken
    return Abbreviations(exact, anycase)


def load_abbreviations(path: Path, *, base: Abbreviations | None = None) -> Abbreviations:
    """Read a TSV table from `path`, added on top of `base` (the built-in table by default)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AbbreviationFileError(f"cannot read abbreviation file {path}: {exc}") from exc
    table = parse_abbreviations(text.splitlines(), str(path))
    return (base if base is not None else default_abbreviations()).merged(table)


@cache
def default_abbreviations() -> Abbreviations:
    """The built-in table shipped beside this module, with the pronunciation lexicon added."""
    table = parse_abbreviations(DEFAULT_FILE.read_text(encoding="utf-8").splitlines(), "built-in")
    lexicon = parse_abbreviations(LEXICON_FILE.read_text(encoding="utf-8").splitlines(), "lexicon")
    return table.merged(lexicon)
