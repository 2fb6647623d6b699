"""`/metrics` of a running app, parsed back: outcomes, receipts, render cache, agents."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from devices.protocol import Receipt, State
from pa_server.runtime import Runtime
from pa_server.services.ingest import ingest_state
from tests.pa_server.api.support import V1, approved, seed_zones
from tests.pa_server.server_fixtures import Api

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(api: Api) -> Samples:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def broadcast(api: Api, ann: dict[str, Any], **over: Any) -> str:
    body = {"announcement_id": ann["id"], "zones": ["vinh-tuong/tan-tien"], **over}
    occ_id: str = api.ok("POST", f"{V1}/broadcasts", 201, json=body)["id"]
    return occ_id


def test_metrics_count_outcomes_receipts_renders_and_agents(api: Api) -> None:
    seed_zones(api)
    # Broadcasts around 05:00 local, some before it: no quiet hours in this district.
    api.ok("PATCH", f"{V1}/zones/vinh-tuong", json={"quiet_start": "00:00", "quiet_end": "00:00"})
    ann = approved(api)  # one render: a cache miss
    api.ok("POST", f"{V1}/announcements/{ann['id']}/render", 409)  # approved: not re-rendered
    draft = api.ok("POST", f"{V1}/announcements", 201, json={"title": "t", "text": "Cài Bluezone."})
    api.ok("POST", f"{V1}/announcements/{draft['id']}/render")
    api.ok("POST", f"{V1}/announcements/{draft['id']}/render")  # the same input again: a hit

    now = api.clock.now
    played = broadcast(api, ann)
    upcoming = broadcast(api, ann, play_at=(now + timedelta(hours=1)).isoformat())
    # Due now, with no lateness allowed: missed by the time of the scrape below.
    broadcast(api, ann, play_at=now.isoformat(), max_late_s=0)
    reported = broadcast(api, ann, play_at=(now + timedelta(minutes=5)).isoformat())
    stopped = broadcast(api, ann, play_at=(now + timedelta(minutes=30)).isoformat())
    api.ok("POST", f"{V1}/broadcasts/{stopped}/stop")

    # Receipts through the runtime's bus handler: that is where the lag is observed.
    app = api.client.app
    runtime = Runtime(api.settings, app.state.sessions, clock=api.clock, metrics=app.state.metrics)  # type: ignore[attr-defined]
    runtime.lease.close()
    at = now + timedelta(seconds=8)
    api.clock.advance(seconds=10)
    for device, occ, kind in (
        ("loa-01", played, "started"),
        ("loa-01", played, "finished"),
        ("loa-01", played, "finished"),  # a duplicate: stored and observed once
        ("loa-02", reported, "missed"),
    ):
        runtime._on_receipt(Receipt(device_id=device, occurrence_id=occ, type=kind, at=at))
    with app.state.sessions() as s:  # type: ignore[attr-defined]
        ingest_state(s, State(device_id="loa-01", online=True, at=at, clock_offset_ms=2500), now=at)
        ingest_state(s, State(device_id="loa-02", online=True, at=at, clock_offset_ms=3), now=at)
        s.commit()

    m = scrape(api)
    outcome = {
        status: m[("pa_broadcasts", (("status", status),))]
        for status in ("planned", "played", "missed", "stopped", "cancelled")
    }
    assert outcome == {"planned": 1, "played": 1, "missed": 2, "stopped": 1, "cancelled": 0}
    assert upcoming  # the planned one
    assert m[("pa_receipts", (("type", "finished"),))] == 1
    assert m[("pa_receipts", (("type", "missed"),))] == 1
    assert m[("pa_receipt_lag_seconds_count", ())] == 3
    assert m[("pa_receipt_lag_seconds_bucket", (("le", "1.0"),))] == 0
    assert m[("pa_receipt_lag_seconds_bucket", (("le", "2.5"),))] == 3
    assert m[("pa_render_cache_total", (("result", "miss"),))] == 2
    assert m[("pa_render_cache_total", (("result", "hit"),))] == 1
    assert m[("pa_agents_online", ())] == 2
    assert m[("pa_agents_known", ())] == 2
    assert m[("pa_agents_clock_drift", ())] == 1
