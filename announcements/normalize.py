"""Vietnamese text → the words a speaker says.

INTERIM: this module fixes the interface only (whitespace folding, naive sentence split); the
real normaliser replaces it. Callers rely on the two signatures below.
"""

from __future__ import annotations

import re


def normalize(text: str) -> str:
    """Return the spoken form of `text` (interim: whitespace folded)."""
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Split spoken text into sentences small enough for one TTS request each."""
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+", text) if s.strip()]
