"""A CAP alert pushed by a publisher plays on the real agents of the zone its geocode names
(and nowhere else), once before `expires`; a Cancel stops it while it plays, and the short
cancellation notice is heard only on the loudspeaker that sounded the alert."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from devices.protocol import utc_now
from tests.e2e.harness import StateWatch, System, instant, wait_for
from tests.pa_server.alerts.capdocs import SENDER, area, cap

pytestmark = pytest.mark.network

LONG_TEXT = " ".join(
    f"Đoạn {i}: nước sông Phan đang lên nhanh, bà con vùng trũng chuẩn bị di chuyển lên chỗ cao."
    for i in range(1, 6)
)


def _push(e2e: System, token: str, doc: bytes) -> dict[str, Any]:
    r = httpx.post(
        f"{e2e.api.base_url}/api/v1/alerts/cap",
        content=doc,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"},
        timeout=30,
    )
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def _of_schedule(e2e: System, schedule_id: str) -> list[dict[str, Any]]:
    now = utc_now()
    page = e2e.api.ok(
        "GET",
        "/broadcasts",
        params={
            "from": (now - timedelta(minutes=10)).isoformat(),
            "to": (now + timedelta(hours=3)).isoformat(),
        },
    )
    return [b for b in page["items"] if b["schedule_id"] == schedule_id]


def test_alert_plays_where_it_applies_and_a_cancel_stops_it(e2e: System, watch: StateWatch) -> None:
    e2e.add_zone("e2e/xa/thon-1")
    e2e.add_zone("e2e/xa/thon-2")
    (near,) = e2e.provision("e2e/xa/thon-1", "loa-01")
    (far,) = e2e.provision("e2e/xa/thon-2", "loa-02")
    e2e.start_agents(watch)
    token = e2e.api.ok(
        "POST",
        "/alerts/publishers",
        201,
        json={"name": "kttv", "zones": ["e2e"], "senders": [SENDER]},
    )["token"]
    e2e.api.ok(
        "POST",
        "/alerts/geocodes",
        201,
        json={"value_name": "VN-XA", "value": "E2E-1", "zone": "e2e/xa/thon-1"},
    )
    sent = utc_now().replace(microsecond=0)
    expires = sent + timedelta(minutes=30)
    doc = cap(
        "E2E-LU-1",
        sent,
        expires=expires,
        description=LONG_TEXT,
        areas=area(geocode=("VN-XA", "E2E-1")),
    )
    assert _push(e2e, token, doc)["verdict"] == "accepted"
    (alert,) = e2e.api.ok("GET", "/alerts")
    assert alert["state"] == "on_air" and alert["zones"] == ["e2e/xa/thon-1"]

    # Planned once: the hourly repeat would fall after `expires`.
    planned = wait_for(lambda: _of_schedule(e2e, alert["schedule_id"]), "the alert planned")
    assert len(planned) == 1 and instant(planned[0]["play_at"]) < expires
    occ = planned[0]["id"]
    assert planned[0]["targets"] == ["zone:e2e/xa/thon-1"] and planned[0]["priority"] == 100

    def started() -> bool:
        rows = e2e.broadcast(occ)["devices"]
        return any(r["device_id"] == "loa-01" and r["started"] for r in rows)

    wait_for(started, "loa-01 sounding the alert", timeout=60)
    cancel = cap(
        "E2E-LU-1c",
        utc_now().replace(microsecond=0),
        msg_type="Cancel",
        references=[("E2E-LU-1", sent)],
    )
    assert _push(e2e, token, cancel)["verdict"] == "accepted"

    def stopped() -> dict[str, Any] | None:
        rows = [r for r in e2e.broadcast(occ)["devices"] if r["device_id"] == "loa-01"]
        return rows[0] if rows and rows[0]["finished"] else None

    row = wait_for(stopped, "loa-01 stopping the alert")
    assert row["detail"] == "stopped by command"
    played_ms = (instant(row["finished"]) - instant(row["started"])).total_seconds() * 1000
    assert played_ms < planned[0]["duration_ms"]
    assert e2e.broadcast(occ)["status"] == "stopped"

    def notice() -> list[dict[str, Any]]:
        return [p for p in near.plays() if p["occurrence_id"] != occ]

    (heard,) = wait_for(notice, "the cancellation notice on loa-01", timeout=60)
    assert len(near.plays_of(occ)) == 1
    assert far.plays() == []  # the alert's area never covered thôn 2
    (alert,) = e2e.api.ok("GET", "/alerts")
    assert alert["state"] == "cancelled"
    # Nothing of the alert is left to play: its one broadcast was stopped, none is planned.
    assert [b["status"] for b in _of_schedule(e2e, alert["schedule_id"])] == ["stopped"]
    assert heard["occurrence_id"] != occ
