"""Web addresses and e-mail addresses as spoken: "chấm" for dots, no "https" and no "www"."""

from __future__ import annotations

import re
from collections.abc import Callable

from announcements.letters import is_vietnamese_syllable, spell
from announcements.numbers import digit_by_digit

#: Top-level domains as Vietnamese speakers say them. "vn" is "vê en": the letter names a
#: broadcaster uses for the country code (rather than the spelling-school "vê nờ").
TLD_WORDS = {
    "vn": "vê en", "com": "com", "net": "nét", "org": "o rờ gờ", "gov": "gờ o vê",
    "edu": "e đu", "info": "in phô", "io": "i o", "int": "in",
}  # fmt: skip

_TLDS = "|".join(sorted(TLD_WORDS, key=len, reverse=True))
#: A URL with a scheme or www, or a bare host name ending in a known top-level domain.
URL_RE = re.compile(
    rf"(?:(?:https?|ftp)://|www\.)[^\s<>\"'()]+"
    rf"|(?<![\w@.])[a-zA-Z0-9][\w-]*(?:\.[\w-]+)*\.(?:{_TLDS})(?![\w-])(?:/[^\s<>\"'()]*)?",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TRAILING = ".,;:!?)]}>"


def syllables(word: str) -> list[str] | None:
    """Cut a run of letters into Vietnamese syllables ("vinhtuong" → vinh, tuong), or None."""
    word = word.lower()
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 7), end):
            head = best[start]
            piece = word[start:end]
            known = best[end]
            fewer = known is None or (head is not None and len(head) + 1 < len(known))
            if head is not None and fewer and is_vietnamese_syllable(piece):
                best[end] = [*head, piece]
    return best[len(word)]


def _say_local_part(label: str, lookup: Callable[[str], str | None]) -> str:
    """Say the part of an e-mail address before @: words as syllables, anything else spelled.

    Abbreviations are not expanded here: "ubnd@…" is a mailbox name, spelled "u bê en đê".
    """
    words: list[str] = []
    for part in re.findall(r"[0-9]+|[^\W\d_]+|[-_.]", label):
        if part.isdigit():
            words.append(digit_by_digit(part))
        elif part in "-_.":
            words.append({"-": "gạch ngang", "_": "gạch dưới", ".": "chấm"}[part])
        elif known := lookup(part):  # the word as written, any case; never "UBND" for "ubnd"
            words.append(known)
        elif (cut := syllables(part)) is not None and len(cut) <= max(1, len(part) // 2):
            words.append(" ".join(cut))
        else:
            words.append(spell(part))
    return " ".join(words)


def _say_label(label: str, lookup: Callable[[str], str | None]) -> str:
    """Say one dot-free piece of an address: a known word, digits one by one, else as written."""
    words: list[str] = []
    for part in re.findall(r"[0-9]+|[^\W\d_]+|-|_", label):
        if part.isdigit():
            words.append(digit_by_digit(part))
        elif part == "-":
            words.append("gạch ngang")
        elif part == "_":
            words.append("gạch dưới")
        else:
            known = TLD_WORDS.get(part.lower()) if len(part) <= 4 else None
            known = known or lookup(part) or lookup(part.upper())
            # Two or three consonants alone are not a word: spell them ("moh" stays, "bgd" spelled).
            no_vowel = not re.search(r"[aeiouyăâêôơư]", part.lower())
            cut = None if known or no_vowel else syllables(part)
            if cut is not None and len(cut) > 1:
                known = " ".join(cut)  # "vinhtuong" → "vinh tuong"
            # Short letter runs that are no syllable ("moh", "gdt") are spelled.
            spelled = no_vowel or (cut is None and len(part) <= 4)
            words.append(known or (spell(part) if spelled else part.lower()))
    return " ".join(words)


def _say_host_path(address: str, lookup: Callable[[str], str | None]) -> str:
    """Say host and path of an address without scheme: dots → chấm, slashes → gạch chéo."""
    pieces: list[str] = []
    for i, segment in enumerate(address.split("/")):
        if not segment:
            continue
        if i:
            pieces.append("gạch chéo")
        labels = [_say_label(lab, lookup) for lab in re.split(r"[.]", segment) if lab]
        pieces.append(" chấm ".join(x for x in labels if x))
    return " ".join(p for p in pieces if p)


def say_url(url: str, lookup: Callable[[str], str | None] = lambda _: None) -> str:
    """Say a web address: "https://www.tokhaiyte.vn/" → "tờ khai y tế chấm vê en"."""
    bare = re.sub(r"^(?:(?:https?|ftp)://)?(?:www\.)?", "", url, flags=re.IGNORECASE)
    bare = re.sub(r"[?#].*$", "", bare)
    return _say_host_path(bare, lookup)


def say_email(address: str, lookup: Callable[[str], str | None] = lambda _: None) -> str:
    """Say an e-mail address with "a còng" for @ and "chấm" for dots."""
    user, _, host = address.partition("@")
    return f"{_say_local_part(user, lookup)} a còng {_say_host_path(host, lookup)}"


def speak_addresses(text: str, lookup: Callable[[str], str | None] = lambda _: None) -> str:
    """Replace every e-mail and web address in `text` by its spoken form."""

    def email(m: re.Match[str]) -> str:
        return f" {say_email(m.group(0), lookup)} "

    def url(m: re.Match[str]) -> str:
        raw = m.group(0)
        stripped = raw.rstrip(_TRAILING)
        return f" {say_url(stripped, lookup)} {raw[len(stripped) :]}"

    return URL_RE.sub(url, EMAIL_RE.sub(email, text))
