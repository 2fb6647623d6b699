"""Plain-terms schedules → RRULE groups."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from pa_server.web.recurrence import (
    PlainSchedule,
    PlainScheduleError,
    instants,
    parse_dates,
    parse_times,
    to_rules,
)


def test_parse_times_and_dates() -> None:
    assert parse_times("17h30, 6:00 06:00") == (time(6, 0), time(17, 30))
    with pytest.raises(ValueError, match="25:00"):
        parse_times("25:00")
    with pytest.raises(ValueError, match="ít nhất một"):
        parse_times(" , ")
    assert parse_dates("15/08/2026, 2026-08-20") == (date(2026, 8, 15), date(2026, 8, 20))
    with pytest.raises(ValueError, match="32/08/2026"):
        parse_dates("32/08/2026")


def test_bluezone_campaign_daily_two_times_with_exception() -> None:
    plain = PlainSchedule(
        times=(time(6, 0), time(17, 0)),
        date_from=date(2026, 8, 10),
        date_to=date(2026, 8, 31),
        except_dates=(date(2026, 8, 15),),
    )
    [group] = to_rules(plain)
    assert group.rrule == "FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0;BYSECOND=0"
    assert group.start == datetime(2026, 8, 10, 6, 0)
    assert group.end == datetime(2026, 8, 31, 23, 59, 59)
    assert group.exdates == (datetime(2026, 8, 15, 6, 0), datetime(2026, 8, 15, 17, 0))
    got = instants(group, limit=100)
    assert len(got) == 22 * 2 - 2
    assert datetime(2026, 8, 15, 6, 0) not in got
    assert got[-1] == datetime(2026, 8, 31, 17, 0)


def test_times_with_different_minutes_make_separate_rules() -> None:
    plain = PlainSchedule(
        times=(time(6, 0), time(11, 30), time(17, 0)), date_from=date(2026, 8, 10)
    )
    groups = to_rules(plain)
    assert [g.rrule for g in groups] == [
        "FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0;BYSECOND=0",
        "FREQ=DAILY;BYHOUR=11;BYMINUTE=30;BYSECOND=0",
    ]
    first_day = sorted(t for g in groups for t in instants(g, limit=3))[:3]
    assert [t.time() for t in first_day] == [time(6, 0), time(11, 30), time(17, 0)]


def test_weekdays_every_two_weeks_starts_on_first_matching_day() -> None:
    # 10 Aug 2026 is a Monday; only Wednesdays and Fridays, every other week.
    plain = PlainSchedule(
        times=(time(7, 0),), date_from=date(2026, 8, 10), weekdays=frozenset({2, 4}), every_weeks=2
    )
    [group] = to_rules(plain)
    assert group.rrule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE,FR;BYHOUR=7;BYMINUTE=0;BYSECOND=0"
    assert group.start == datetime(2026, 8, 12, 7, 0)
    assert [d.day for d in instants(group, limit=4)] == [12, 14, 26, 28]


def test_one_off() -> None:
    [group] = to_rules(
        PlainSchedule(times=(time(8, 15),), date_from=date(2026, 9, 2), date_to=date(2026, 9, 2))
    )
    assert group.rrule is None and group.start == datetime(2026, 9, 2, 8, 15)


@pytest.mark.parametrize(
    ("plain", "field"),
    [
        (PlainSchedule(times=(), date_from=date(2026, 8, 10)), "times"),
        (
            PlainSchedule(times=(time(6),), date_from=date(2026, 8, 10), date_to=date(2026, 8, 1)),
            "date_to",
        ),
        (
            PlainSchedule(times=(time(6),), date_from=date(2026, 8, 10), every_weeks=0),
            "every_weeks",
        ),
        # Only Sundays, but the range is Monday to Wednesday.
        (
            PlainSchedule(
                times=(time(6),),
                date_from=date(2026, 8, 10),
                date_to=date(2026, 8, 12),
                weekdays=frozenset({6}),
            ),
            "weekdays",
        ),
    ],
)
def test_bad_plain_schedules_name_the_field(plain: PlainSchedule, field: str) -> None:
    with pytest.raises(PlainScheduleError) as exc:
        to_rules(plain)
    assert field in exc.value.errors
