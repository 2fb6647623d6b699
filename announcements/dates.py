"""Vietnamese dates and clock times as spoken ("ngày hai mươi chín tháng bảy", "sáu giờ")."""

from __future__ import annotations

from announcements.numbers import cardinal

#: Month four is "tư", never "bốn"; month one is said "một" in official announcements
#: (the lunar "giêng" and "chạp" are left to the writer).
_MONTHS = {m: cardinal(m) for m in range(1, 13)} | {4: "tư"}


def month_word(month: int) -> str:
    """The word said after "tháng" for a month 1–12 (4 → "tư")."""
    return _MONTHS[month]


def month_name(month: int) -> str:
    """Say "tháng N" for a month 1–12 ("tháng tư")."""
    return f"tháng {_MONTHS[month]}"


def is_date(day: int, month: int, year: int | None = None) -> bool:
    """Whether day/month (and year, if given) can be a calendar date."""
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return False
    if year is not None and not 1 <= year <= 9999:
        return False
    longest = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(month, 31)
    return day <= longest


def say_date(
    day: int | None, month: int, year: int | None = None, *, with_day_word: bool = True
) -> str:
    """Say a date; `with_day_word=False` when the text already has "ngày" before the number."""
    parts: list[str] = []
    if day is not None:
        parts.append(f"ngày {cardinal(day)}" if with_day_word else cardinal(day))
    parts.append(month_name(month))
    if year is not None:
        parts.append(f"năm {cardinal(year)}")
    return " ".join(parts)


def is_time(hour: int, minute: int = 0, second: int = 0) -> bool:
    """Whether the values make a clock time (24:00 allowed as end of day)."""
    if hour == 24:
        return minute == 0 and second == 0
    return 0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60


def say_time(hour: int, minute: int | None = None, second: int | None = None) -> str:
    """Say a clock time: (6, 30) → "sáu giờ ba mươi phút"; (17, 0) → "mười bảy giờ"."""
    words = [cardinal(hour), "giờ"]
    if minute:
        words += [cardinal(minute), "phút"]
    if second:
        words += [cardinal(second), "giây"]
    return " ".join(words)
