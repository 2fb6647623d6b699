"""Every instant the protocol writes, it reads back as the same instant (years 1 to 9999)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from devices.protocol import format_instant, parse_instant


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_instant_round_trips_to_the_millisecond(dt: datetime) -> None:
    text = format_instant(dt)
    assert text.endswith("Z") and len(text.split("T")[0]) == 10
    back = parse_instant(text)
    assert timedelta(0) <= dt - back < timedelta(milliseconds=1)


def test_years_before_1000_are_written_with_four_digits() -> None:
    """Regression: strftime('%Y') wrote '999-01-01…', which parse_instant refused (a 500)."""
    assert format_instant(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00Z"
