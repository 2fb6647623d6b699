"""The API behind accounts: no credentials → 401 everywhere but the key; rights → 403."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pa_server.app import create_app
from pa_server.auth import accounts
from pa_server.config import Settings

PASSWORD = "mat-khau-dai-1"
V1 = "/api/v1"


class Caller:
    """A TestClient speaking with one person's API token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, url: str, status: int, **kw: Any) -> Any:
        r = self.client.request(method, url, headers=self.headers, **kw)
        assert r.status_code == status, r.text
        return r.json() if r.content else None


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, Caller]]]:
    app = create_app(Settings(data_dir=tmp_path / "data", tts_engine="espeak"), background=False)
    now = datetime.now(UTC)
    with TestClient(app) as client:
        callers: dict[str, Caller] = {}
        with app.state.sessions() as db:
            for name, role, zones in (
                ("quantri", "admin", []),
                ("duyet", "approver", []),
                ("vanhanh", "operator", ["huyen/xa-a"]),
                ("xem", "viewer", []),
            ):
                user = accounts.create_user(
                    db, name, role=role, password=PASSWORD, zones=zones, now=now
                )
                token, _ = accounts.create_token(db, user, "test", now=now)
                callers[name] = Caller(client, token)
            db.commit()
        yield client, callers


def test_every_protected_route_refuses_without_credentials(
    app_client: tuple[TestClient, dict[str, Caller]],
) -> None:
    client, _ = app_client
    checked = 0
    # The OpenAPI document lists every route the app serves.
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    for path, operations in paths.items():
        if not path.startswith(V1):
            continue
        url = re.sub(r"\{[^}]+\}", "x", path)
        for method in operations:
            r = client.request(method.upper(), url)
            if path == f"{V1}/keys":
                assert r.status_code != 401
                continue
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["detail"]["code"] == "not_authenticated"
            checked += 1
    assert checked > 20
    # Open doors: health, the public page, the sign-in page.
    assert client.get("/healthz").status_code == 200
    assert client.get("/dang-nhap").status_code == 200


def test_rights_on_the_api(app_client: tuple[TestClient, dict[str, Caller]]) -> None:
    _, who = app_client
    admin, approver, operator, viewer = (who[n] for n in ("quantri", "duyet", "vanhanh", "xem"))
    for path, name in (("huyen", "Huyện"), ("huyen/xa-a", "Xã A"), ("huyen/xa-b", "Xã B")):
        admin.call("POST", f"{V1}/zones", 201, json={"path": path, "name": name})
    # Zones are the admin's; viewers change nothing.
    operator.call("POST", f"{V1}/zones", 403, json={"path": "huyen/xa-c", "name": "C"})
    viewer.call("POST", f"{V1}/announcements", 403, json={"title": "x", "text": "Xin chào"})

    ann = operator.call(
        "POST", f"{V1}/announcements", 201, json={"title": "Bluezone", "text": "Cài Bluezone."}
    )
    operator.call("POST", f"{V1}/announcements/{ann['id']}/render", 200)
    # Only approvers approve: not the operator, and not the approver on their own.
    refused = operator.call("POST", f"{V1}/announcements/{ann['id']}/approve", 403)
    assert refused["detail"]["code"] == "not_approver"
    own = approver.call(
        "POST", f"{V1}/announcements", 201, json={"title": "Của tôi", "text": "Thử."}
    )
    approver.call("POST", f"{V1}/announcements/{own['id']}/render", 200)
    refused = approver.call("POST", f"{V1}/announcements/{own['id']}/approve", 403)
    assert refused["detail"]["code"] == "own_announcement"
    assert approver.call("POST", f"{V1}/announcements/{ann['id']}/approve", 200)["approver"] == (
        "duyet"
    )

    body = {"announcement_id": ann["id"], "rrule": "FREQ=DAILY;BYHOUR=6;BYMINUTE=0"}
    body["start"] = "2026-08-10T06:00:00"
    refused = operator.call("POST", f"{V1}/schedules", 403, json={**body, "zones": ["huyen/xa-b"]})
    assert refused["detail"]["code"] == "outside_zone"
    sched = operator.call("POST", f"{V1}/schedules", 201, json={**body, "zones": ["huyen/xa-a"]})
    # Emergency: admins only, and only when confirmed.
    emergency = {**body, "zones": ["huyen/xa-a"], "level": "emergency"}
    operator.call("POST", f"{V1}/schedules", 403, json=emergency)
    refused = admin.call("POST", f"{V1}/schedules", 403, json=emergency)
    assert refused["detail"]["code"] == "emergency_unconfirmed"
    admin.call("POST", f"{V1}/schedules?confirm_emergency=true", 201, json=emergency)
    # Tokens are self-service, even for viewers; the audit log names who did what.
    viewer.call("POST", f"{V1}/tokens", 201, json={"name": "đọc báo cáo"})
    operator.call("DELETE", f"{V1}/schedules/{sched['id']}", 204)
