"""Staff see an agent whose clock drifts: `clock_drift` / `clock_unsynced` in the device API."""

from __future__ import annotations

import time

from devices.clock import SERVER_TIME_HEADER
from devices.protocol import State
from pa_server.api.server_time import format_stamp
from pa_server.services.devices import clock_flags
from pa_server.services.ingest import ingest_state
from tests.pa_server.api.support import V1, seed_zones
from tests.pa_server.server_fixtures import Api


def report(api: Api, device_id: str, **fields: object) -> None:
    sessions = api.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        state = State(device_id=device_id, online=True, at=api.clock.now, **fields)
        assert ingest_state(s, state, now=api.clock.now)
        s.commit()


def test_clock_flags_threshold_both_signs() -> None:
    assert clock_flags(None, None, threshold_s=1.0) == []
    assert clock_flags(1000, True, threshold_s=1.0) == []
    assert clock_flags(1001, True, threshold_s=1.0) == ["clock_drift"]
    assert clock_flags(-120_000, True, threshold_s=1.0) == ["clock_drift"]
    assert clock_flags(5, False, threshold_s=1.0) == ["clock_unsynced"]


def test_device_api_flags_a_drifting_agent(api: Api) -> None:
    seed_zones(api)
    report(api, "loa-01", clock_offset_ms=-120_000, clock_synced=True)
    report(api, "loa-02", clock_offset_ms=40, clock_synced=True)
    one = api.ok("GET", f"{V1}/devices/loa-01")
    assert one["flags"] == ["clock_drift"]
    assert one["clock_offset_ms"] == -120_000 and one["clock_synced"] is True
    listed = {d["id"]: d for d in api.ok("GET", f"{V1}/devices")["items"]}
    assert listed["loa-01"]["flags"] == ["clock_drift"]
    assert listed["loa-02"]["flags"] == [] and listed["loa-02"]["clock_offset_ms"] == 40


def test_the_lwt_keeps_the_last_clock_and_an_unreported_device_has_no_flags(api: Api) -> None:
    seed_zones(api)
    assert api.ok("GET", f"{V1}/devices/loa-01")["flags"] == []
    report(api, "loa-01", clock_offset_ms=3_000, clock_synced=False)
    sessions = api.client.app.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        ingest_state(s, State(device_id="loa-01", online=False), now=api.clock.now)
        s.commit()
    got = api.ok("GET", f"{V1}/devices/loa-01")
    assert got["online"] is False and got["flags"] == ["clock_drift", "clock_unsynced"]


def test_threshold_is_a_setting(api: Api) -> None:
    seed_zones(api)
    report(api, "loa-01", clock_offset_ms=1_500, clock_synced=True)
    assert api.ok("GET", f"{V1}/devices/loa-01")["flags"] == ["clock_drift"]
    api.client.app.state.settings = api.settings.model_copy(  # type: ignore[attr-defined]
        update={"clock_drift_threshold_s": 2.0}
    )
    assert api.ok("GET", f"{V1}/devices/loa-01")["flags"] == []


def test_every_response_carries_the_server_time_to_the_millisecond(api: Api) -> None:
    # Compared in whole milliseconds: the stamp is the server's clock truncated to the
    # millisecond, so it lies in [the ms of `before`, the ms of the check] and never later.
    before_ms = time.time_ns() // 1_000_000
    for method, url in (("HEAD", "/"), ("GET", "/healthz"), ("GET", f"{V1}/devices")):
        response = api.client.request(method, url)
        header = response.headers[SERVER_TIME_HEADER]
        seconds, dot, millis = header.partition(".")
        assert dot and len(millis) == 3
        stamp_ms = int(seconds) * 1000 + int(millis)
        assert before_ms <= stamp_ms <= time.time_ns() // 1_000_000


def test_the_server_time_is_truncated_never_rounded_up() -> None:
    # 0.9999 s past the second: rounding would say the next second, 0.1 ms in the future.
    assert format_stamp(1_700_000_000_999_900_000) == "1700000000.999"
    assert format_stamp(1_700_000_000_000_400_000) == "1700000000.000"
    assert format_stamp(5_000_000) == "0.005"
