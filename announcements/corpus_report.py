"""Score the normaliser on a corpus file and print accuracy per category.

    python -m announcements.corpus_report [CORPUS.tsv] [--failures]

The corpus format (see the header of tests/announcements/data/vi-normalize.tsv): lines
`mode <TAB> input <TAB> expected [<TAB> category]`; "#" lines and blank lines are comments.
Mode "=": after folding, the output equals one of the " || "-separated alternatives. Mode "~":
after folding, the output contains the expected phrase and no digit, "http", "://" or "www".
Rows without a category count as "general".
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from announcements.normalize import normalize

#: The project's own corpus, in a source checkout.
DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[1] / "tests" / "announcements" / "data" / "vi-normalize.tsv"
)


@dataclass(frozen=True)
class Row:
    """One corpus line."""

    line: int
    mode: str
    source: str
    expected: str
    category: str


def fold(text: str) -> str:
    """The corpus header's comparison folding."""
    text = text.lower().replace("ngàn", "nghìn").replace("lẻ", "linh").replace("nhăm", "lăm")
    text = text.replace("mươi tư", "mươi bốn")
    return " ".join(re.sub(r"[\W\d_]+", " ", text).split())


def load_corpus(path: Path) -> list[Row]:
    """Read a corpus file; a malformed line raises ValueError naming it."""
    rows: list[Row] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("#") or not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) not in (3, 4) or cols[0] not in ("=", "~"):
            raise ValueError(f"{path}:{number}: expected 'mode<TAB>input<TAB>expected[<TAB>cat]'")
        category = cols[3].strip() if len(cols) == 4 and cols[3].strip() else "general"
        rows.append(Row(number, cols[0], cols[1], cols[2], category))
    return rows


def passes(row: Row, spoken: Callable[[str], str] = normalize) -> bool:
    """Whether the normaliser's output for the row matches its expectation."""
    out = spoken(row.source)
    if row.mode == "=":
        return fold(out) in {fold(alt) for alt in row.expected.split(" || ")}
    bad = re.search(r"\d|http|://|www", out.lower())
    return fold(row.expected) in fold(out) and bad is None


@dataclass(frozen=True)
class Score:
    """Rows passed and failed in one category."""

    category: str
    passed: int
    total: int

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 1.0


def score(rows: Sequence[Row]) -> tuple[list[Score], list[Row]]:
    """Per-category scores (in order of first appearance) and the failing rows."""
    order: list[str] = []
    counts: dict[str, list[int]] = {}
    failed: list[Row] = []
    for row in rows:
        if row.category not in counts:
            order.append(row.category)
            counts[row.category] = [0, 0]
        ok = passes(row)
        counts[row.category][0] += ok
        counts[row.category][1] += 1
        if not ok:
            failed.append(row)
    return [Score(c, *counts[c]) for c in order], failed


def report(rows: Sequence[Row]) -> str:
    """A plain-text table: category, rows, passed, accuracy; then the overall line."""
    scores, _ = score(rows)
    lines = [f"{'category':<16} {'rows':>5} {'passed':>7} {'accuracy':>9}"]
    for s in scores:
        lines.append(f"{s.category:<16} {s.total:>5} {s.passed:>7} {s.rate:>9.1%}")
    total = sum(s.total for s in scores)
    passed = sum(s.passed for s in scores)
    lines.append(f"{'overall':<16} {total:>5} {passed:>7} {passed / max(total, 1):>9.1%}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the per-category table (and failures with --failures); 1 if a row fails."""
    parser = argparse.ArgumentParser(prog="python -m announcements.corpus_report")
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--failures", action="store_true", help="list every failing row")
    args = parser.parse_args(argv)
    rows = load_corpus(args.corpus)
    print(report(rows))
    _, failed = score(rows)
    if args.failures:
        for row in failed:
            print(f"\n{args.corpus.name}:{row.line} [{row.category}] {row.source}")
            print(f"  expected: {row.expected}")
            print(f"  got:      {normalize(row.source)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
