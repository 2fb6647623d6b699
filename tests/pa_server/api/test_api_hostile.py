"""Inputs schemathesis found answered with a 5xx (or off the spec), each pinned as a test."""

from __future__ import annotations

import pytest

from tests.pa_server.api.support import approved, schedule_body, seed_zones
from tests.pa_server.server_fixtures import Api

V1 = "/api/v1"


@pytest.mark.parametrize(
    "url", [f"{V1}/devices", f"{V1}/announcements", f"{V1}/schedules", f"{V1}/broadcasts"]
)
def test_an_offset_past_the_databases_integers_is_refused(api: Api, url: str) -> None:
    api.refused("GET", url, "invalid_input", params={"offset": 2**63})


@pytest.mark.parametrize(
    "params",
    [
        {"from": "0001-01-01T00:00:00"},  # naive, read at +07:00: before year 1 in UTC
        {"to": "0001-01-02T00:00:00Z"},  # the default window reaches 7 days before it
    ],
)
def test_a_report_window_off_the_calendar_is_refused(api: Api, params: dict[str, str]) -> None:
    api.refused("GET", f"{V1}/reports/playback", "instant_out_of_range", params=params)


def test_an_occurrence_window_off_the_calendar_is_refused(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    sched = api.ok(
        "POST",
        f"{V1}/schedules",
        201,
        json=schedule_body(ann["id"]),
    )
    url = f"{V1}/schedules/{sched['id']}/occurrences"
    api.refused("GET", url, "instant_out_of_range", params={"from": "9999-12-31T00:00:00Z"})


def test_media_types_are_in_the_spec(api: Api) -> None:
    spec = api.ok("GET", "/openapi.json")
    documented = spec["paths"]["/media/{name}"]["get"]["responses"]["200"]["content"]
    assert "audio/mpeg" in documented
    assert "HTTPValidationError" not in str(spec["paths"])  # every 4xx is an ErrorBody


def test_a_schedule_in_the_first_millennium_is_no_500(api: Api) -> None:
    seed_zones(api)
    ann = approved(api)
    body = {
        "announcement_id": ann["id"],
        "zones": ["vinh-tuong/tan-tien"],
        "start": "2026-08-10T06:00:00",
        "exdates": ["0999-01-01T00:00:00Z"],
    }
    response = api.client.post(f"{V1}/schedules", json=body)
    assert response.status_code < 500, response.text
    sched = api.ok("POST", f"{V1}/schedules", 201, json={**body, "exdates": []})
    response = api.client.patch(
        f"{V1}/schedules/{sched['id']}", json={"start": "0999-01-01T00:00:00Z"}
    )
    assert response.status_code < 500, response.text
