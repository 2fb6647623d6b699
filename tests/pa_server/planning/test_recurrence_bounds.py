"""Every scan of an RRULE is bounded: a rule that never matches is refused, not walked to 9999.

dateutil walks period after period until it finds an instant or passes year 9999; the old
checks let rules such as 30 February cost 5–9 s of CPU per request. These tests count the
months dateutil examines (each `_iterinfo.rebuild`), which the old code pushed to tens of
thousands, and assert on the error, never on time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from dateutil import rrule as dateutil_rrule

from pa_server.planning.model import PlanError, ScheduleSpec
from pa_server.planning.recurrence import (
    CYCLE_YEARS,
    SCAN_YEARS,
    expand,
    first_local,
    parse_rule,
    validate_rrule,
)
from tests.pa_server.api.test_api import approved, schedule_body, seed_zones
from tests.pa_server.server_fixtures import Api

CREATED = datetime(2026, 1, 1, tzinfo=UTC)
NEVER = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2",
    "FREQ=MONTHLY;BYDAY=MO;BYMONTHDAY=1,2,3,4,5,6,7;BYSETPOS=2",
    "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31;BYHOUR=6",
]


@pytest.fixture
def months_examined(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A counter of the months (or years) dateutil builds day sets for while a test runs."""
    counter = [0]
    original = dateutil_rrule._iterinfo.rebuild

    def counting(self: dateutil_rrule._iterinfo, year: int, month: int) -> None:
        counter[0] += 1
        original(self, year, month)

    monkeypatch.setattr(dateutil_rrule._iterinfo, "rebuild", counting)
    parse_rule.cache_clear()  # a cached rule would not be scanned again
    yield counter
    parse_rule.cache_clear()


@pytest.mark.parametrize("text", NEVER)
def test_a_rule_that_never_occurs_is_refused_after_a_bounded_scan(
    text: str, months_examined: list[int]
) -> None:
    with pytest.raises(PlanError) as info:
        validate_rrule(text)
    assert info.value.code == "rrule_never_occurs"
    assert repr(text) in str(info.value)
    # Ten years of months at most (the old code: every month up to year 9999, ~95,000).
    assert months_examined[0] <= 10 * 12 + 2


def test_byeaster_is_refused_it_is_not_rfc_5545() -> None:
    with pytest.raises(PlanError) as info:
        validate_rrule("FREQ=YEARLY;BYEASTER=0")
    assert info.value.code == "invalid_rrule"


def _spec(rrule: str, start: datetime) -> ScheduleSpec:
    return ScheduleSpec(
        id="s",
        announcement_id="a",
        title="t",
        rrule=rrule,
        start=start,
        end=None,
        exdates=(),
        timezone="Asia/Ho_Chi_Minh",
        level="normal",
        targets=("zone:x",),
        duration_ms=1000,
        volume=None,
        max_late_s=60,
        created_at=CREATED,
    )


def test_expansion_of_a_rule_that_never_occurs_from_its_start_is_bounded(
    months_examined: list[int],
) -> None:
    # Valid in the abstract (every other year, some are leap years), but from an odd start
    # year every instant lands on a common year: there is never a 29 February to sound on.
    rule = "FREQ=YEARLY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=29"
    spec = _spec(rule, datetime(2027, 1, 1, tzinfo=UTC))
    months_examined[0] = 0
    now = datetime(2028, 2, 28, tzinfo=UTC)
    assert expand(spec, now, now + timedelta(days=2)) == ()
    # At most one 400-year cycle of yearly periods (the old code walked ~4,000 to year 9999).
    assert months_examined[0] <= SCAN_YEARS // 2 + 2


def test_shifting_by_whole_cycles_keeps_every_instant() -> None:
    # 29 February, the last Sunday of March and week 53 all depend on the calendar; expanding
    # in the calendar's last cycle must give exactly what dateutil gives in place.
    for rule in (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=7;BYMINUTE=0",
        "FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=6;BYMINUTE=30",
        "FREQ=YEARLY;BYWEEKNO=53;BYDAY=TH;BYHOUR=5;BYMINUTE=0",
        "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR;BYHOUR=17;BYMINUTE=0",
    ):
        start = datetime(2024, 1, 1, tzinfo=UTC)
        spec = _spec(rule, start)
        window = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2033, 1, 1, tzinfo=UTC))
        got = expand(spec, *window)
        direct = dateutil_rrule.rrulestr(rule, dtstart=datetime(2024, 1, 1, 7))
        local = direct.between(datetime(2024, 1, 1, 7), datetime(2033, 1, 1, 7), inc=True)
        assert got, rule
        assert [g + timedelta(hours=7) for g in got] == [
            d.replace(tzinfo=UTC) for d in local if d.replace(tzinfo=UTC) >= start
        ], rule
    # The reason this holds: one cycle is a whole number of weeks.
    cycle_days = (datetime(2400 + CYCLE_YEARS, 1, 1) - datetime(2400, 1, 1)).days
    assert cycle_days % 7 == 0


def test_first_local_finds_the_first_instant_or_none_within_the_bound() -> None:
    start = datetime(2026, 3, 1, 0, 0)
    assert first_local("FREQ=WEEKLY;BYDAY=MO;BYHOUR=6;BYMINUTE=0", start) == datetime(
        2026, 3, 2, 6, 0
    )
    assert first_local("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", start) == datetime(2028, 2, 29)
    until = datetime(2027, 12, 31)
    assert first_local("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", start, until=until) is None


@pytest.mark.parametrize("text", NEVER[1:4])
def test_the_api_refuses_a_never_occurring_rule_with_a_clear_422(
    api: Api, text: str, months_examined: list[int]
) -> None:
    seed_zones(api)
    ann = approved(api)
    months_examined[0] = 0
    detail = api.refused(
        "POST", "/api/v1/schedules", "rrule_never_occurs", json=schedule_body(ann["id"], rrule=text)
    )
    assert "no occurrence within 10 years" in detail["message"]
    assert months_examined[0] <= 10 * 12 + 2
