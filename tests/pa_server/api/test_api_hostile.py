"""Inputs schemathesis found answered with a 5xx (or off the spec), each pinned as a test."""

from __future__ import annotations

import pytest

from tests.pa_server.server_fixtures import Api

V1 = "/api/v1"


@pytest.mark.parametrize(
    "url", [f"{V1}/devices", f"{V1}/announcements", f"{V1}/schedules", f"{V1}/broadcasts"]
)
def test_an_offset_past_the_databases_integers_is_refused(api: Api, url: str) -> None:
    api.refused("GET", url, "invalid_input", params={"offset": 2**63})
