"""Vietnamese calendars for schedules: public holidays and lunar (âm lịch) days.

A schedule's RRULE says at which local instants it may sound; two day filters, stored beside
it, then keep or drop each instant by its *local calendar date* in the schedule's zone:

* `HolidayPolicy` — `"include"` (holidays are ordinary days), `"skip"` (no occurrence on a
  Vietnamese public holiday) or `"only"` (occurrences on public holidays only). Public holidays
  are those of the `holidays` library for Vietnam (category public): Tết Dương lịch, the Tết
  Nguyên Đán days, Giỗ Tổ Hùng Vương, 30/4, 1/5, Quốc khánh (two days since 2025), Ngày Văn
  hóa Việt Nam (24/11, from 2026) and the substitute and swapped days off the library knows.
  For years the government has not yet announced, the Tết days are the library's estimate.
* `LunarRule` — lunar days of the month (1…30) and, optionally, lunar months (1…12): "mùng 1
  và rằm hằng tháng" is days (1, 15) in every month; "30 tháng Chạp" is day 30 of month 12.
  Lunar dates are those of the Vietnamese calendar (new moons reckoned at UTC+7, Hồ Ngọc Đức's
  algorithm as implemented by `lunar-vn`), which differs from the Chinese calendar (UTC+8) in
  some months — Tết 2030 is 2 February in Vietnam and 3 February in China.

Rules on lunar days, chosen so that a rule always means one day a person would name:

* A lunar month has 29 or 30 days. Day 30 in a month of 29 days is that month's last day
  (the 29th): "30 tháng Chạp" is New Year's Eve (giao thừa) every year, as it is said.
  Days 1…29 exist in every month.
* Without months, the days are kept in every month, leap months (tháng nhuận) included —
  mùng 1 and rằm are kept in a leap month too. With months, only the regular month of that
  number counts: a festival on "10 tháng 3" is held in the third month, not in a leap third.
* Conversion covers 1900…2100 (`lunar-vn`'s range); outside it no day is a lunar match.

Both filters apply together (an instant must pass each) and after the RRULE, start, end and
exception dates. They are pure functions of a date, cached, and cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Final, Literal, get_args

import holidays as holidays_lib
import lunar_vn

from pa_server.planning.model import PlanError

HolidayPolicy = Literal["include", "skip", "only"]
HOLIDAY_POLICIES: Final[tuple[str, ...]] = get_args(HolidayPolicy)
#: Years `lunar-vn` converts; outside them no date is a lunar match.
LUNAR_YEARS: Final = lunar_vn.SUPPORTED_YEAR_RANGE
LAST_LUNAR_DAY: Final = 30
#: How far ahead `first_day` looks for a day that passes the filters (three lunar years and
#: a little: a rule naming a month and a day occurs at least once in any such span).
SEARCH_DAYS: Final = 3 * 366 + 31


@dataclass(frozen=True, slots=True)
class LunarDay:
    """One day of the Vietnamese lunar calendar; `last` when its month ends on it."""

    year: int
    month: int
    day: int
    leap: bool
    last: bool


@dataclass(frozen=True, slots=True)
class LunarRule:
    """Lunar days of the month (1…30) and, optionally, lunar months (1…12; empty: every month,
    leap months included). Construction validates; values are kept sorted and unique."""

    days: tuple[int, ...]
    months: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.days:
            raise PlanError("invalid_lunar_day", "a lunar rule needs at least one lunar day")
        for day in self.days:
            if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 30:
                raise PlanError(
                    "invalid_lunar_day", f"a lunar day is a whole number from 1 to 30, got {day!r}"
                )
        for month in self.months:
            if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
                raise PlanError(
                    "invalid_lunar_month",
                    f"a lunar month is a whole number from 1 to 12, got {month!r}",
                )
        object.__setattr__(self, "days", tuple(sorted(set(self.days))))
        object.__setattr__(self, "months", tuple(sorted(set(self.months))))

    def matches(self, day: LunarDay) -> bool:
        """True when the lunar `day` is one this rule names (day 30 → a 29-day month's last)."""
        if self.months and (day.leap or day.month not in self.months):
            return False
        if day.day in self.days:
            return True
        return day.last and day.day == LAST_LUNAR_DAY - 1 and LAST_LUNAR_DAY in self.days


def lunar_rule(stored: Mapping[str, Any] | None) -> LunarRule | None:
    """The rule a stored or posted `{"days": […], "months": […]}` describes (None: none)."""
    if stored is None:
        return None
    return LunarRule(tuple(stored.get("days") or ()), tuple(stored.get("months") or ()))


def check_policy(policy: str) -> HolidayPolicy:
    """`policy` as a `HolidayPolicy`, or `PlanError(code="invalid_holiday_policy")`."""
    if policy not in HOLIDAY_POLICIES:
        raise PlanError(
            "invalid_holiday_policy",
            f"holidays must be one of {', '.join(HOLIDAY_POLICIES)}, got {policy!r}",
        )
    return policy  # type: ignore[return-value]


@lru_cache(maxsize=8192)
def lunar_day(day: date) -> LunarDay | None:
    """The Vietnamese lunar date of the civil `day`, or None outside `LUNAR_YEARS`."""
    if not date(LUNAR_YEARS[0], 1, 1) <= day < date(LUNAR_YEARS[1], 12, 31):
        return None
    here = lunar_vn.solar_to_lunar(day)
    following = lunar_vn.solar_to_lunar(day + timedelta(days=1))
    return LunarDay(here.year, here.month, here.day, here.leap, last=following.day == 1)


@lru_cache(maxsize=512)
def _holidays_of(year: int) -> dict[date, str]:
    table = holidays_lib.country_holidays("VN", years=year, language="vi")
    return dict(table.items())


def public_holiday(day: date) -> str | None:
    """The Vietnamese name of the public holiday on `day` (several joined by "; "), or None."""
    return _holidays_of(day.year).get(day)


def public_holidays(year: int) -> dict[date, str]:
    """Every Vietnamese public holiday of a civil year, date → Vietnamese name."""
    return dict(sorted(_holidays_of(year).items()))


def keeps(day: date, lunar: LunarRule | None, policy: HolidayPolicy) -> bool:
    """True when an occurrence on local date `day` passes the lunar rule and holiday policy."""
    if policy != "include" and (public_holiday(day) is not None) != (policy == "only"):
        return False
    if lunar is None:
        return True
    found = lunar_day(day)
    return found is not None and lunar.matches(found)


def first_day(
    start: date, lunar: LunarRule | None, policy: HolidayPolicy, *, days: int = SEARCH_DAYS
) -> date | None:
    """The first date from `start` (inclusive) within `days` that passes both filters."""
    for offset in range(days):
        day = start + timedelta(days=offset)
        if keeps(day, lunar, policy):
            return day
    return None


def lunar_to_solar(year: int, month: int, day: int, *, leap: bool = False) -> date:
    """The civil date of a lunar date (Vietnamese calendar); `PlanError` if there is none.

    Unlike `lunar-vn` itself, day 30 of a 29-day month is refused rather than rolled over.
    """
    try:
        found = lunar_vn.lunar_to_solar(lunar_vn.LunarDate(day, month, year, leap))
    except ValueError as exc:
        raise PlanError("invalid_lunar_date", f"no lunar date {day}/{month}/{year}") from exc
    back = lunar_day(found)
    if back is None or (back.year, back.month, back.day, back.leap) != (year, month, day, leap):
        raise PlanError("invalid_lunar_date", f"no lunar date {day}/{month}/{year}")
    return found
