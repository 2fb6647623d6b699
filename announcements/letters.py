"""Vietnamese names of letters, for spelling acronyms, and a test for a Vietnamese syllable."""

from __future__ import annotations

import re
import unicodedata

#: How a Vietnamese speaker names each letter when spelling an acronym ("VTV" → vê tê vê).
LETTER_NAMES = {
    "a": "a", "ă": "á", "â": "ớ", "b": "bê", "c": "xê", "d": "dê", "đ": "đê", "e": "e",
    "ê": "ê", "f": "ép", "g": "giê", "h": "hát", "i": "i", "j": "gi", "k": "ca", "l": "lờ",
    "m": "em", "n": "en", "o": "o", "ô": "ô", "ơ": "ơ", "p": "pê", "q": "quy", "r": "rờ",
    "s": "ét", "t": "tê", "u": "u", "ư": "ư", "v": "vê", "w": "vê kép", "x": "ích",
    "y": "i dài", "z": "dét",
}  # fmt: skip

_VOWELS = "aăâeêioôơuưy"
_ONSET = r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnpqrstvx])?"
_CODA = r"(?:ng|nh|ch|[cmnpt])?"
_SYLLABLE = re.compile(rf"{_ONSET}[{_VOWELS}]{{1,3}}{_CODA}")


def _base(ch: str) -> str:
    """The letter without its tone mark (keeps ă â ê ô ơ ư đ)."""
    decomposed = unicodedata.normalize("NFD", ch)
    kept = "".join(c for c in decomposed if c not in "\u0300\u0301\u0303\u0309\u0323")
    return unicodedata.normalize("NFC", kept)


def is_vietnamese_syllable(word: str) -> bool:
    """Whether `word` (any case, with tones) has the shape of one Vietnamese syllable."""
    plain = "".join(_base(c) for c in word.lower())
    return bool(_SYLLABLE.fullmatch(plain))


def spell(word: str) -> str:
    """Spell a word letter by letter with Vietnamese letter names; unknown characters are kept."""
    return " ".join(LETTER_NAMES.get(_base(c.lower()), c) for c in word)
