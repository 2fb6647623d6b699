"""A small district behind the real app, for tests that act as several people.

Vĩnh Tường with the communes Tân Tiến and Ngũ Kiên, one loudspeaker in each; Ngũ Kiên has an
approved, scheduled announcement. People: a district admin, a district approver, an approver
and an operator scoped to Tân Tiến, an operator of Ngũ Kiên. Fakes stand in for rendering and
MQTT; the database is SQLite and PostgreSQL (`db_url`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pa_server.api import deps
from pa_server.app import create_app
from pa_server.auth import accounts
from pa_server.auth.models import AuditEntry
from pa_server.config import Settings
from tests.pa_server.server_fixtures import Clock, FakeDispatcher, FakeRenderer

PASSWORD = "mat-khau-dai-1"
V1 = "/api/v1"
PEOPLE = (
    ("quantri", "admin", []),
    ("duyet", "approver", []),
    ("duyet-tt", "approver", ["vinh-tuong/tan-tien"]),
    ("vanhanh", "operator", ["vinh-tuong/tan-tien"]),
    ("vanhanh-nk", "operator", ["vinh-tuong/ngu-kien"]),
)


@dataclass
class District:
    client: TestClient
    clock: Clock
    dispatcher: FakeDispatcher
    renderer: FakeRenderer
    tokens: dict[str, str] = field(default_factory=dict)
    ngu_kien_ann: str = ""
    ngu_kien_schedule: str = ""

    def call(self, who: str, method: str, url: str, status: int, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        r = self.client.request(method, url, headers=headers, **kw)
        assert r.status_code == status, (who, method, url, r.text)
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else r

    def refused(self, who: str, method: str, url: str, code: str, **kw: Any) -> None:
        body = self.call(who, method, url, 403, **kw)
        assert body["detail"]["code"] == code, body

    def audit(self, action: str, entity: str) -> list[AuditEntry]:
        with self.client.app.state.sessions() as db:  # type: ignore[attr-defined]
            rows = db.scalars(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.entity == entity)
            )
            return list(rows)

    def page_as(self, who: str) -> Page:
        """A second browser-like client signed in as `who` (its own cookies)."""
        other = TestClient(self.client.app, follow_redirects=False)
        token = _csrf(other.get("/dang-nhap").text)
        r = other.post(
            "/dang-nhap",
            data={"username": who, "password": PASSWORD, "csrf_token": token, "next": "/"},
        )
        assert r.status_code == 303, r.text
        return Page(other, _csrf(other.get("/").text))


@dataclass
class Page:
    client: TestClient
    csrf: str

    def post(self, url: str, **data: Any) -> Any:
        return self.client.post(url, data={"csrf_token": self.csrf, **data})


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


@pytest.fixture
def district(db_url: str, tmp_path: Path) -> Iterator[District]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=db_url, public_url="http://pa.test:8000"
    )
    app = create_app(settings, background=False)
    clock = Clock()
    dispatcher = FakeDispatcher()
    renderer = FakeRenderer(settings.media_dir)
    app.dependency_overrides[deps.get_now] = clock
    app.dependency_overrides[deps.get_dispatcher] = lambda: dispatcher
    app.dependency_overrides[deps.get_renderer] = lambda: renderer
    with TestClient(app, follow_redirects=False) as client:
        d = District(client, clock, dispatcher, renderer)
        with app.state.sessions() as db:
            for name, role, zones in PEOPLE:
                user = accounts.create_user(
                    db, name, role=role, password=PASSWORD, zones=zones, now=clock.now
                )
                d.tokens[name], _ = accounts.create_token(db, user, "test", now=clock.now)
            db.commit()
        d.call("quantri", "POST", f"{V1}/zones", 201, json={"path": "vinh-tuong", "name": "VT"})
        for slug, name in (("tan-tien", "Xã Tân Tiến"), ("ngu-kien", "Xã Ngũ Kiên")):
            path = f"vinh-tuong/{slug}"
            d.call("quantri", "POST", f"{V1}/zones", 201, json={"path": path, "name": name})
            # No quiet hours unless a test sets them: these tests run at any hour.
            d.call("quantri", "PATCH", f"{V1}/zones/{path}", 200, json={"quiet_start": None})
            body = {"id": f"loa-{slug}", "zone": path}
            d.call("quantri", "POST", f"{V1}/devices", 201, json=body)
        ann = d.call(
            "vanhanh-nk",
            "POST",
            f"{V1}/announcements",
            201,
            json={"title": "Ngũ Kiên: Bluezone", "text": "Bà con Ngũ Kiên cài Bluezone."},
        )
        d.call("vanhanh-nk", "POST", f"{V1}/announcements/{ann['id']}/render", 200)
        d.call("duyet", "POST", f"{V1}/announcements/{ann['id']}/approve", 200)
        sched = d.call(
            "vanhanh-nk",
            "POST",
            f"{V1}/schedules",
            201,
            json={
                "announcement_id": ann["id"],
                "zones": ["vinh-tuong/ngu-kien"],
                "rrule": "FREQ=DAILY;BYHOUR=7;BYMINUTE=0",
                "start": clock.now.isoformat(),
            },
        )
        d.ngu_kien_ann, d.ngu_kien_schedule = ann["id"], sched["id"]
        yield d
