"""Pages over HTTP (no browser): sign-in, CSRF, redirects, rate limit, audit log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pa_server.app import create_app
from pa_server.auth import accounts
from pa_server.config import Settings
from pa_server.services.context import UseCase, cli_actor
from tests.pa_server.server_fixtures import add_zone

PASSWORD = "mat-khau-dai-1"
NOW = datetime(2026, 8, 10, tzinfo=UTC)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data"), background=False)
    with TestClient(app, follow_redirects=False) as c:
        with app.state.sessions() as db:
            accounts.create_user(db, "quantri", role="admin", password=PASSWORD, now=NOW)
            accounts.create_user(
                db, "vanhanh", role="operator", password=PASSWORD, zones=["huyen/xa-a"], now=NOW
            )
            db.commit()
        yield c


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    token = csrf_of(client.get("/dang-nhap").text)
    r = client.post(
        "/dang-nhap",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/").text)


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/", "/thong-bao", "/nhat-ky", "/nguoi-dung"):
        r = client.get(path)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/dang-nhap?next=")


def test_sign_in_then_pages_open(client: TestClient) -> None:
    r = client.get("/dang-nhap")
    assert r.status_code == 200 and "Đăng nhập" in r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    sign_in(client, "quantri")
    r = client.get("/")
    assert r.status_code == 200 and "Tổng quan" in r.text and "Người dùng" in r.text


def test_wrong_password_keeps_username_and_says_why(client: TestClient) -> None:
    token = csrf_of(client.get("/dang-nhap").text)
    r = client.post(
        "/dang-nhap", data={"username": "quantri", "password": "sai", "csrf_token": token}
    )
    assert r.status_code == 401
    assert "không đúng" in r.text and 'value="quantri"' in r.text


def test_empty_fields_errors_beside_fields(client: TestClient) -> None:
    token = csrf_of(client.get("/dang-nhap").text)
    r = client.post("/dang-nhap", data={"username": "", "password": "", "csrf_token": token})
    assert r.status_code == 422
    assert 'id="e-username"' in r.text and 'id="e-password"' in r.text


def test_sign_in_without_csrf_refused(client: TestClient) -> None:
    client.get("/dang-nhap")
    r = client.post("/dang-nhap", data={"username": "quantri", "password": PASSWORD})
    assert r.status_code == 403 and "Biểu mẫu" in r.text
    assert client.get("/").status_code == 303


def test_sign_in_rate_limited_in_vietnamese(client: TestClient) -> None:
    token = csrf_of(client.get("/dang-nhap").text)
    for _ in range(5):
        r = client.post(
            "/dang-nhap", data={"username": "quantri", "password": "sai", "csrf_token": token}
        )
        assert r.status_code == 401
    r = client.post(
        "/dang-nhap", data={"username": "quantri", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 429
    assert "thử lại sau 5 phút" in r.text and int(r.headers["retry-after"]) > 0


def test_next_only_local(client: TestClient) -> None:
    token = csrf_of(client.get("/dang-nhap").text)
    r = client.post(
        "/dang-nhap",
        data={
            "username": "quantri",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
    )
    assert r.headers["location"] == "/"


def test_sign_out_needs_csrf_and_ends_session(client: TestClient) -> None:
    token = sign_in(client, "quantri")
    assert client.post("/dang-xuat").status_code == 403
    assert client.get("/").status_code == 200
    assert client.post("/dang-xuat", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 303


def test_operator_cannot_open_users_page(client: TestClient) -> None:
    sign_in(client, "vanhanh")
    r = client.get("/nguoi-dung")
    assert r.status_code == 403 and "quản trị viên" in r.text


def test_sign_in_is_in_the_audit_log(client: TestClient) -> None:
    sign_in(client, "quantri")
    r = client.get("/nhat-ky")
    assert r.status_code == 200 and "quantri đã đăng nhập lúc" in r.text
    assert "sign_in" not in r.text  # the action's code is not shown to people


def test_health_and_public_page_open(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/cong-khai/huyen/xa-a").status_code == 404  # no such zone, but open
    assert client.get("/static/app.css").status_code == 200


def test_api_token_flow(client: TestClient) -> None:
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").headers["www-authenticate"] == "Bearer"
    csrf = sign_in(client, "vanhanh")
    assert client.get("/api/v1/me").json()["zones"] == ["huyen/xa-a"]
    # A cookie-authenticated write needs the CSRF header.
    r = client.post("/api/v1/tokens", json={"name": "cron"})
    assert r.status_code == 403 and r.json()["detail"]["code"] == "csrf_failed"
    r = client.post("/api/v1/tokens", json={"name": "cron"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    token = r.json()["token"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=bearer).json()["username"] == "vanhanh"
    # A bearer token needs no CSRF header (browsers never send it by themselves).
    r = client.delete(f"/api/v1/tokens/{r.json()['id']}", headers=bearer)
    assert r.status_code == 204
    r = client.get("/api/v1/me", headers=bearer)
    assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_credentials"


def test_admin_adds_user_errors_beside_fields(client: TestClient) -> None:
    csrf = sign_in(client, "quantri")
    r = client.post(
        "/nguoi-dung",
        data={"csrf_token": csrf, "username": "Bình Sai", "role": "operator", "password": "x"},
    )
    assert r.status_code == 422
    assert 'id="e-username"' in r.text and 'value="Bình Sai"' in r.text
    # A zone that does not exist is never given (a tampered form, a deleted zone).
    r = client.post(
        "/nguoi-dung",
        data={
            "csrf_token": csrf,
            "username": "binh",
            "role": "operator",
            "zones": "huyen/xa-b",
            "password": PASSWORD,
        },
    )
    assert r.status_code == 422 and "Khu vực được giao không tồn tại." in r.text
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        for path in ("huyen", "huyen/xa-b"):
            add_zone(db, path, path)
        db.commit()
    r = client.post(
        "/nguoi-dung",
        data={
            "csrf_token": csrf,
            "username": "binh",
            "full_name": "Nguyễn Bình",
            "role": "operator",
            "zones": "huyen/xa-b",
            "password": PASSWORD,
        },
    )
    assert r.status_code == 303
    page = client.get("/nguoi-dung").text
    assert "Nguyễn Bình" in page
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        (binh,) = [u for u in accounts.list_users(db) if u.username == "binh"]
        assert binh.zones == ["huyen/xa-b"]


class RecordingDispatcher:
    """Records commands instead of publishing them."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, object]] = []

    def command(self, target: str, kind: str, body: object, *, now: datetime) -> str:
        self.commands.append((target, kind, body))
        return "id"


def test_device_commands_inside_zone_only(client: TestClient) -> None:
    from pa_server.schemas.devices import DeviceCreate
    from pa_server.services import devices

    app = client.app
    with app.state.sessions() as db:  # type: ignore[attr-defined]
        for path in ("huyen", "huyen/xa-a", "huyen/xa-b"):
            add_zone(db, path, path, timezone="UTC")
        uc = UseCase(db, cli_actor(), NOW, app.state.settings)  # type: ignore[attr-defined]
        devices.create_device(uc, DeviceCreate(id="loa-a", zone="huyen/xa-a"))
        devices.create_device(uc, DeviceCreate(id="loa-b", zone="huyen/xa-b"))
        db.commit()
    recorder = RecordingDispatcher()
    app.state.dispatcher = recorder  # type: ignore[attr-defined]
    csrf = sign_in(client, "vanhanh")
    r = client.post("/thiet-bi/loa-a/am-luong", data={"csrf_token": csrf, "volume": "70"})
    assert r.status_code == 303 and r.headers["location"] == "/thiet-bi?tb=volume"
    assert client.post("/thiet-bi/loa-a/ping", data={"csrf_token": csrf}).status_code == 303
    assert [(t, k) for t, k, _ in recorder.commands] == [
        ("device:loa-a", "volume"),
        ("device:loa-a", "ping"),
    ]
    r = client.post("/thiet-bi/loa-b/ping", data={"csrf_token": csrf})
    assert r.status_code == 403 and len(recorder.commands) == 2
    r = client.post("/thiet-bi/loa-a/am-luong", data={"csrf_token": csrf, "volume": "900"})
    assert r.headers["location"] == "/thiet-bi?tb=bad-volume"
    # Their own commune's loudspeakers first; every one when they ask for all.
    page = client.get("/thiet-bi").text
    assert 'data-device="loa-a"' in page and 'data-device="loa-b"' not in page
    page = client.get("/thiet-bi?zone=*").text
    assert 'data-device="loa-a"' in page and 'data-device="loa-b"' in page
    assert 'action="/thiet-bi/loa-b/ping"' not in page


def test_device_state_shown(client: TestClient) -> None:
    from pa_server.db.models import DeviceState
    from pa_server.schemas.devices import DeviceCreate
    from pa_server.services import devices

    app = client.app
    with app.state.sessions() as db:  # type: ignore[attr-defined]
        add_zone(db, "huyen", "Huyện", timezone="UTC")
        uc = UseCase(db, cli_actor(), NOW, app.state.settings)  # type: ignore[attr-defined]
        devices.create_device(uc, DeviceCreate(id="loa-1", zone="huyen"))
        payload = {
            "device_id": "loa-1",
            "online": True,
            "volume": 65,
            "clock_offset_ms": 12,
            "clock_synced": False,
            "temp_c": 48.5,
            "cache": {"items": 3, "bytes": 3 * 1048576, "free_bytes": 10},
        }
        db.add(
            DeviceState(device_id="loa-1", online=True, at=NOW, received_at=NOW, payload=payload)
        )
        db.commit()
    sign_in(client, "quantri")
    page = client.get("/thiet-bi/loa-1").text  # the loudspeaker's own page has every fact
    shown_texts = (
        "Trực tuyến",
        "lệch 12 mili giây",
        "Chưa đồng bộ giờ",
        "3 tệp, 3,0 MB",
        "48,5 °C",
    )
    for shown in shown_texts:
        assert shown in page, shown
