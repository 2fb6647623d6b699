"""Vietnamese calendars in the planner: public holidays skipped or kept, lunar days matched.

"Today" is 2026-12-01; "the next 24 months" below is December 2026 to November 2028.

Dates checked by hand (not by the library under test): the Vietnamese lunar month starts on
the civil day, at UTC+7, of the new moon; the first month (Tết) starts at the second new moon
after the winter solstice when no leap month lies between. New-moon instants were computed
with an independent astronomical ephemeris (PyEphem, not a project dependency) and agree with
the published almanac:

* solstice 2026-12-22 03:50 (UTC+7); new moons 2027-01-08 03:24 and 2027-02-06 22:56 → Tết
  Đinh Mùi is **6 Feb 2027**, and tháng Chạp (8 Jan – 5 Feb) has 29 days, so "30 tháng Chạp"
  is 5 Feb 2027.
* solstice 2027-12-22 09:42; new moons 2027-12-28 03:12 and 2028-01-26 22:12 → Tết Mậu Thân
  is **26 Jan 2028**; tháng Chạp (28 Dec – 25 Jan) has 29 days → "30 tháng Chạp" is 25 Jan.
* new moon 2026-12-09 07:52 → mùng 1 tháng 11 is 9 Dec 2026; rằm is 23 Dec 2026.
* new moon 2027-09-01 00:41 → mùng 1 tháng 8 is 1 Sep 2027 (Trung thu 15 Sep 2027).
* new moon 2028-06-23 01:27 (still 22 June in UTC) → the leap fifth month starts 23 Jun 2028.
* new moon 2030-02-02 23:07 at UTC+7 but 00:07 on 3 Feb at UTC+8: Tết 2030 is 2 Feb in
  Vietnam, 3 Feb in China — why the planner uses a Vietnamese (UTC+7) lunar calendar.

Public holidays by hand (Labour Code 2019 art. 112 and the 2025 amendments): 30/4, 1/5, 2/9
plus one adjacent day, Giỗ Tổ Hùng Vương on 10/3 lunar (16 Apr 2027, 4 Apr 2028).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import lunar_vn
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pa_server import planning
from pa_server.planning import LunarRule, PlanError, ScheduleSpec, check_calendar, expand
from pa_server.planning.calendar import keeps, lunar_to_solar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 12, 1)
START = datetime(2026, 12, 1, tzinfo=VN).astimezone(UTC)
TWO_YEARS = datetime(2028, 12, 1, tzinfo=VN).astimezone(UTC)


def spec(**over: object) -> ScheduleSpec:
    base = ScheduleSpec(
        id="s",
        announcement_id="a",
        title="Loa xã",
        rrule="FREQ=DAILY;BYHOUR=7;BYMINUTE=0",
        start=START,
        end=None,
        exdates=(),
        timezone="Asia/Ho_Chi_Minh",
        level="normal",
        targets=("zone:xa",),
        duration_ms=60_000,
        volume=None,
        max_late_s=120,
        created_at=START,
    )
    return replace(base, **over)  # type: ignore[arg-type]


def days(s: ScheduleSpec, start: datetime = START, end: datetime = TWO_YEARS) -> list[date]:
    return [t.astimezone(ZoneInfo(s.timezone)).date() for t in expand(s, start, end)]


# ------------------------------------------------------------------------------ by hand


@pytest.mark.parametrize(
    ("civil", "lunar"),
    [
        (date(2027, 2, 6), (2027, 1, 1, False)),
        (date(2027, 2, 5), (2026, 12, 29, False)),
        (date(2028, 1, 26), (2028, 1, 1, False)),
        (date(2028, 1, 25), (2027, 12, 29, False)),
        (date(2026, 12, 9), (2026, 11, 1, False)),
        (date(2026, 12, 23), (2026, 11, 15, False)),
        (date(2027, 9, 1), (2027, 8, 1, False)),
        (date(2027, 9, 15), (2027, 8, 15, False)),
        (date(2028, 6, 23), (2028, 5, 1, True)),
        (date(2030, 2, 2), (2030, 1, 1, False)),
    ],
)
def test_lunar_dates_verified_by_hand(civil: date, lunar: tuple[int, int, int, bool]) -> None:
    found = planning.lunar_day(civil)
    assert found is not None
    assert (found.year, found.month, found.day, found.leap) == lunar


def test_tet_eve_months_have_29_days() -> None:
    for eve in (date(2027, 2, 5), date(2028, 1, 25)):
        found = planning.lunar_day(eve)
        assert found is not None and found.month == 12 and found.day == 29 and found.last


def test_public_holidays_verified_by_hand() -> None:
    for year, tet, hung in (
        (2027, date(2027, 2, 6), date(2027, 4, 16)),
        (2028, date(2028, 1, 26), date(2028, 4, 4)),
    ):
        table = planning.public_holidays(year)
        assert tet in table and "Tết" in table[tet]
        assert hung in table and "Hùng Vương" in table[hung]
        for fixed in (date(year, 4, 30), date(year, 5, 1), date(year, 9, 2), date(year, 1, 1)):
            assert fixed in table, fixed
        # Quốc khánh is two days since 2025: 2/9 and the day before or after it.
        assert date(year, 9, 1) in table or date(year, 9, 3) in table
    assert planning.public_holiday(date(2027, 3, 3)) is None


# ------------------------------------------------------------------------------ holidays


def test_skip_holidays_has_nothing_on_tet_of_the_next_two_years() -> None:
    skip = days(spec(holidays="skip"))
    every = days(spec())
    tet_days = {
        d
        for year in (2027, 2028)
        for d, name in planning.public_holidays(year).items()
        if "Tết Nguyên Đán" in name or "29 Tết" in name
    }
    assert date(2027, 2, 6) in tet_days and date(2028, 1, 26) in tet_days
    assert tet_days <= set(every)
    assert not tet_days & set(skip)
    assert len(skip) == len(every) - len(
        [d for d in every if planning.public_holiday(d) is not None]
    )


def test_only_holidays_plays_on_holidays_alone() -> None:
    only = days(spec(holidays="only"))
    assert date(2027, 2, 6) in only and date(2027, 9, 2) in only
    assert all(planning.public_holiday(d) is not None for d in only)


@settings(max_examples=40, deadline=None)
@given(
    offset=st.integers(min_value=0, max_value=700),
    hour=st.integers(min_value=0, max_value=23),
    zone=st.sampled_from(["Asia/Ho_Chi_Minh", "Europe/Berlin", "America/New_York"]),
)
def test_skip_and_only_split_every_instant(offset: int, hour: int, zone: str) -> None:
    start = START + timedelta(days=offset)
    end = start + timedelta(days=40)
    rule = f"FREQ=DAILY;BYHOUR={hour};BYMINUTE=0"
    every = expand(spec(rrule=rule, timezone=zone), start, end)
    skip = expand(spec(rrule=rule, timezone=zone, holidays="skip"), start, end)
    only = expand(spec(rrule=rule, timezone=zone, holidays="only"), start, end)
    assert sorted(skip + only) == list(every)
    for t in only:
        assert planning.public_holiday(t.astimezone(ZoneInfo(zone)).date()) is not None


# ------------------------------------------------------------------------------ lunar


def _by_library(rule: LunarRule, first: date, last: date) -> list[date]:
    """Days of `rule` computed straight from lunar-vn's conversions (lunar → solar)."""
    out = []
    for year in range(first.year - 1, last.year + 1):
        for month in range(1, 13):
            if rule.months and month not in rule.months:
                continue
            leaps = [False] if rule.months else [False, True]
            for leap in leaps:
                try:
                    one = lunar_vn.lunar_to_solar(lunar_vn.LunarDate(1, month, year, leap))
                except ValueError:
                    continue  # not a leap month this year
                back = lunar_vn.solar_to_lunar(one)
                if (back.month, back.leap) != (month, leap):
                    continue
                length = 30 if lunar_vn.solar_to_lunar(one + timedelta(days=29)).day == 30 else 29
                for d in rule.days:
                    out.append(one + timedelta(days=min(d, length) - 1))
    return sorted({d for d in out if first <= d < last})


def test_first_and_fifteenth_for_24_months_match_the_library() -> None:
    rule = LunarRule((1, 15))
    got = days(spec(lunar=rule))
    assert got == _by_library(rule, TODAY, date(2028, 12, 1))
    # 24 solar months hold 24 or 25 lunar months (2028 has a leap fifth month).
    assert 48 <= len(got) <= 50
    assert date(2026, 12, 9) in got and date(2026, 12, 23) in got
    assert date(2028, 6, 23) in got  # mùng 1 of the leap month is kept
    for d in got:
        found = planning.lunar_day(d)
        assert found is not None and found.day in (1, 15)


def test_thirtieth_of_the_twelfth_month_is_new_years_eve() -> None:
    rule = LunarRule((30,), (12,))
    assert days(spec(lunar=rule)) == [date(2027, 2, 5), date(2028, 1, 25)]
    assert "Giao thừa" in (planning.public_holiday(date(2027, 2, 5)) or "")


def test_named_month_skips_its_leap_twin() -> None:
    assert days(spec(lunar=LunarRule((1,), (5,)))) == [date(2027, 6, 5), date(2028, 5, 24)]


@settings(max_examples=40, deadline=None)
@given(
    picked=st.sets(st.integers(min_value=1, max_value=30), min_size=1, max_size=4),
    months=st.sets(st.integers(min_value=1, max_value=12), max_size=3),
    offset=st.integers(min_value=0, max_value=365),
)
def test_lunar_days_match_the_library(picked: set[int], months: set[int], offset: int) -> None:
    rule = LunarRule(tuple(picked), tuple(months))
    start = START + timedelta(days=offset)
    end = start + timedelta(days=400)
    got = days(spec(lunar=rule), start, end)
    first = start.astimezone(VN).date()
    assert got == _by_library(rule, first, end.astimezone(VN).date())


def test_lunar_and_holidays_combine() -> None:
    both = days(spec(lunar=LunarRule((1,)), holidays="only"))
    assert both == [date(2027, 2, 6), date(2028, 1, 26)]  # mùng 1 that are holidays: Tết
    assert date(2027, 2, 6) not in days(spec(lunar=LunarRule((1,)), holidays="skip"))


def test_lunar_to_solar_refuses_a_day_that_does_not_exist() -> None:
    assert lunar_to_solar(2027, 1, 1) == date(2027, 2, 6)
    with pytest.raises(PlanError) as caught:
        lunar_to_solar(2026, 12, 30)  # tháng Chạp Bính Ngọ has 29 days
    assert caught.value.code == "invalid_lunar_date"


def test_outside_the_library_range_nothing_matches() -> None:
    assert planning.lunar_day(date(2101, 1, 1)) is None
    assert not keeps(date(2101, 1, 1), LunarRule((1,)), "include")


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"lunar": None, "holidays": "sometimes"}, "invalid_holiday_policy"),
        ({"rrule": None, "holidays": "skip"}, "calendar_needs_rrule"),
    ],
)
def test_bad_calendar_specs_are_refused(over: dict[str, object], code: str) -> None:
    with pytest.raises(PlanError) as caught:
        spec(**over)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("days_", "months", "code"),
    [
        ((), (), "invalid_lunar_day"),
        ((0,), (), "invalid_lunar_day"),
        ((31,), (), "invalid_lunar_day"),
        ((1,), (13,), "invalid_lunar_month"),
        ((True,), (), "invalid_lunar_day"),
    ],
)
def test_bad_lunar_rules_are_refused(
    days_: tuple[int, ...], months: tuple[int, ...], code: str
) -> None:
    with pytest.raises(PlanError) as caught:
        LunarRule(days_, months)
    assert caught.value.code == code


def test_a_combination_that_never_occurs_is_refused() -> None:
    # 1 March is never in lunar month 12: Tết falls on 21 Jan … 20 Feb.
    never = spec(rrule="FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1", lunar=LunarRule((30,), (12,)))
    with pytest.raises(PlanError) as caught:
        check_calendar(never)
    assert caught.value.code == "calendar_never_occurs"
    check_calendar(spec(lunar=LunarRule((30,), (12,))))
    check_calendar(spec())  # no calendar: nothing to check
