"""Vietnamese text → the words a speaker says, and pieces of it small enough for one TTS request.

`normalize` runs a fixed series of passes, most specific first: characters are cleaned, web
and e-mail addresses spoken, abbreviations expanded (table in `abbreviations.tsv`), phone numbers
read digit by digit, then dates, quarters and Roman numerals, ranges, times, ordinals, numbers
with their units, letter–digit mixes ("F0", "H5N1"), acronyms, and finally symbols and
punctuation. Every pass only ever removes digits, so the result never holds an ASCII digit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

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
from announcements.web import speak_addresses

#: Longest piece `split_sentences` returns (gTTS sends at most 100 characters per request).
MAX_PIECE_CHARS = 100

_Sub = Callable[[re.Match[str]], str]

# --- characters -------------------------------------------------------------------------------

_CHAR_MAP = str.maketrans(
    {
        "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2012": "-", "\u2015": "-", "\u2010": "-",
        "\u2011": "-", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2039": "'", "\u203a": "'", "`": "'",
        "\u00b4": "'", "\u2022": "\n", "\u25cf": "\n", "\u25aa": "\n", "\u25a0": "\n",
        "\u25e6": "\n", "\u2023": "\n", "\u00b7": " ", "\t": " ", "\r": "\n", "\u200b": "",
        "\u200c": "", "\u200d": "", "\ufeff": "", "\u2192": " ", "\u2044": " phần ",
    }
)  # fmt: skip


def _clean_characters(text: str) -> str:
    """NFKC, every decimal digit as ASCII, typographic punctuation as plain ASCII."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(
        str(unicodedata.decimal(c)) if not c.isascii() and unicodedata.decimal(c, None) is not None
        else c
        for c in text
    )  # fmt: skip
    text = text.translate(_CHAR_MAP)
    text = re.sub(r"\*+|_{2,}|<(?=(?:https?://|www\.))", " ", text, flags=re.IGNORECASE)
    text = re.sub(r"(?m)^\s*[-+>]\s+", "\n", text)  # list bullets and quote marks at line start
    text = re.sub(r"\(\s*(0\d{1,3})\s*\)\s*", r"\1 ", text)  # "(024) 3823 1234"
    text = re.sub(r"<\s*(?=\d)", " dưới ", text)
    text = re.sub(r">\s*(?=\d)", " trên ", text)
    text = text.replace("≤", " không quá ").replace("≥", " từ ")
    return text


# --- phone numbers ----------------------------------------------------------------------------

_PHONE_KEYWORDS = (
    r"gọi|hotline|đường dây nóng|đường dây hỗ trợ|tổng đài|điện thoại|số máy|fax|zalo|"
    r"nhắn tin|sms|tin nhắn"
)
_SEP = r"[ .-]"
_MOBILE = re.compile(rf"(?<![\w.,/])(\+84{_SEP}?|0)(\d{{2,10}}(?:{_SEP}\d{{2,4}})*)(?![\w])")
_SERVICE = re.compile(
    rf"(?<![\w.,/])(1800|1900)({_SEP}?\d{{3,4}}(?:{_SEP}\d{{2,4}})?)(?![\w,.]?\d)"
)
_CONTEXT = re.compile(
    rf"(?i:\b(?:{_PHONE_KEYWORDS}))[^\d.!?;\n]{{0,20}}?(?<![\d.,/])(\d{{3,}}(?:{_SEP}\d{{2,4}})*)(?![\d]|[.,]\d)"
)


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
    start = m.start(1) - m.start(0)
    return m.group(0)[:start] + f" {_say_digit_groups(re.split(_SEP, m.group(1)))} "


# --- dates, quarters, Roman numerals, ranges, times -------------------------------------------

_DAY_WORD = r"(?:(?P<w>\b(?i:ngày|mùng|mồng))\s+)?"
_FULL_DATE = re.compile(
    rf"{_DAY_WORD}(?<![\d.,/])(\d{{1,2}})([/.-])(\d{{1,2}})\3(\d{{4}})(?![\d]|[/.,-]\d)"
)
_ISO_DATE = re.compile(r"(?<![\d.,/-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d]|[/.,-]\d)")
_DAY_MONTH = re.compile(rf"{_DAY_WORD}(?<![\d.,/])(\d{{1,2}})/(\d{{1,2}})(?![\d/]|[.,]\d)")
_MONTH_YEAR = re.compile(
    r"(?:(?P<w>\b(?i:tháng))\s+)?(?<![\d.,/])(\d{1,2})/(\d{4})(?![\d/]|[.,]\d)"
)
_MONTH = re.compile(r"\b((?i:tháng))\s+(\d{1,2})(?![\d/]|[.,:]\d)")
_CLOCK = re.compile(
    r"(?<![\w.,:])(\d{1,2})\s?(?:[hHgG]|:)\s?(\d{2})(?::(\d{2}))?(?:\s?(?:phút|ph|p|')(?!\w))?(?![\d])"
)
_HOURS = re.compile(r"(?<![\w.,])(\d{1,3})\s?[hH](?![\w])")
_RANGE = re.compile(r"(?:(?<=\d)|(?<=\d[hH%'])|(?<=\d\s[hH]))\s*[-~]\s*(?=\d)")

_ROMAN_KEYWORDS = (
    r"quý|đại hội|thế kỷ|thế kỉ|khóa|khoá|kỳ họp|kỳ|kì|thứ|chương|phần|mục|hội nghị|đợt|"
    r"giai đoạn|tập|cấp|loại|hạng|vòng|khu vực|vùng|quân khu|quân đoàn|sư đoàn|trung đoàn|"
    r"tiểu đoàn|nhóm|bậc|phụ lục|điều|tiết|học kỳ|học kì|thứ tự"
)
_ROMAN = re.compile(
    rf"\b((?i:{_ROMAN_KEYWORDS}))(\s+)(?:((?i:thứ))\s+)?([IVXLCDM]+)(?:/(\d{{4}}))?(?![\w])"
)
_QUARTER_YEAR = re.compile(r"\b((?i:quý))\s+(\d)/(\d{4})(?![\d])")


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


def _day_month(m: re.Match[str]) -> str:
    d, mo = int(m.group(2)), int(m.group(3))
    if not is_date(d, mo):
        return m.group(0)
    word = m.group("w")
    spoken = say_date(d, mo, with_day_word=word is None)
    return f" {word} {spoken} " if word else f" {spoken} "


def _month_year(m: re.Match[str]) -> str:
    mo, y = int(m.group(2)), int(m.group(3))
    if not 1 <= mo <= 12:
        return m.group(0)
    return f" {m.group('w') or 'tháng'} {month_word(mo)} năm {cardinal(y)} "


def _month(m: re.Match[str]) -> str:
    mo = int(m.group(2))
    return f"{m.group(1)} {month_word(mo)} " if 1 <= mo <= 12 else m.group(0)


def _clock(m: re.Match[str]) -> str:
    h, mi = int(m.group(1)), int(m.group(2))
    s = int(m.group(3)) if m.group(3) else 0
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


def _quarter_year(m: re.Match[str]) -> str:
    return f"{m.group(1)} {cardinal(int(m.group(2)))} năm {cardinal(int(m.group(3)))} "


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
    "GB": "ghi ga bai", "MB": "mê ga bai",
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


def _mixed(table: Abbreviations) -> _Sub:
    def sub(m: re.Match[str]) -> str:
        words: list[str] = []
        for run in re.findall(r"\d+|[^\W\d_]+", m.group(0)):
            if run.isdigit():
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
    """Lower-case all-capital Vietnamese words; spell unknown acronyms and single capitals."""
    word = m.group(0)
    if not word.isupper():
        return word
    if len(word) == 1:
        return LETTER_NAMES.get(word.lower(), word) if word not in "AEIOUY" else word.lower()
    if is_vietnamese_syllable(word):
        return word.lower()
    if len(word) <= 4 or not re.search(r"[AEIOUYĂÂÊÔƠƯ]", word):
        return spell(word)
    return word.lower()


_SYMBOLS = {
    "&": " và ", "+": " cộng ", "=": " bằng ", "@": " a còng ", "~": " khoảng ",
    "≈": " khoảng ", "±": " cộng trừ ", "×": " nhân ", "÷": " chia ", "$": " đô la ",
    "€": " ơ rô ", "°": " độ ", "/": ", ", "|": ", ", "\\": " ", "(": ", ", ")": ", ",
    "[": ", ", "]": ", ", "{": ", ", "}": ", ", '"': " ", "'": " ", "#": " ", "^": " ",
    "_": " ", "<": " ", ">": " ",
}  # fmt: skip
_SYMBOL_RE = re.compile("|".join(re.escape(s) for s in _SYMBOLS))


def _drop_unspeakable(text: str) -> str:
    """Blank out symbols (emoji, arrows…) and control characters that no voice can say."""
    return "".join(" " if unicodedata.category(c)[0] in "SC" and c != "\n" else c for c in text)


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


def normalize(text: str, *, abbreviations: Abbreviations | None = None) -> str:
    """Return the spoken form of `text` (no digits, no symbols; punctuation kept for pauses)."""
    table = abbreviations if abbreviations is not None else default_abbreviations()
    s = _clean_characters(text)
    s = speak_addresses(s, table.lookup)
    s = table.expand(s)
    s = re.sub(r"(?<=[^\W\d_])\s*-(?=\d)", " ", s)  # "Covid-19", "SARS-CoV-2" → name then number
    s = _MOBILE.sub(_mobile, s)
    s = _SERVICE.sub(_service, s)
    s = _CONTEXT.sub(_context_phone, s)
    s = _FULL_DATE.sub(_full_date, s)
    s = _ISO_DATE.sub(_iso_date, s)
    s = _QUARTER_YEAR.sub(_quarter_year, s)
    s = _ROMAN.sub(_roman, s)
    s = _RANGE.sub(" đến ", s)
    s = _MONTH_YEAR.sub(_month_year, s)
    s = _DAY_MONTH.sub(_day_month, s)
    s = _MONTH.sub(_month, s)
    s = _CLOCK.sub(_clock, s)
    s = re.sub(r"(?<=\d)(\s+(?i:giờ))\s+00(?!\d)(?:\s+(?i:phút)(?!\w))?", r"\1", s)  # "8 giờ 00"
    s = _HOURS.sub(lambda m: f" {cardinal_text(m.group(1))} giờ ", s)
    s = _ORDINAL.sub(lambda m: f"{m.group(1)} {ordinal(int(m.group(2)))} ", s)
    s = _DOTTED.sub(_dotted, s)
    s = _NUMBER.sub(_number, s)
    s = _MIXED.sub(_mixed(table), s)
    s = _DIGITS.sub(lambda m: f" {cardinal_text(m.group(0))} ", s)
    s = re.sub(r"(?<=\bđộ )C(?![\w])", "xê", s)
    s = re.sub(r"(?<=\bđộ )F(?![\w])", "ép", s)
    s = _CAPS.sub(_capitals, s)
    s = _SYMBOL_RE.sub(lambda m: _SYMBOLS[m.group(0)], s)
    s = _drop_unspeakable(s)
    return _tidy(s)


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
