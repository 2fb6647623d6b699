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
    plain_of,
    to_rule,
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
    group = to_rule(plain)
    assert group.rrule == "FREQ=DAILY"
    assert group.times == (time(6, 0), time(17, 0))
    assert group.start == datetime(2026, 8, 10, 0, 0)
    assert group.end == datetime(2026, 8, 31, 23, 59, 59)
    assert group.exdates == (datetime(2026, 8, 15, 6, 0), datetime(2026, 8, 15, 17, 0))
    got = instants(group, limit=100)
    assert len(got) == 22 * 2 - 2
    assert datetime(2026, 8, 15, 6, 0) not in got
    assert got[-1] == datetime(2026, 8, 31, 17, 0)


def test_times_with_different_minutes_are_one_schedule() -> None:
    plain = PlainSchedule(
        times=(time(6, 30), time(11, 0), time(17, 15)), date_from=date(2026, 8, 10)
    )
    group = to_rule(plain)
    assert group.rrule == "FREQ=DAILY" and len(group.times) == 3
    first_day = instants(group, limit=3)
    assert [t.time() for t in first_day] == [time(6, 30), time(11, 0), time(17, 15)]


def test_weekdays_every_two_weeks_starts_on_first_matching_day() -> None:
    # 10 Aug 2026 is a Monday; only Wednesdays and Fridays, every other week.
    plain = PlainSchedule(
        times=(time(7, 0),), date_from=date(2026, 8, 10), weekdays=frozenset({2, 4}), every_weeks=2
    )
    group = to_rule(plain)
    assert group.rrule == "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE,FR"
    assert [d.day for d in instants(group, limit=4)] == [12, 14, 26, 28]


def test_one_day_several_times() -> None:
    group = to_rule(
        PlainSchedule(
            times=(time(8, 15), time(16, 0)), date_from=date(2026, 9, 2), date_to=date(2026, 9, 2)
        )
    )
    assert group.rrule is None and group.start == datetime(2026, 9, 2, 0, 0)
    assert instants(group, limit=5) == [datetime(2026, 9, 2, 8, 15), datetime(2026, 9, 2, 16, 0)]


def test_stored_schedules_read_back_into_the_form() -> None:
    start = datetime(2026, 12, 2)
    end = datetime(2026, 12, 31, 23, 59, 59)
    assert plain_of("FREQ=WEEKLY;BYDAY=MO,WE,FR", (time(6, 30), time(17, 15)), start, end, ()) == {
        "times": "06:30, 17:15",
        "date_from": "02/12/2026",
        "date_to": "31/12/2026",
        "every_weeks": "1",
        "weekdays": [0, 2, 4],
        "except_dates": "",
    }
    # An older schedule with its times in the rule.
    legacy = plain_of("FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0", (), start, None, ())
    assert legacy is not None and legacy["times"] == "06:00, 17:00" and legacy["date_to"] == ""
    # What the form cannot say is not offered in it.
    assert plain_of("FREQ=MONTHLY;BYMONTHDAY=1", (time(7, 0),), start, None, ()) is None


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
        to_rule(plain)
    assert field in exc.value.errors
