"""Shared by the API tests: a seeded zone tree, an approved announcement, a schedule body."""

from __future__ import annotations

from typing import Any

from tests.pa_server.server_fixtures import Api

V1 = "/api/v1"


def seed_zones(api: Api) -> None:
    api.ok("POST", f"{V1}/zones", 201, json={"path": "vinh-tuong", "name": "Huyện Vĩnh Tường"})
    api.ok("POST", f"{V1}/zones", 201, json={"path": "vinh-tuong/tan-tien", "name": "Xã Tân Tiến"})
    api.ok("POST", f"{V1}/devices", 201, json={"id": "loa-01", "zone": "vinh-tuong/tan-tien"})
    api.ok("POST", f"{V1}/devices", 201, json={"id": "loa-02", "zone": "vinh-tuong/tan-tien"})


def approved(api: Api, text: str = "Đề nghị bà con cài đặt ứng dụng Bluezone.") -> dict[str, Any]:
    ann = api.ok("POST", f"{V1}/announcements", 201, json={"title": "Bluezone", "text": text})
    api.ok("POST", f"{V1}/announcements/{ann['id']}/render")
    result: dict[str, Any] = api.ok("POST", f"{V1}/announcements/{ann['id']}/approve")
    return result


def schedule_body(ann_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "announcement_id": ann_id,
        "zones": ["vinh-tuong/tan-tien"],
        "rrule": "FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0",
        "start": "2026-08-10T00:00:00",
        "end": "2026-08-31T23:59:00",
    }
    body.update(over)
    return body


# --------------------------------------------------------------------------- zones, devices
