"""Schedules said in plain Vietnamese (`pa_server.web.describe`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from pa_server.web.describe import describe_schedule, join_vi, weekdays_vi
from pa_server.web.recurrence import PlainSchedule, to_rule

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2026, 12, 2, 17, 15, tzinfo=HCM)
END = datetime(2026, 12, 31, 23, 59, 59, tzinfo=HCM)
TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        (
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=17;BYMINUTE=15;BYSECOND=0",
            "Thứ Hai, Tư, Sáu lúc 17:15",
        ),
        ("FREQ=DAILY;BYHOUR=6,17;BYMINUTE=30;BYSECOND=0", "Hằng ngày lúc 06:30 và 17:30"),
        ("FREQ=DAILY", "Hằng ngày lúc 17:15"),
        ("FREQ=DAILY;INTERVAL=3", "3 ngày một lần lúc 17:15"),
        ("FREQ=DAILY;BYHOUR=6,11,17;BYMINUTE=0", "Hằng ngày lúc 06:00, 11:00 và 17:00"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=6;BYMINUTE=0", "Thứ Hai đến Thứ Sáu lúc 06:00"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU", "Hằng ngày lúc 17:15"),
        ("FREQ=WEEKLY;BYDAY=SA,SU", "Thứ Bảy, Chủ Nhật lúc 17:15"),
        ("FREQ=WEEKLY;BYDAY=TU,SU", "Thứ Ba, Chủ Nhật lúc 17:15"),
        ("FREQ=WEEKLY", "Thứ Tư hằng tuần lúc 17:15"),
        ("FREQ=WEEKLY;BYDAY=MO", "Thứ Hai hằng tuần lúc 17:15"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH", "2 tuần một lần, vào Thứ Hai, Năm lúc 17:15"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15", "Ngày 1 và ngày 15 hằng tháng lúc 17:15"),
        ("FREQ=MONTHLY", "Ngày 2 hằng tháng lúc 17:15"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "Ngày cuối tháng hằng tháng lúc 17:15"),
        ("FREQ=MONTHLY;BYDAY=1MO", "Thứ Hai đầu tiên hằng tháng lúc 17:15"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "Thứ Sáu cuối cùng hằng tháng lúc 17:15"),
        ("FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=10", "Ngày 10, 3 tháng một lần lúc 17:15"),
        ("FREQ=YEARLY", "Hằng năm vào ngày 02/12 lúc 17:15"),
        ("FREQ=YEARLY;BYMONTH=9;BYMONTHDAY=2", "Hằng năm vào ngày 02/09 lúc 17:15"),
        ("FREQ=HOURLY", "Mỗi giờ"),
        ("FREQ=HOURLY;INTERVAL=2", "2 giờ một lần"),
        ("RRULE:FREQ=DAILY;BYHOUR=7;BYMINUTE=0", "Hằng ngày lúc 07:00"),
        ("freq=daily;byhour=7;byminute=5", "Hằng ngày lúc 07:05"),
    ],
)
def test_rules_said_in_vietnamese(rule: str, said: str) -> None:
    text = describe_schedule(rule, START, END, "Asia/Ho_Chi_Minh", today=TODAY)
    assert text == f"{said}, từ 02/12 đến 31/12"


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYSETPOS=1",
        "FREQ=SECONDLY",
        "garbage",
        "FREQ=DAILY;INTERVAL=x",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=DAILY;BYHOUR=25",
        "FREQ=WEEKLY;BYDAY=2MO",
        "FREQ=MONTHLY;BYMONTHDAY=0",
        "",
    ],
)
def test_rule_not_understood_is_said_generally_never_raw(rule: str) -> None:
    text = describe_schedule(rule or "FREQ=", START, END, today=TODAY)
    assert text == "Lặp lại theo quy tắc riêng, từ 02/12 đến 31/12"
    assert "FREQ" not in text and "=" not in text


def test_one_off_names_the_day_with_its_year() -> None:
    at = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)  # 07:00 in Hà Nội
    assert (
        describe_schedule(None, at, None, "Asia/Ho_Chi_Minh") == "Một lần lúc 07:00 ngày 05/12/2026"
    )


def test_local_time_of_the_schedules_zone_not_utc() -> None:
    start = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 06:30 on the 2nd in Hà Nội
    text = describe_schedule("FREQ=DAILY", start, None, "Asia/Ho_Chi_Minh", today=TODAY)
    assert text == "Hằng ngày lúc 06:30, từ 02/12 trở đi"


def test_naive_instants_are_local() -> None:
    text = describe_schedule(
        "FREQ=DAILY", datetime(2026, 12, 2, 6, 30), datetime(2026, 12, 9, 23, 59), today=TODAY
    )
    assert text == "Hằng ngày lúc 06:30, từ 02/12 đến 09/12"


def test_other_year_keeps_its_year() -> None:
    text = describe_schedule("FREQ=DAILY", START, datetime(2027, 1, 5, tzinfo=HCM), today=TODAY)
    assert text.endswith("từ 02/12 đến 05/01/2027")
    assert describe_schedule("FREQ=DAILY", START).endswith("từ 02/12/2026 trở đi")


def test_until_and_count_and_exdates() -> None:
    until = describe_schedule("FREQ=DAILY;UNTIL=20261215T000000Z", START, None, today=TODAY)
    assert until == "Hằng ngày lúc 17:15, từ 02/12 đến 15/12"
    count = describe_schedule("FREQ=DAILY;COUNT=5", START, None, today=TODAY)
    assert count == "Hằng ngày lúc 17:15, từ 02/12, 5 lần"
    skips = [datetime(2026, 12, 10, 17, 15, tzinfo=HCM), datetime(2026, 12, 24, 17, 15, tzinfo=HCM)]
    text = describe_schedule("FREQ=DAILY", START, END, exdates=skips, today=TODAY)
    assert text.endswith("trừ ngày 10/12 và 24/12")


def test_every_rule_the_plain_form_writes_is_said() -> None:
    plain = PlainSchedule(
        times=(datetime(2026, 1, 1, 6, 0).time(), datetime(2026, 1, 1, 17, 0).time()),
        date_from=date(2026, 12, 2),
        date_to=date(2026, 12, 31),
        weekdays=frozenset({0, 2, 4}),
    )
    group = to_rule(plain)
    text = describe_schedule(group.rrule, group.start, group.end, today=TODAY, times=group.times)
    assert text == "Thứ Hai, Tư, Sáu lúc 06:00 và 17:00, từ 02/12 đến 31/12"


def test_helpers() -> None:
    assert join_vi([]) == "" and join_vi(["a"]) == "a" and join_vi(["a", "b", "c"]) == "a, b và c"
    assert weekdays_vi([4, 0, 2]) == "Thứ Hai, Tư, Sáu"
    assert weekdays_vi([5, 6]) == "Thứ Bảy, Chủ Nhật"
    assert weekdays_vi([2, 3, 4, 5]) == "Thứ Tư đến Thứ Bảy"


def test_one_day_several_times_is_said() -> None:
    text = describe_schedule(
        None, datetime(2026, 12, 5), None, times=[time(17, 15), time(6, 30)], today=TODAY
    )
    assert text == "Ngày 05/12/2026 lúc 06:30 và 17:15"
