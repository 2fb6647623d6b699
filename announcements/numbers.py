"""Vietnamese number words: cardinals, ordinals, decimals, digit-by-digit and Roman numerals."""

from __future__ import annotations

import re

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")

#: Scale words for each group of three digits, lowest first. Beyond "tỷ" Vietnamese stacks the
#: words ("nghìn tỷ", "triệu tỷ"), which is how news readers say them.
_SCALES = ("", "nghìn", "triệu", "tỷ", "nghìn tỷ", "triệu tỷ", "tỷ tỷ")

#: Longest digit string read as one number; longer strings (codes, serials) are read digit by digit.
MAX_CARDINAL_DIGITS = 3 * len(_SCALES)

_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_ROMAN_RE = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")


def _units_after_tens(u: int) -> str:
    """Say the unit digit after "mươi" (21 → mốt, 24 → tư, 25 → lăm)."""
    return {0: "", 1: "mốt", 4: "tư", 5: "lăm"}.get(u, DIGITS[u])


def _triple(n: int, *, full: bool) -> list[str]:
    """Words for 0 ≤ n < 1000; `full` says hundreds are spoken even when zero ("không trăm")."""
    h, t, u = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if h or full:
        words += [DIGITS[h], "trăm"]
    if t == 0:
        if u:
            if words:
                words.append("linh")
            words.append(DIGITS[u])
    elif t == 1:
        words.append("mười")
        if u:
            words.append("lăm" if u == 5 else DIGITS[u])
    else:
        words += [DIGITS[t], "mươi"]
        if u:
            words.append(_units_after_tens(u))
    return words


def cardinal(n: int) -> str:
    """Say a whole number (negative numbers start with "âm")."""
    if n < 0:
        return "âm " + cardinal(-n)
    if n == 0:
        return "không"
    original = n
    groups: list[int] = []
    while n:
        groups.append(n % 1000)
        n //= 1000
    if len(groups) > len(_SCALES):
        return digit_by_digit(str(original))
    words: list[str] = []
    top = len(groups) - 1
    for i in range(top, -1, -1):
        g = groups[i]
        if g == 0:
            continue
        words += _triple(g, full=i != top)
        if _SCALES[i]:
            words.append(_SCALES[i])
    return " ".join(words)


def cardinal_text(digits: str) -> str:
    """Say a string of ASCII digits as a number, or digit by digit when it is a code."""
    if len(digits) > MAX_CARDINAL_DIGITS or (len(digits) >= 3 and digits.startswith("0")):
        return digit_by_digit(digits)
    return cardinal(int(digits))


def ordinal(n: int) -> str:
    """Say the number after "thứ" (1 → nhất, 4 → tư, otherwise the cardinal)."""
    return {1: "nhất", 4: "tư"}.get(n, cardinal(n))


def digit_by_digit(digits: str) -> str:
    """Read each digit on its own, as for phone numbers and codes ("0912" → không chín một hai)."""
    return " ".join(DIGITS[int(c)] for c in digits if c.isascii() and c.isdigit())


def decimal(whole: str, fraction: str, *, point: str = "phẩy") -> str:
    """Say a decimal number: "37", "5" → ba mươi bảy phẩy năm; "2", "05" → hai phẩy không năm."""
    head = cardinal_text(whole)
    zeros = len(fraction) - len(fraction.lstrip("0"))
    rest = fraction[zeros:]
    if len(fraction) > 3:
        tail = digit_by_digit(fraction)
    else:
        tail = " ".join(["không"] * zeros + ([cardinal(int(rest))] if rest else []))
    return f"{head} {point} {tail}"


def roman_to_int(text: str) -> int | None:
    """Value of a well-formed upper-case Roman numeral, or None."""
    if not text or not _ROMAN_RE.fullmatch(text):
        return None
    total = 0
    for i, ch in enumerate(text):
        value = _ROMAN_VALUES[ch]
        nxt = _ROMAN_VALUES[text[i + 1]] if i + 1 < len(text) else 0
        total += -value if value < nxt else value
    return total
