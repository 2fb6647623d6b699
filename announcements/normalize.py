"""Vietnamese text → the words a speaker says, and pieces of it small enough for one TTS request.

`normalize(text)` returns the spoken form: a fixed series of passes, most specific first.
Characters are cleaned; web and e-mail addresses spoken; place and road prefixes ("H.Vĩnh
Tường", "QL.2C"), weekday abbreviations ("T2-T6", "CN"), abbreviations (`abbreviations.tsv`)
and foreign words (`lexicon.tsv`) expanded; signs kept ("-5 độ" → "âm năm độ"); phone numbers
read digit by digit — but never a number that counts something ("gọi 100 người"); then
dates, document numbers, scores, ratios, fractions ("3/4 số hộ" → "ba phần tư số hộ"),
unit slashes ("đồng/kg" → "đồng một ki lô gam"), ranges with "đến", times, ordinals, numbers
with their units, letter–digit mixes and acronyms. Which reading a number gets is decided by
the words around it, listed in `reading.toml`. Every pass only ever removes digits, so the
result never holds an ASCII digit. Proper names keep their capitals ("Bộ Y tế").

Listening aid: `read(text)` returns a `Reading` with the same spoken form plus every changed
span — its written text, its offsets in `text` and what is said instead — so a page can
highlight each one. Operators correct a span with an `Override` (offsets, written text,
spoken text; JSON via `overrides_to_json` / `overrides_from_json`); `normalize(text,
overrides=[...])` and `read(text, overrides=[...])` say the override instead of the rule's
reading. An override whose written text is no longer in the text (it was edited) is not
applied: `read` returns it in `Reading.stale` and `normalize` logs a warning.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from announcements.abbreviations import Abbreviations, default_abbreviations
from announcements.dates import is_date, is_time, month_word, say_date, say_time
from announcements.errors import MAX_TEXT_CHARS, EmptyText, NothingSpeakable, TextTooLong
from announcements.letters import LETTER_NAMES, is_vietnamese_syllable, spell
from announcements.numbers import (
    cardinal,
    cardinal_text,
    decimal,
    digit_by_digit,
    ordinal,
    roman_to_int,
)
from announcements.reading import ReadingRules, default_rules, words_pattern
from announcements.spans import Override, Span, Tracked, resolve_overrides
from announcements.web import EMAIL_RE, URL_RE, say_email, say_url

log = logging.getLogger(__name__)

#: Longest piece `split_sentences` returns (gTTS sends at most 100 characters per request).
MAX_PIECE_CHARS = 100

_Sub = Callable[[re.Match[str]], str]

# --- characters -------------------------------------------------------------------------------

_CHAR_MAP = {
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2012": "-", "\u2015": "-", "\u2010": "-",
    "\u2011": "-", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2039": "'", "\u203a": "'", "`": "'",
    "\u00b4": "'", "\u2022": "\n", "\u25cf": "\n", "\u25aa": "\n", "\u25a0": "\n",
    "\u25e6": "\n", "\u2023": "\n", "\u00b7": " ", "\t": " ", "\r": "\n", "\u200b": "",
    "\u200c": "", "\u200d": "", "\ufeff": "", "\u2192": " ", "\u2044": " phần ",
    "\ue000": " ",  # the override stand-in (spans.LOCK) never comes from the text itself
}  # fmt: skip
_CHAR_TABLE = str.maketrans(_CHAR_MAP)
_CLUSTER = re.compile(r".[\u0300-\u036f\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*", re.DOTALL)


def _clean_cluster(cluster: str) -> str:
    """NFKC, every decimal digit as ASCII, typographic punctuation as plain ASCII."""
    if cluster.isascii() and cluster not in _CHAR_MAP:
        return cluster
    text = unicodedata.normalize("NFKC", cluster)
    text = "".join(
        str(unicodedata.decimal(c)) if not c.isascii() and unicodedata.decimal(c, None) is not None
        else c
        for c in text
    )  # fmt: skip
    return text.translate(_CHAR_TABLE)


def _clean_characters(t: Tracked) -> None:
    """Characters a voice cannot say as written become plain ones; layout marks become pauses."""
    text = t.text
    edits = []
    for m in _CLUSTER.finditer(text):
        new = _clean_cluster(m.group(0))
        if new != m.group(0):
            edits.append((m.start(), m.end(), new))
    t.apply(edits)
    t.sub(re.compile(r"\*+|_{2,}|<(?=(?:https?://|www\.))", re.IGNORECASE), " ")
    t.sub(re.compile(r"(?m)^[ \t]*[-+>][ \t]+"), "\n")  # list bullets and quote marks
    # "1. Thời gian:" — a numbered item is said "một, thời gian", not a sentence "một."
    t.sub(re.compile(r"(?m)^([ \t]*\d{1,2})[.)][ \t]+(?=\S)"), r"\1, ")
    t.sub(re.compile(r"\(\s*(0\d{1,3})\s*\)\s*"), r"\1 ")  # "(024) 3823 1234"
    t.sub(re.compile(r"<\s*(?=\d)"), " dưới ")
    t.sub(re.compile(r">\s*(?=\d)"), " trên ")
    t.sub(re.compile("≤"), " không quá ")
    t.sub(re.compile("≥"), " từ ")


# --- phone numbers ----------------------------------------------------------------------------

_PHONE_KEYWORDS = (
    r"gọi|hotline|hót lai|đường dây nóng|đường dây hỗ trợ|tổng đài|điện thoại|số máy|fax|"
    r"zalo|da lô|nhắn tin|sms|ét em ét|tin nhắn"
)
_SEP = r"[ .-]"
#: Later groups may be long ("0238.3844123") or a single digit inside the number ("(0238)
#: 3.844.123"), never a single digit at its end ("0912345678 5 lần" is a number and a count).
_MOBILE = re.compile(
    rf"(?<![\w.,/])(\+84{_SEP}?|0)(\d{{2,10}}(?:{_SEP}(?:\d{{2,8}}|\d(?={_SEP}\d)))*)(?![\w])"
)
_SERVICE = re.compile(
    rf"(?<![\w.,/])(1800|1900)({_SEP}?\d{{3,4}}(?:{_SEP}\d{{2,4}})?)(?![\w,.]?\d)"
)


#: Emergency numbers (111 child protection … 115 ambulance): digit by digit when listed after
#: a phone keyword ("gọi 113 (công an), 114 (cứu hỏa), 115"), where `context_phone` reads only
#: the first.
_EMERGENCY = re.compile(r"(?<![\w.,])(11[1-5])(?![\w]|[.,]\d)")
_LISTED_AFTER_PHONE = re.compile(rf"(?i:\b(?:{_PHONE_KEYWORDS}))[^.!?;\n]*(?:,|\bhoặc|\bvà)\s*$")


def _say_digit_groups(groups: list[str]) -> str:
    """Digits of each group one by one, a comma (a short pause) between groups."""
    if len(groups) == 1 and len(groups[0]) in (10, 11):
        g = groups[0]
        cut = (4, 7) if len(g) == 10 else (3, 7)
        groups = [g[: cut[0]], g[cut[0] : cut[1]], g[cut[1] :]]
    return ", ".join(digit_by_digit(g) for g in groups)


def _mobile(m: re.Match[str]) -> str:
    prefix, rest = m.group(1), m.group(2)
    groups = re.split(_SEP, rest)
    # A trailing group may be a separate number ("0912345678 15 người"): keep ≤ 11 digits.
    dropped: list[str] = []
    lead = 1 if prefix == "0" else 0
    while len(groups) > 1 and lead + sum(map(len, groups)) > 11:
        dropped.insert(0, groups.pop())
    if not 9 <= lead + sum(map(len, groups)) <= 11:
        return m.group(0)
    head = "cộng tám bốn" if prefix.startswith("+") else ""
    groups[0] = ("0" if prefix == "0" else "") + groups[0]
    spoken = f"{head} {_say_digit_groups(groups)}".strip()
    return " ".join([f" {spoken}", *dropped]) + " "


def _service(m: re.Match[str]) -> str:
    return f" {_say_digit_groups([m.group(1), *re.split(_SEP, m.group(2).strip(' .-'))])} "


def _context_phone(m: re.Match[str]) -> str:
    number = m.group(1)
    digits = re.sub(r"\D", "", number)
    # Three digits are an emergency number only when they start with 11 (113, 114, 115).
    if len(digits) == 3 and not digits.startswith("11"):
        return m.group(0)
    start = m.start(1) - m.start(0)
    return m.group(0)[:start] + f" {_say_digit_groups(re.split(_SEP, number))} "


# --- dates, quarters, Roman numerals, ranges, times -------------------------------------------

_DAY_WORD = r"(?:(?P<w>\b(?i:ngày|mùng|mồng))\s+)?"
_FULL_DATE = re.compile(
    rf"{_DAY_WORD}(?<![\d.,/])(\d{{1,2}})([/.-])(\d{{1,2}})\3(\d{{4}})(?![\d]|[/.,-]\d)"
)
_ISO_DATE = re.compile(r"(?<![\d.,/-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d]|[/.,-]\d)")
_DAY_RANGE = re.compile(
    rf"{_DAY_WORD}(?<![\d.,/])(\d{{1,2}})\s*-\s*(\d{{1,2}})/(\d{{1,2}})(?:/(\d{{4}}))?"
    r"(?![\d/]|[.,]\d)"
)
#: "các ngày 5, 6 và 7/9": several days of one month.
_DAY_LIST = re.compile(
    r"\b((?i:ngày))\s+((?:\d{1,2}\s*(?:,|;|và|&)\s*)+)(\d{1,2})/(\d{1,2})(?:/(\d{4}))?"
    r"(?![\d/]|[.,]\d)"
)
_SLASH_PAIR = re.compile(rf"{_DAY_WORD}(?<![\d.,/])(\d{{1,3}})/(\d{{1,4}})(?![\d/]|[.,]\d)")
_MONTH_YEAR = re.compile(
    r"(?:(?P<w>\b(?i:tháng))\s+)?(?<![\d.,/])(\d{1,2})/(\d{4})(?![\d/]|[.,]\d)"
)
_MONTH = re.compile(r"\b((?i:tháng))\s+(\d{1,2})(?![\d/]|[.,:]\d)")
#: "thôn 3: 13h30" is no clock at "3: 13": minutes that start another time are not minutes.
_CLOCK = re.compile(
    r"(?<![\w.,:])(\d{1,2})(?P<sep>\s?(?:[hHgG]|:)\s?)(\d{2})(?::(\d{2}))?"
    r"(?P<min>\s?(?:phút|ph|p|')(?!\w))?(?![\d])(?!\s?[hHgG:]\s?\d)"
)
#: Before "a: bb" with a space after the colon, a word that asks for a time ("lúc 19: 30");
#: without one it is a label and a number ("Thôn 1: 25 hộ").
_TIME_BEFORE = re.compile(r"(?i:\b(?:lúc|từ|đến|tới|khoảng|trước|sau|vào|hồi|giờ|thời gian))\s*$")
_DAY_PART_AFTER = re.compile(r"\s*(?i:sáng|trưa|chiều|tối|đêm)\b")
_HOURS = re.compile(r"(?<![\w.,])(\d{1,3})\s?[hH](?![\w])")
_RANGE = re.compile(
    r"(?:(?<=\d)|(?<=\d[hH%'])|(?<=\d\s[hH])|(?<=\d[hH]\d\d)|(?<=\d\s(?i:giờ))|(?<=\d\s(?i:phút)))"
    r"\s*[-~]\s*(?=\d)"
)
_RATIO = re.compile(r"(?<![\w.,:])(\d+):(\d+(?:\.\d{3})*)(?![\d:])")
_SIGN = re.compile(r"(?<![\w.,%')\]/-])-(?=\d)")
_CHAINAGE = re.compile(r"(?<![\w.])(?i:km)\s*(\d{1,4})\s*\+\s*(\d{1,3})(?!\d)")
#: A vehicle plate: "88A-123.45", "30E 12345", "29LD-012.34" — read digit by digit.
_PLATE = re.compile(
    r"(?<![\w.])(\d{2})([A-ZĐ]{1,2})(\d?)\s*[-. ]\s*(\d{3})\.?(\d{2})(?![\w]|[.,]\d)"
)
#: Dimensions: "3x4m", "2,5 x 3 m" → "ba nhân bốn mét".
#: Nine digits or more with no thousands dots: an account, a code, an ID — not an amount.
_LONG_DIGITS = re.compile(r"(?<![\w.,])\d{9,}(?![\d]|[.,]\d)")
#: "7g" is seven o'clock after a time word or before a part of the day, else seven grams.
_HOUR_G = re.compile(r"(?<![\w.,])(\d{1,2})\s?g(?![\w])")
_TIMES = re.compile(
    r"(?<![\w.,])(\d+(?:,\d+)?)\s*[xX×]\s*(\d+(?:,\d+)?)(?=\s?(?:m|cm|mm|km|m2|m3)?(?![\w]))"
)
#: Three numbers joined by hyphens that are no date ("NPK 16-16-8"): said one after another.
_TRIPLE = re.compile(r"(?<![\w.,/-])(\d{1,2})-(\d{1,2})-(\d{1,2})(?![\w/-]|[.,]\d)")
#: Between two full dates, "-" is "đến" ("30/4/1975-30/4/2025").
_DATE_TO_DATE = re.compile(r"(?<=\d{4})\s*-\s*(?=\d{1,2}([/.-])\d{1,2}\1\d{4}(?!\d))")
_DOC_YEAR = re.compile(r"(?<![\w.,/])(\d{1,5})/(\d{4})/")
#: A plus sign leading a number ("+5,2m", a water level above datum) is not said; a minus is.
_PLUS = re.compile(r"(?<![\w.,)%+])(?<!\d\s)\+\s?(?=\d)")
#: Between two "d/m" dates, "-" is "đến" ("1/7 – 15/7/2023"); checked in `_dm_to_dm`.
_DM_TO_DM = re.compile(r"(?<=\d)\s*-\s*(?=(\d{1,2})/(\d{1,2})(?:/\d{4})?(?![\d/]|[.,]\d))")
_DM_BEFORE = re.compile(r"(?<![\d.,/])(\d{1,2})/(\d{1,2})$")
#: "ngày 15-8", "sáng 2-9": a day word, then day-month with a hyphen. Only a pair that cannot
#: be a range of days (the second number smaller) is a date: "ngày 5-6" stays "năm đến sáu".
_DASH_DATE = re.compile(
    r"\b((?i:ngày|mùng|mồng|sáng|trưa|chiều|tối|đêm|hôm))\s+(\d{1,2})-(\d{1,2})"
    r"(?![\d/-]|[.,]\d)"
)
#: "2.145/2.300 phiếu": a count out of a total, written with thousands dots — never a date.
_BIG_SLASH = re.compile(
    r"(?<![\w.,/])(\d{1,3}(?:\.\d{3})+|\d+)\s?/\s?(\d{1,3}(?:\.\d{3})+|\d+)(?![\d/]|[.,]\d)"
)

_ROMAN_KEYWORDS = (
    r"quý|đại hội|thế kỷ|thế kỉ|khóa|khoá|kỳ họp|kỳ|kì|thứ|chương|phần|mục|hội nghị|đợt|"
    r"giai đoạn|tập|cấp|loại|hạng|vòng|khu vực|vùng|quân khu|quân đoàn|sư đoàn|trung đoàn|"
    r"tiểu đoàn|nhóm|bậc|phụ lục|điều|tiết|học kỳ|học kì|thứ tự|báo động"
)
_ROMAN = re.compile(
    rf"\b((?i:{_ROMAN_KEYWORDS}))(\s+)(?:((?i:thứ))\s+)?([IVXLCDM]+)(?:/(\d{{4}}))?(?![\w])"
)
#: A known abbreviation with a Roman numeral stuck to it: "BĐII" → "báo động hai".
#: "Trường THPT Nam Đàn I": a Roman numeral ending a school's name is its number ("một").
_NAME_ROMAN = re.compile(
    r"(\b(?i:trường)\b[^.!?;:,\n]{0,60}?(?<![\w])[A-ZĐÀ-Ỹ][^\W\d_]*\s+)([IVX]{1,4})(?![\w])"
)
_ABBR_ROMAN = re.compile(r"(?<![\w])[A-ZĐ]{2,}[IVX]+(?![\w])")
_QUARTER_YEAR = re.compile(r"\b((?i:quý))\s+(\d)/(\d{4})(?![\d])")
_WEEKDAY_NUMBERS = re.compile(r"\b((?i:thứ))\s+([2-7])\s*-\s*(?:(?i:thứ)\s+)?([2-7])(?!\d)")


def _full_date(m: re.Match[str]) -> str:
    d, mo, y = int(m.group(2)), int(m.group(4)), int(m.group(5))
    if not is_date(d, mo, y):
        return m.group(0)
    word = m.group("w")
    spoken = say_date(d, mo, y, with_day_word=word is None)
    return f" {word} {spoken} " if word else f" {spoken} "


def _iso_date(m: re.Match[str]) -> str:
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return f" {say_date(d, mo, y)} " if is_date(d, mo, y) else m.group(0)


def _day_range(m: re.Match[str]) -> str:
    d1, d2, mo = int(m.group(2)), int(m.group(3)), int(m.group(4))
    y = int(m.group(5)) if m.group(5) else None
    if not (is_date(d1, mo, y) and is_date(d2, mo, y) and d1 < d2):
        return m.group(0)
    word = m.group("w")
    if word is None:
        # "đêm 15-17/10" already says which day: no "ngày" before the first number.
        strong = re.search(r"(?i:\b(?:sáng|trưa|chiều|tối|đêm|hôm))\s*$", _before(m))
        word = "" if strong else "ngày"
    return f" {word} {cardinal(d1)} đến {say_date(d2, mo, y)} "


def _day_list(m: re.Match[str]) -> str:
    days = [int(d) for d in re.findall(r"\d+", m.group(2))] + [int(m.group(3))]
    mo = int(m.group(4))
    y = int(m.group(5)) if m.group(5) else None
    if not all(is_date(d, mo, y) for d in days):
        return m.group(0)
    listed = re.sub(r"\d+", lambda d: cardinal(int(d.group(0))), m.group(2))
    return f"{m.group(1)} {listed}{say_date(int(m.group(3)), mo, y, with_day_word=False)} "


def _month_year(m: re.Match[str]) -> str:
    mo, y = int(m.group(2)), int(m.group(3))
    if not 1 <= mo <= 12:
        return m.group(0)
    return f" {m.group('w') or 'tháng'} {month_word(mo)} năm {cardinal(y)} "


def _month(m: re.Match[str]) -> str:
    mo = int(m.group(2))
    return f"{m.group(1)} {month_word(mo)} " if 1 <= mo <= 12 else m.group(0)


def _clock(m: re.Match[str]) -> str:
    h, mi = int(m.group(1)), int(m.group(3))
    s = int(m.group(4)) if m.group(4) else 0
    sep = m.group("sep")
    if sep.strip() == ":" and sep[-1:].isspace() and not m.group("min"):
        timed = _TIME_BEFORE.search(_before(m)) or _DAY_PART_AFTER.match(_after(m))
        if not timed:
            return m.group(0)
    return f" {say_time(h, mi, s)} " if is_time(h, mi, s) else m.group(0)


def _roman(m: re.Match[str]) -> str:
    value = roman_to_int(m.group(4))
    if value is None:
        return m.group(0)
    keyword, thu = m.group(1), m.group(3)
    as_ordinal = thu is not None or keyword.lower() == "thứ"
    spoken = ordinal(value) if as_ordinal else cardinal(value)
    year = f" năm {cardinal(int(m.group(5)))}" if m.group(5) else ""
    return f"{keyword}{m.group(2)}{thu + ' ' if thu else ''}{spoken}{year} "


def _dm_to_dm(m: re.Match[str]) -> str:
    first = _DM_BEFORE.search(_before(m, width=6))
    if first is None or not is_date(int(first.group(1)), int(first.group(2))):
        return m.group(0)
    return " đến " if is_date(int(m.group(1)), int(m.group(2))) else m.group(0)


def _dash_date(m: re.Match[str]) -> str:
    d, mo = int(m.group(2)), int(m.group(3))
    if not (mo < d and is_date(d, mo)):
        return m.group(0)
    word = m.group(1)
    day_word = word.lower() in ("ngày", "mùng", "mồng")
    return f"{word} {say_date(d, mo, with_day_word=not day_word)} "


def _big_slash(m: re.Match[str]) -> str:
    if "." not in m.group(1) + m.group(2):
        return m.group(0)
    return f" {_number_words(m.group(1))} trên {_number_words(m.group(2))} "


def _name_roman(m: re.Match[str]) -> str:
    value = roman_to_int(m.group(2))
    if value is None or value > 10:
        return m.group(0)
    return f"{m.group(1)}{cardinal(value)} "


def _quarter_year(m: re.Match[str]) -> str:
    return f"{m.group(1)} {cardinal(int(m.group(2)))} năm {cardinal(int(m.group(3)))} "


def _weekday_numbers(m: re.Match[str]) -> str:
    a, b = int(m.group(2)), int(m.group(3))
    return f" {m.group(1)} {ordinal(a)} đến thứ {ordinal(b)} "


def _plate(m: re.Match[str]) -> str:
    letters = spell(m.group(2))
    head = f"{digit_by_digit(m.group(1))} {letters} {digit_by_digit(m.group(3))}".strip()
    return f" {head}, {digit_by_digit(m.group(4) + m.group(5))} "


def _triple(m: re.Match[str]) -> str:
    return " " + ", ".join(cardinal(int(g)) for g in m.groups()) + " "


def fraction(numerator: int, denominator: int) -> str:
    """Say a fraction: (3, 4) → "ba phần tư", (1, 100) → "một phần một trăm"."""
    below = "tư" if denominator == 4 else cardinal(denominator)
    return f"{cardinal(numerator)} phần {below}"


# --- ordinals, numbers and units --------------------------------------------------------------

_ORDINAL = re.compile(r"\b((?i:thứ))\s+(\d{1,4})(?![\d]|[.,:/]\d)")

#: Units said after a number (case-sensitive: "4G" is not four grams).
UNITS = {
    "%": "phần trăm", "°C": "độ xê", "°F": "độ ép", "°": "độ", "km/h": "ki lô mét trên giờ",
    "km2": "ki lô mét vuông", "m2": "mét vuông", "m3": "mét khối", "cm2": "xen ti mét vuông",
    "km": "ki lô mét", "cm": "xen ti mét", "mm": "mi li mét", "m": "mét", "kg": "ki lô gam",
    "mg": "mi li gam", "g": "gam", "ml": "mi li lít", "l": "lít", "ha": "héc ta", "đ": "đồng",
    "VNĐ": "đồng", "VND": "đồng", "vnđ": "đồng", "USD": "đô la Mỹ", "tr": "triệu",
    "kW": "ki lô oát", "kWh": "ki lô oát giờ", "MW": "mê ga oát", "mmHg": "mi li mét thủy ngân",
    "GB": "ghi ga bai", "MB": "mê ga bai", "cm3": "xen ti mét khối", "kV": "ki lô vôn",
    "oC": "độ xê", "k": "nghìn", "MHz": "mê ga héc", "kHz": "ki lô héc", "GHz": "ghi ga héc",
    "Hz": "héc", "°N": "độ vĩ bắc", "°S": "độ vĩ nam", "°E": "độ kinh đông",
    "°W": "độ kinh tây",
}  # fmt: skip
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_NUMBER = re.compile(
    rf"(?<![\w.,])(\d{{1,3}}(?:\.\d{{3}})+|\d+)(?:,(\d+))?(?![\d])(?:\s?({_UNIT_ALT})(?![\w]))?"
)
_DOTTED = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)+")
_MIXED = re.compile(r"(?<![\w])(?=\w*\d)(?=\w*[^\W\d_])\w+")
_DIGITS = re.compile(r"\d+")


def _dotted(m: re.Match[str]) -> str:
    """Dots that are not thousands separators ("mục 1.2", "1.5") are read "chấm"."""
    token = m.group(0)
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+,\d+", token):
        return token
    return " " + token.replace(".", " chấm ").replace(",", " phẩy ") + " "


def _number(m: re.Match[str]) -> str:
    whole = m.group(1).replace(".", "")
    spoken = decimal(whole, m.group(2)) if m.group(2) else cardinal_text(whole)
    unit = m.group(3)
    return f" {spoken} {UNITS[unit]} " if unit else f" {spoken} "


def _number_words(token: str) -> str:
    """Say "1.000" / "12" / "2,5" as a number."""
    whole, _, frac = token.partition(",")
    whole = whole.replace(".", "")
    return decimal(whole, frac) if frac else cardinal_text(whole)


def _mixed(table: Abbreviations) -> _Sub:
    def sub(m: re.Match[str]) -> str:
        words: list[str] = []
        for run in re.findall(r"\d+|[^\W\d_]+", m.group(0)):
            # isdecimal, not isdigit: "❶" is a digit to Python but no number int() reads
            if run.isdecimal() and len(run) >= 4:
                words.append(digit_by_digit(run))  # "OM5451", "IR50404": a code, not a number
            elif run.isdecimal():
                words.append(cardinal_text(run))
            elif known := table.lookup(run):
                words.append(known)
            elif len(run) == 1 and run.isupper():
                words.append(LETTER_NAMES.get(run.lower(), run))
            else:
                words.append(run)
        return f" {' '.join(words)} "

    return sub


# --- acronyms, symbols, punctuation -----------------------------------------------------------

_CAPS = re.compile(r"(?<![\w])[^\W\d_]+(?![\w])")


def _capitals(m: re.Match[str]) -> str:
    """Lower-case all-capital Vietnamese words; spell unknown acronyms and single consonants.

    A single capital vowel is kept as written: it is a word of a name ("Bộ Y tế") or a letter
    that is said as itself ("cúm A").
    """
    word = m.group(0)
    if not word.isupper():
        return word
    if 2 <= len(word) <= 3 and word.isascii() and not _in_capitals_run(m):
        return spell(word)  # "SE1", "UV", "RON 95": bare capitals amid ordinary text are letters
    if len(word) == 1:
        return LETTER_NAMES.get(word.lower(), word) if word not in "AEIOUY" else word
    if is_vietnamese_syllable(word):
        return word.lower()
    if len(word) <= 4 or not re.search(r"[AEIOUYĂÂÊÔƠƯ]", word):
        return spell(word)
    return word.lower()


def _in_capitals_run(m: re.Match[str]) -> bool:
    """Whether the word next to the match (either side) is also written in capitals."""
    before = re.search(r"([^\W\d_]+)[^\w]*$", m.string[max(0, m.start() - 30) : m.start()])
    after = re.match(r"[^\w]*([^\W\d_]+)", m.string[m.end() : m.end() + 30])
    return any(
        x is not None and x.group(1).isupper() and len(x.group(1)) > 1 for x in (before, after)
    )


_SYMBOLS = {
    "&": " và ", "+": " cộng ", "=": " bằng ", "@": " a còng ", "~": " khoảng ",
    "≈": " khoảng ", "±": " cộng trừ ", "×": " nhân ", "÷": " chia ", "$": " đô la ",
    "€": " ơ rô ", "°": " độ ", "/": ", ", "|": ", ", "\\": " ", "(": ", ", ")": ", ",
    "[": ", ", "]": ", ", "{": ", ", "}": ", ", '"': " ", "'": " ", "#": " ", "^": " ",
    "_": " ", "<": " ", ">": " ",
}  # fmt: skip
_SYMBOL_RE = re.compile("|".join(re.escape(s) for s in _SYMBOLS))
#: Symbols (emoji, arrows…) and control characters no voice can say; not the override stand-in.
_UNSPEAKABLE = re.compile("[^\\w\\s.,;:!?\\-\ue000]")


def _unspeakable(m: re.Match[str]) -> str:
    """Symbols go; a pictograph is a pause ("📢 THÔNG BÁO 📢 Ngày mai…" has two parts)."""
    c = m.group(0)
    category = unicodedata.category(c)
    if category == "So":
        return ", "
    if category == "Mn" and unicodedata.name(c, "").startswith("VARIATION SELECTOR"):
        return ""
    return " " if category[0] in "SC" and c != "\n" else c


def _tidy(text: str) -> str:
    """Fold blanks and punctuation runs into the single mark a reader would pause on."""
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)  # "Đông-Tây", leftovers of "Covid-19"
    text = re.sub(r"\s+-+\s+|^\s*-+\s*|\s*-+\s*$|\s-+|-+\s", ", ", text, flags=re.M)
    text = text.replace("-", " ")
    text = re.sub(r"[ \t]*\n\s*", "\n", text)
    text = re.sub(r"(?<=[.!?,;:])\n", " ", text)
    text = re.sub(r"\n", ". ", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+(?=[.!?,;:])", "", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"[,;:]\s*([.!?])", r"\1", text)
    text = re.sub(r"([.!?])(?:\s*[.!?,;:])+", r"\1", text)
    text = re.sub(r"([.!?,;:])(?=[^\s.!?,;:])", r"\1 ", text)
    text = re.sub(r"^[\s.!?,;:]+|[\s,;:]+$", "", text)
    return text.strip()


# --- context ----------------------------------------------------------------------------------


def _before(m: re.Match[str], start: int | None = None, width: int = 40) -> str:
    """Up to `width` characters of the working text before the match (or before `start`)."""
    at = m.start() if start is None else start
    return m.string[max(0, at - width) : at]


def _unsaid(spoken: str, before: str) -> str:
    """The words of a prefix's `spoken` form the text has not just said itself.

    "Đường tỉnh ĐT.534" and "Quốc lộ QL1A" repeat the prefix in words: an announcer says
    "đường tỉnh năm trăm ba mươi tư" once, and "Đường ĐT.309" is "đường tỉnh ba trăm linh chín".
    """
    words = spoken.split()
    tail = before.lower().split()
    for k in range(len(words), 0, -1):
        if tail[-k:] == [w.lower() for w in words[:k]]:
            return " ".join(words[k:])
    return spoken


def _after(m: re.Match[str], width: int = 40) -> str:
    return m.string[m.end() : m.end() + width]


class _Rules:
    """The reading rules compiled into patterns, for one abbreviation table."""

    def __init__(self, table: Abbreviations, rules: ReadingRules) -> None:
        self.table = table
        self.rules = rules

        def ends(words: Iterable[str]) -> re.Pattern[str]:
            return re.compile(rf"(?<![\w])(?:{words_pattern(words)})\s*$")

        def starts(words: Iterable[str]) -> re.Pattern[str]:
            return re.compile(rf"\s*(?:{words_pattern(words)})(?![\w])")

        self.date_strong = ends(rules.date_strong_before)
        self.date_weak = ends(rules.date_before)
        self.name_before = ends(rules.name_before)
        self.address_before = ends(rules.address_before)
        self.address_number_before = ends(rules.address_number_before)
        self.address_after = starts(rules.address_after)
        self.fraction_after = starts(rules.fraction_after)
        self.fraction_before = ends(rules.fraction_before)
        self.date_after = starts(rules.date_after)
        self.ratio_before = ends(rules.ratio_before)
        self.document_before = ends(rules.document_before)
        self.quantity_after = starts(rules.quantity_nouns)
        self.money_after = starts(rules.money_units)
        self.score = re.compile(
            rf"(?<![\w])({words_pattern(rules.score_before)})\s+(\d{{1,2}})\s*[-:]\s*(\d{{1,2}})(?![\d:/])"
        )
        self.context_phone = re.compile(
            rf"(?i:\b(?:{_PHONE_KEYWORDS}))[^\d.!?;\n]{{0,20}}?(?<![\d.,/])"
            rf"(\d{{3,}}(?:{_SEP}\d{{2,4}})*)(?![\d]|[.,]\d)"
            rf"(?!\s*(?:{words_pattern(rules.quantity_nouns)})(?![\w]))"
        )
        self.code = re.compile(
            rf"(?<![\w])(?:{words_pattern(rules.code_before)})[^\d.!?;\n]{{0,40}}?(?<![\d.,/])"
            rf"(\d{{4,}}(?:[ .]\d{{3,}})+|\d{{5,}})(?![\d]|[.,]\d)"
        )
        weekdays = "|".join(re.escape(w) for w in sorted(rules.weekdays, key=len, reverse=True))
        self.weekday_range = re.compile(rf"(?<![\w-])({weekdays})\s*-\s*({weekdays})(?![\w])")
        self.weekday = re.compile(rf"(?<![\w-])({weekdays})(?![\w])")
        name_keys = [k for k, (_, kind) in rules.prefixes.items() if kind in ("name", "both")]
        number_keys = [k for k, (_, kind) in rules.prefixes.items() if kind in ("number", "both")]
        upper = "A-ZĐÀ-ỸẠ-Ỹ"
        self.prefix_name = re.compile(
            rf"(?<![\w.])({_alternation(name_keys)})\s*(?=[{upper}][^\W\d_]*[a-zà-ỹđ])"
        )
        self.prefix_number = re.compile(
            rf"(?<![\w.])({_alternation(number_keys)})\s*(?=[1-9]\d{{0,3}}[A-Z]?(?![\w]|[.,]\d))"
        )
        money = _alternation(rules.money_units)
        other = _alternation(rules.other_units)
        denominators = _alternation(rules.denominators)
        self.per_unit = re.compile(
            rf"(?<![^\W\d_])(?:(?P<money>{money})|(?P<other>{other}))\s*/\s*"
            rf"(?P<den>{denominators})(?:\s*/\s*(?P<den2>{denominators}))?(?![\w/])"
        )
        # "12 tấn búp tươi/ha": a unit abbreviation after a slash, with a number shortly before.
        abbreviated = [k for k, per in rules.denominators.items() if k != per.spoken]
        self.per_abbreviation = re.compile(
            rf"(?<=[^\W\d_])\s*/\s*(?P<den>{_alternation(abbreviated)})(?![\w/])"
        )
        # After money any one word is what is paid for: "8.000 đồng/bản" → "một bản".
        self.per_word = re.compile(
            rf"(?<![^\W\d_])(?P<money>{money})\s*/\s*(?P<word>[a-zà-ỹđ]+)(?![\w/])"
        )
        self.idioms = re.compile(rf"(?<![\w.,/])(?:{_alternation(rules.idioms)})(?![\w/]|[.,]\d)")
        self.mixed = _mixed(table)
        self.document_type = re.compile(
            rf"(?<=\d/)({_alternation(rules.document_types)})(?=[-–][A-ZĐ])"
        )
        # "Covid-19": the hyphen between a name and its number is no minus sign.
        self.abbreviation = re.compile(rf"(?P<abbr>{table.pattern.pattern})(?:-\s?(?=\d))?")

    # -- passes that need the rules ------------------------------------------------------------

    def prefix_name_sub(self, m: re.Match[str]) -> str:
        # "Nguyễn Văn H. Tân" is a person's initial, not a district; "H.Vĩnh Tường", written
        # without a space, is always a prefix.
        spaced = m.group(0) != m.group(1)
        if spaced and re.search(r"(?<![\w])[A-ZĐÀ-Ỹ][a-zà-ỹđ]+\s*$", _before(m)):
            return m.group(0)
        return f" {_unsaid(self.rules.prefixes[m.group(1)][0], _before(m))} "

    def abbreviation_roman_sub(self, m: re.Match[str]) -> str:
        token = m.group(0)
        if self.table.lookup(token) is not None:  # "CAX" is "công an xã", not "CA" and ten
            return token
        for cut in range(len(token) - 1, 1, -1):
            known, value = self.table.lookup(token[:cut]), roman_to_int(token[cut:])
            if known is not None and value is not None and value <= 10:
                return f" {known} {cardinal(value)} "
        return token

    def prefix_number_sub(self, m: re.Match[str]) -> str:
        return f" {_unsaid(self.rules.prefixes[m.group(1)][0], _before(m))} "

    def weekday_range_sub(self, m: re.Match[str]) -> str:
        wd = self.rules.weekdays
        return f" {wd[m.group(1)]} đến {wd[m.group(2)]} "

    def weekday_sub(self, m: re.Match[str]) -> str:
        return f" {self.rules.weekdays[m.group(1)]} "

    def sign_sub(self, m: re.Match[str]) -> str:
        # "5 -7 ngày", "14h -16h" are ranges; only a lone minus is a sign.
        if re.search(r"(?:[\d%'hH]|\d\s(?i:giờ|phút))\s*$", _before(m)):
            return m.group(0)
        return " âm "

    def code_sub(self, m: re.Match[str]) -> str:
        start = m.start(1) - m.start(0)
        return m.group(0)[:start] + f" {_say_digit_groups(re.split(r'[ .]', m.group(1)))} "

    def context_phone_sub(self, m: re.Match[str]) -> str:
        return _context_phone(m)

    def emergency_sub(self, m: re.Match[str]) -> str:
        """ "gọi 113, 114 hoặc 115": the numbers listed after the first are phone numbers too."""
        if self.quantity_after.match(_after(m)) or not _LISTED_AFTER_PHONE.search(
            _before(m, width=80)
        ):
            return m.group(0)
        return f" {digit_by_digit(m.group(1))} "

    def score_sub(self, m: re.Match[str]) -> str:
        return f"{m.group(1)} {cardinal(int(m.group(2)))} {cardinal(int(m.group(3)))} "

    def ratio_sub(self, m: re.Match[str]) -> str:
        a, b = int(m.group(1)), int(m.group(2).replace(".", ""))
        in_context = bool(self.ratio_before.search(_before(m)))
        looks_like_time = len(m.group(2)) == 2 and is_time(a, b)
        if not in_context and looks_like_time:
            return m.group(0)
        return f" {cardinal(a)} trên {cardinal(b)} "

    def doc_year_sub(self, m: re.Match[str]) -> str:
        return f" {cardinal_text(m.group(1))} năm {cardinal(int(m.group(2)))} "

    def idiom_sub(self, m: re.Match[str]) -> str:
        if self.date_strong.search(_before(m)):
            return m.group(0)
        return f" {self.rules.idioms[m.group(0)]} "

    def month_year_sub(self, m: re.Match[str]) -> str:
        if m.group("w") is None and self.document_before.search(_before(m)):
            return f" {cardinal_text(m.group(2))} năm {cardinal(int(m.group(3)))} "
        return _month_year(m)

    def slash_pair_sub(self, m: re.Match[str]) -> str:
        """ "a/b": a date, a street name, a fraction or a ratio, by the words around it."""
        word = m.group("w")
        a, b = int(m.group(2)), int(m.group(3))
        before = _before(m, m.start(2))
        after = _after(m)
        valid = is_date(a, b)
        if word is None and (
            self.address_before.search(before)
            or (self.address_number_before.search(before) and self.address_after.match(after))
        ):
            return f" {cardinal(a)} trên {cardinal(b)} "
        if word is None and self.name_before.search(before) and valid:
            return f" {cardinal(a)} tháng {month_word(b)} "
        strong = word is not None or bool(self.date_strong.search(before))
        if not strong and a > 0 and b > 1:
            if self.fraction_after.match(after) or self.fraction_before.search(before):
                return f" {fraction(a, b)} "
            if self.ratio_before.search(before):
                return f" {cardinal(a)} trên {cardinal(b)} "
            # "8/8 thanh niên đạt chuẩn": a count out of a total, unless a date word leads.
            if a <= b and self.quantity_after.match(after) and not self.date_weak.search(before):
                return f" {cardinal(a)} trên {cardinal(b)} "
            # "2/3 ý kiến tán thành": a small fraction right before a noun.
            if (
                a < b <= self.rules.small_denominator
                and re.match(r" [a-zà-ỹđ]", after)
                and not self.date_after.match(after)
                and not self.date_weak.search(before)
                and not re.search(r"(?i:\b(?:ngày|mùng|mồng|lễ|kỷ niệm|tết)\b)", before[-25:])
            ):
                return f" {fraction(a, b)} "
        if valid:
            spoken = say_date(a, b, with_day_word=word is None)
            return f" {word} {spoken} " if word else f" {spoken} "
        if strong or len(m.group(3)) > 2:
            return m.group(0)
        if 0 < a < b:
            return f" {fraction(a, b)} "
        # "140/90 mmHg": the second number keeps its digits so its unit is read with it.
        return f" {cardinal(a)} trên {m.group(3)}"

    def long_digits_sub(self, m: re.Match[str]) -> str:
        if self.quantity_after.match(_after(m)) or self.money_after.match(_after(m)):
            return m.group(0)
        return f" {_say_digit_groups([m.group(0)])} "

    def hour_g_sub(self, m: re.Match[str]) -> str:
        hour = int(m.group(1))
        time_before = re.search(
            r"(?i:\b(?:lúc|từ|đến|tới|khoảng|trước|sau|vào|hồi))\s*$", _before(m)
        )
        part_after = re.match(r"\s*(?i:sáng|trưa|chiều|tối|đêm|ngày|hôm)\b", _after(m))
        if hour <= 24 and (time_before or part_after):
            return f" {cardinal(hour)} giờ "
        return m.group(0)

    def per_abbreviation_sub(self, m: re.Match[str]) -> str:
        if not re.search(r"\d", _before(m, width=30)):
            return m.group(0)
        per = self.rules.denominators[m.group("den")]
        return f" {per.after_other} {per.spoken} "

    def per_unit_sub(self, m: re.Match[str]) -> str:
        per = self.rules.denominators[m.group("den")]
        second = ""
        if m.group("den2"):  # "15.000 đồng/hộ/tháng" → "... mỗi hộ một tháng"
            per2 = self.rules.denominators[m.group("den2")]
            second = f" {per2.after_money} {per2.spoken}"
        if m.group("money"):
            return f"{m.group('money')} {per.after_money} {per.spoken}{second} "
        # "học sinh/sinh viên" is a list, "50 hộ/thôn" a rate: a rate has a number before it.
        if not re.search(r"\d[\d.,]*\s*$", _before(m)):
            return m.group(0)
        return f"{m.group('other')} {per.after_other} {per.spoken}{second} "


def _alternation(keys: Iterable[str]) -> str:
    """Exact-case alternation of written forms, longest first."""
    alts = sorted(set(keys), key=len, reverse=True)
    return "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in alts) or r"(?!)"


_COMPILED: dict[tuple[int, int], tuple[Abbreviations, ReadingRules, _Rules]] = {}


def _compiled(table: Abbreviations, rules: ReadingRules) -> _Rules:
    """Compile once per (table, rules); the tables are dicts, so they are keyed by identity."""
    key = (id(table), id(rules))
    hit = _COMPILED.get(key)
    if hit is None or hit[0] is not table or hit[1] is not rules:
        if len(_COMPILED) > 32:
            _COMPILED.clear()
        hit = (table, rules, _Rules(table, rules))
        _COMPILED[key] = hit
    return hit[2]


# --- the pipeline -----------------------------------------------------------------------------


def _say_numbers(t: Tracked, r: _Rules) -> None:
    """Every pass that turns digits into words, most specific first."""
    t.sub(_SIGN, r.sign_sub)
    t.sub(_MOBILE, _mobile)
    t.sub(_SERVICE, _service)
    t.sub(r.context_phone, r.context_phone_sub)
    t.sub(_EMERGENCY, r.emergency_sub)
    t.sub(_CHAINAGE, lambda m: f" ki lô mét {cardinal(int(m.group(1)))} cộng "
          f"{cardinal_text(m.group(2))} ")  # fmt: skip
    t.sub(_PLUS, " ")
    t.sub(_PLATE, _plate)
    t.sub(r.code, r.code_sub)
    t.sub(_DATE_TO_DATE, " đến ")
    t.sub(_DM_TO_DM, _dm_to_dm)
    t.sub(_DAY_LIST, _day_list)
    t.sub(_DAY_RANGE, _day_range)
    t.sub(_FULL_DATE, _full_date)
    t.sub(_ISO_DATE, _iso_date)
    t.sub(_DASH_DATE, _dash_date)
    t.sub(_TRIPLE, _triple)
    t.sub(_TIMES, lambda m: f" {_number_words(m.group(1))} nhân {m.group(2)}")
    t.sub(_QUARTER_YEAR, _quarter_year)
    t.sub(_ROMAN, _roman)
    t.sub(_NAME_ROMAN, _name_roman)
    t.sub(_DOC_YEAR, r.doc_year_sub)
    t.sub(r.score, r.score_sub)
    t.sub(_RATIO, r.ratio_sub)
    t.sub(r.idioms, r.idiom_sub)
    t.sub(_WEEKDAY_NUMBERS, _weekday_numbers)
    t.sub(_MONTH_YEAR, r.month_year_sub)
    t.sub(_RANGE, " đến ")
    t.sub(_BIG_SLASH, _big_slash)
    t.sub(_SLASH_PAIR, r.slash_pair_sub)
    t.sub(r.per_unit, r.per_unit_sub)
    t.sub(r.per_word, lambda m: f"{m.group('money')} một {m.group('word')} ")
    t.sub(r.per_abbreviation, r.per_abbreviation_sub)
    t.sub(_MONTH, _month)
    t.sub(_CLOCK, _clock)
    t.sub(re.compile(r"(?<=\d)(\s+(?i:giờ))\s+00(?!\d)(?:\s+(?i:phút)(?!\w))?"), r"\1")
    t.sub(_HOUR_G, r.hour_g_sub)
    t.sub(_HOURS, lambda m: f" {cardinal_text(m.group(1))} giờ ")
    t.sub(_ORDINAL, lambda m: f"{m.group(1)} {ordinal(int(m.group(2)))} ")
    t.sub(_LONG_DIGITS, r.long_digits_sub)
    t.sub(_DOTTED, _dotted)
    t.sub(_NUMBER, _number)
    t.sub(_MIXED, r.mixed)
    t.sub(_DIGITS, lambda m: f" {cardinal_text(m.group(0))} ")


def _run(t: Tracked, table: Abbreviations, rules: ReadingRules) -> None:
    r = _compiled(table, rules)
    _clean_characters(t)
    t.sub(EMAIL_RE, lambda m: f" {say_email(m.group(0), table.lookup)} ")

    def url(m: re.Match[str]) -> str:
        raw = m.group(0)
        stripped = raw.rstrip(".,;:!?)]}>")
        return f" {say_url(stripped, table.lookup)} {raw[len(stripped) :]}"

    t.sub(URL_RE, url)
    t.sub(r.prefix_number, r.prefix_number_sub)
    t.sub(r.prefix_name, r.prefix_name_sub)
    t.sub(r.document_type, lambda m: f" {r.rules.document_types[m.group(1)]} ")
    t.sub(r.weekday_range, r.weekday_range_sub)
    t.sub(r.weekday, r.weekday_sub)
    t.sub(_ABBR_ROMAN, r.abbreviation_roman_sub)
    t.sub(r.abbreviation, lambda m: f" {table.lookup(m.group('abbr')) or m.group('abbr')} ")
    t.sub(
        re.compile(r"(?<=[^\W\d_])(?<!\d[hHgG])(?<!°[NSEW])-(?=\d)"), " "
    )  # "Covid-19", "SARS-CoV-2": name, number
    _say_numbers(t, r)
    t.sub(re.compile(r"(?<=\bđộ )C(?![\w])"), "xê")
    t.sub(re.compile(r"(?<=\bđộ )F(?![\w])"), "ép")
    t.sub(_CAPS, _capitals)
    t.sub(_SYMBOL_RE, lambda m: _SYMBOLS[m.group(0)])
    t.sub(_UNSPEAKABLE, _unspeakable)


@dataclass(frozen=True)
class Reading:
    """The spoken form of a text, every changed span of it, and overrides that no longer fit."""

    text: str
    spoken: str
    spans: tuple[Span, ...]
    stale: tuple[Override, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form a listening page uses."""
        return {
            "text": self.text,
            "spoken": self.spoken,
            "spans": [s.to_dict() for s in self.spans],
            "stale": [o.to_dict() for o in self.stale],
        }


def read(
    text: str,
    *,
    abbreviations: Abbreviations | None = None,
    overrides: Iterable[Override] = (),
    rules: ReadingRules | None = None,
) -> Reading:
    """Spoken form of `text` with its changed spans; `overrides` replace the rules' readings."""
    table = abbreviations if abbreviations is not None else default_abbreviations()
    resolution = resolve_overrides(text, overrides)
    t = Tracked(text, resolution.applied)
    _run(t, table, rules if rules is not None else default_rules())
    return Reading(text, _tidy(t.joined()), tuple(t.spans(_tidy)), resolution.stale)


def normalize(
    text: str,
    *,
    abbreviations: Abbreviations | None = None,
    overrides: Sequence[Override] | None = None,
) -> str:
    """Return the spoken form of `text` (no digits, no symbols; punctuation kept for pauses)."""
    reading = read(text, abbreviations=abbreviations, overrides=overrides or ())
    for o in reading.stale:
        log.warning("override no longer matches the text, not applied: %r", o)
    return reading.spoken


def check_text(text: str, *, abbreviations: Abbreviations | None = None) -> str:
    """Validate announcement text and return its spoken form (raises AnnouncementError)."""
    if not text or not text.strip():
        raise EmptyText()
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(len(text))
    spoken = normalize(text, abbreviations=abbreviations)
    if not any(c.isalpha() for c in spoken):
        raise NothingSpeakable(text)
    return spoken


# --- sentence splitting -----------------------------------------------------------------------


def _pack(parts: list[str], limit: int) -> list[str]:
    """Join consecutive parts with spaces into pieces of at most `limit` characters."""
    pieces: list[str] = []
    current = ""
    for part in parts:
        if current and len(current) + 1 + len(part) <= limit:
            current += " " + part
        else:
            if current:
                pieces.append(current)
            current = part
    if current:
        pieces.append(current)
    return pieces


def _fit(sentence: str, limit: int) -> list[str]:
    """Cut one sentence at clause marks, then between words, then (last resort) anywhere."""
    if len(sentence) <= limit:
        return [sentence]
    out: list[str] = []
    for clause in _pack(re.split(r"(?<=[,;:])\s+", sentence), limit):
        if len(clause) <= limit:
            out.append(clause)
            continue
        for chunk in _pack(clause.split(" "), limit):
            out += [chunk[i : i + limit] for i in range(0, len(chunk), limit)]
    return out


def split_sentences(text: str, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """Split spoken text into sentences, each cut to at most `max_chars` characters."""
    pieces: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        sentence = " ".join(sentence.split())
        if sentence:
            pieces += _fit(sentence, max_chars)
    return pieces
