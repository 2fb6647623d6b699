"""The shared normalisation corpus: at least 95% must pass under its folding rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from announcements.normalize import normalize

REPO = Path(__file__).resolve().parents[2]
# `<repo>/../shared` in a clone beside the shared folder; one level up for a worktree in wt/.
SHARED_CANDIDATES = [
    base / "shared" / "corpus" / "vi-normalize.tsv" for base in (REPO.parent, REPO.parent.parent)
]
VENDORED_CORPUS = Path(__file__).with_name("data") / "vi-normalize.tsv"
CORPUS = next((p for p in SHARED_CANDIDATES if p.exists()), VENDORED_CORPUS)


def fold(text: str) -> str:
    """The corpus header's comparison folding."""
    text = text.lower().replace("ngàn", "nghìn").replace("lẻ", "linh").replace("nhăm", "lăm")
    text = text.replace("mươi tư", "mươi bốn")
    return " ".join(re.sub(r"[\W\d_]+", " ", text).split())


def load_corpus() -> list[tuple[str, str, str]]:
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        mode, source, expected = line.split("\t")
        rows.append((mode, source, expected))
    return rows


def passes(mode: str, source: str, expected: str) -> bool:
    out = normalize(source)
    if mode == "=":
        return fold(out) in {fold(alt) for alt in expected.split(" || ")}
    bad = re.search(r"\d|http|://|www", out.lower())
    return fold(expected) in fold(out) and bad is None


ROWS = load_corpus()


def test_corpus_is_loaded() -> None:
    assert len(ROWS) >= 40


def test_corpus_pass_rate_at_least_95_percent() -> None:
    failed = [(src, normalize(src)) for mode, src, exp in ROWS if not passes(mode, src, exp)]
    rate = 1 - len(failed) / len(ROWS)
    assert rate >= 0.95, f"pass rate {rate:.1%}; failing: {failed}"


@pytest.mark.parametrize(("mode", "source", "expected"), ROWS, ids=[r[1][:30] for r in ROWS])
def test_corpus_line(mode: str, source: str, expected: str) -> None:
    assert passes(mode, source, expected), normalize(source)
