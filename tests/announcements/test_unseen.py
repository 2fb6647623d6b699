"""Realistic announcements written after the rules (data/unseen-announcements.toml): each is
read as an announcer would say it, whatever its Unicode form or spacing."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from announcements.corpus_report import fold
from announcements.normalize import normalize

DATA = Path(__file__).with_name("data") / "unseen-announcements.toml"
ANNOUNCEMENTS: list[dict[str, Any]] = tomllib.loads(DATA.read_text(encoding="utf-8"))[
    "announcement"
]


def source(item: dict[str, Any]) -> str:
    """The text as it reaches the normaliser: decomposed when the entry says NFD."""
    text: str = item["text"]
    return unicodedata.normalize("NFD", text) if item.get("form") == "NFD" else text


def test_the_set_is_large_and_covers_every_kind() -> None:
    kinds = Counter(item["kind"] for item in ANNOUNCEMENTS)
    assert len(ANNOUNCEMENTS) >= 40
    assert set(kinds) >= {"vaccine", "storm", "health", "money", "address", "politics", "lunar"}
    assert min(kinds.values()) >= 3, kinds
    # the awkward inputs the task names are really in the set
    texts = [source(item) for item in ANNOUNCEMENTS]
    assert any("\u00a0" in t for t in texts)
    assert any(t != unicodedata.normalize("NFC", t) for t in texts)
    assert any(unicodedata.category(c) == "So" for t in texts for c in t)
    assert any(re.search(r"(?m)^\s*[-•]", t) for t in texts)


@pytest.mark.parametrize(
    "item", ANNOUNCEMENTS, ids=[f"{i}-{a['kind']}" for i, a in enumerate(ANNOUNCEMENTS)]
)
def test_unseen_announcement(item: dict[str, Any]) -> None:
    spoken = normalize(source(item))
    assert not re.search(r"[0-9]", spoken)
    assert fold(spoken) == fold(item["spoken"])


def test_decomposed_text_reads_like_composed() -> None:
    nfd = [item for item in ANNOUNCEMENTS if item.get("form") == "NFD"]
    assert nfd
    for item in nfd:
        assert normalize(source(item)) == normalize(item["text"])
