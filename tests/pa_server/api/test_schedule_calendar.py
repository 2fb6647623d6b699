"""The API's calendar fields: lunar days and the public-holiday policy (SQLite + PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pa_server.api.support import V1, approved, schedule_body, seed_zones
from tests.pa_server.server_fixtures import Api


def _body(ann_id: str, **over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "rrule": "FREQ=DAILY;BYHOUR=7;BYMINUTE=0",
        "start": "2026-12-01T00:00:00",
        "end": None,
    }
    return schedule_body(ann_id, **{**fields, **over})


def test_lunar_schedule_round_trip_and_occurrences(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    body = _body(
        ann["id"],
        rrule=None,
        start="2026-12-01T07:00:00",
        lunar={"days": [15, 1, 1]},
        holidays="skip",
    )
    sched = api.ok("POST", f"{V1}/schedules", 201, json=body)
    # No rule given: every day is a candidate, stored as the RRULE it is.
    assert sched["rrule"] == "FREQ=DAILY" and sched["holidays"] == "skip"
    assert sched["lunar"] == {"days": [1, 15], "months": []}
    assert api.ok("GET", f"{V1}/schedules/{sched['id']}") == sched
    occ = api.ok(
        "GET",
        f"{V1}/schedules/{sched['id']}/occurrences",
        params={"from": "2027-01-01T00:00:00", "to": "2027-03-01T00:00:00"},
    )
    # mùng 1 / rằm: 8 Jan, 22 Jan, (6 Feb is Tết: skipped), 20 Feb — at 07:00 in Hà Nội.
    assert [o["play_at"] for o in occ] == [
        "2027-01-08T00:00:00Z",
        "2027-01-22T00:00:00Z",
        "2027-02-20T00:00:00Z",
    ]
    plain = api.ok(
        "PATCH", f"{V1}/schedules/{sched['id']}", json={"lunar": None, "holidays": "include"}
    )
    assert plain["lunar"] is None and plain["holidays"] == "include"
    assert plain["rrule"] == "FREQ=DAILY"


def test_patch_without_calendar_fields_keeps_them(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    body = _body(ann["id"], lunar={"days": [30], "months": [12]})
    sched = api.ok("POST", f"{V1}/schedules", 201, json=body)
    updated = api.ok("PATCH", f"{V1}/schedules/{sched['id']}", json={"title": "Giao thừa"})
    assert updated["lunar"] == {"days": [30], "months": [12]}
    assert updated["holidays"] == "include"


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"lunar": {"days": [0]}}, "invalid_lunar_day"),
        ({"lunar": {"days": [31]}}, "invalid_lunar_day"),
        ({"lunar": {"days": []}}, "invalid_lunar_day"),
        ({"lunar": {"days": [1], "months": [13]}}, "invalid_lunar_month"),
        ({"lunar": {"days": ["x"]}}, "invalid_input"),
        ({"lunar": {"days": [1], "leap": True}}, "invalid_input"),
        ({"holidays": "sometimes"}, "invalid_input"),
        (
            {
                "rrule": "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1",
                "lunar": {"days": [30], "months": [12]},
            },
            "calendar_never_occurs",
        ),
        (
            {"holidays": "only", "end": "2026-12-20T00:00:00"},
            "calendar_never_occurs",
        ),
    ],
)
def test_bad_calendar_fields_are_refused(api: Api, over: dict[str, Any], code: str) -> None:
    seed_zones(api)
    ann = approved(api)
    api.refused("POST", f"{V1}/schedules", code, json=_body(ann["id"], **over))
    assert api.ok("GET", f"{V1}/schedules")["total"] == 0


def test_bad_calendar_update_leaves_schedule_unchanged(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    sched = api.ok("POST", f"{V1}/schedules", 201, json=_body(ann["id"], holidays="skip"))
    api.refused(
        "PATCH",
        f"{V1}/schedules/{sched['id']}",
        "invalid_lunar_month",
        json={"lunar": {"days": [1], "months": [0]}},
    )
    assert api.ok("GET", f"{V1}/schedules/{sched['id']}") == sched
