"""Zones and loudspeakers over HTTP: the API (`/api/v1/zones`, `/api/v1/devices`) and the pages
(`/khu-vuc`, `/thiet-bi…`) call the same use cases; names in, slugs never out."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from devices.config import config_from_mapping
from pa_server.api import deps
from pa_server.app import create_app
from pa_server.auth import accounts
from pa_server.auth.rights import Actor, Role
from pa_server.config import Settings
from pa_server.db.models import Device, Zone
from tests.pa_server.server_fixtures import Api
from tests.pa_server.web.test_pages import NOW, PASSWORD, sign_in
from tests.pa_server.web.visible_text import problems, visible_text

OPERATOR = Actor(id=7, username="vanhanh", role=Role.OPERATOR, zones=("huyen/xa-a",))


# ------------------------------------------------------------------ API


def test_api_zone_tree_by_name_and_refusals(api: Api) -> None:
    api.ok("POST", "/api/v1/zones", 201, json={"path": "huyen", "name": "Huyện Thử"})
    made = api.ok("POST", "/api/v1/zones", 201, json={"parent": "huyen", "name": "Xã Tân Tiến"})
    assert made["path"] == "huyen/xa-tan-tien"
    api.refused(
        "POST", "/api/v1/zones", "duplicate_name", json={"parent": "huyen", "name": "Xã Tân Tiến"}
    )
    api.refused("POST", "/api/v1/zones", "unknown_zone", json={"parent": "khong", "name": "Xã X"})
    renamed = api.ok("PATCH", "/api/v1/zones/huyen/xa-tan-tien", json={"name": "Xã Tân Tiến 2"})
    assert renamed["path"] == "huyen/xa-tan-tien" and renamed["name"] == "Xã Tân Tiến 2"
    api.refused("DELETE", "/api/v1/zones/huyen", "zone_in_use", status=409)
    api.client.app.dependency_overrides[deps.current_user] = lambda: OPERATOR  # type: ignore[attr-defined]
    api.refused(
        "POST", "/api/v1/zones", "admin_only", 403, json={"parent": "huyen", "name": "Xã B"}
    )
    api.refused("DELETE", "/api/v1/zones/huyen/xa-tan-tien", "admin_only", 403)


def test_api_device_add_move_password_retire(api: Api) -> None:
    for body in ({"path": "huyen", "name": "Huyện"}, {"parent": "huyen", "name": "Xã A"}):
        api.ok("POST", "/api/v1/zones", 201, json=body)
    api.ok("POST", "/api/v1/zones", 201, json={"parent": "huyen", "name": "Xã B"})
    made = api.ok("POST", "/api/v1/devices", 201, json={"zone": "huyen/xa-a", "name": "Loa chợ"})
    assert made["id"] == "xa-a-loa-cho" and made["mqtt_password"]
    config = tomllib.loads(made["agent_config"])
    assert config["mqtt"]["password"] == made["mqtt_password"]
    moved = api.ok("POST", "/api/v1/devices/xa-a-loa-cho/move", json={"zone": "huyen/xa-b"})
    assert tomllib.loads(moved["agent_config"])["device"]["zone"] == "huyen/xa-b"
    assert moved["mqtt_password"] != made["mqtt_password"]
    fresh = api.ok("POST", "/api/v1/devices/xa-a-loa-cho/password")
    assert fresh["mqtt_password"] not in (made["mqtt_password"], moved["mqtt_password"])
    api.refused(
        "POST", "/api/v1/devices/xa-a-loa-cho/move", "unknown_zone", json={"zone": "huyen/x"}
    )
    api.client.app.dependency_overrides[deps.current_user] = lambda: OPERATOR  # type: ignore[attr-defined]
    # The loudspeaker is now in Xã B: not the operator's.
    api.refused("DELETE", "/api/v1/devices/xa-a-loa-cho", "outside_zone", 403)
    api.refused(
        "POST", "/api/v1/devices", "outside_zone", 403, json={"zone": "huyen/xa-b", "name": "L"}
    )


def test_only_the_move_changes_a_zone_and_it_always_gives_a_new_password(api: Api) -> None:
    """PATCH with another zone is refused and changes nothing, not even the fields beside it
    (a moved loudspeaker must not keep a password scoped to its old commune's topics)."""
    for body in ({"path": "huyen", "name": "Huyện"}, {"parent": "huyen", "name": "Xã A"}):
        api.ok("POST", "/api/v1/zones", 201, json=body)
    api.ok("POST", "/api/v1/zones", 201, json={"parent": "huyen", "name": "Xã B"})
    api.ok("POST", "/api/v1/devices", 201, json={"zone": "huyen/xa-a", "name": "Loa chợ"})
    url = "/api/v1/devices/xa-a-loa-cho"

    def stored() -> tuple[str, str, str]:
        with api.client.app.state.sessions() as db:  # type: ignore[attr-defined]
            device = db.get_one(Device, "xa-a-loa-cho")
            return device.zone_path, device.name, device.credential_hash

    before = stored()
    detail = api.refused(
        "PATCH", url, "zone_change_needs_move", json={"zone": "huyen/xa-b", "name": "Loa mới"}
    )
    assert f"POST {url}/move" in detail["message"]
    assert stored() == before
    api.refused("PATCH", url, "unknown_zone", json={"zone": "huyen/khong-co"})
    # Its own zone again is no move: the rest of the change applies, the password stays.
    same = api.ok("PATCH", url, json={"zone": " huyen/xa-a/", "name": "Loa cổng chợ"})
    assert (same["zone"], same["name"]) == ("huyen/xa-a", "Loa cổng chợ")
    assert stored() == ("huyen/xa-a", "Loa cổng chợ", before[2])
    moved = api.ok("POST", f"{url}/move", json={"zone": "huyen/xa-b"})
    zone, _name, credential = stored()
    assert zone == "huyen/xa-b" and credential != before[2]
    assert tomllib.loads(moved["agent_config"])["mqtt"]["password"] == moved["mqtt_password"]


# ------------------------------------------------------------------ pages


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data"), background=False)
    with TestClient(app, follow_redirects=False) as c:
        with app.state.sessions() as db:
            accounts.create_user(db, "quantri", role="admin", password=PASSWORD, now=NOW)
            db.commit()
        yield c


def _add_operator(client: TestClient) -> None:
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        accounts.create_user(
            db,
            "vanhanh",
            role="operator",
            password=PASSWORD,
            zones=["huyen-thu/xa-a"],
            now=NOW,
            full_name="Cán bộ xã A",
        )
        db.commit()


def _config_of(html: str) -> tuple[str, str]:
    """(file name, TOML text) of the download link on a config page."""
    link = re.search(r'href="data:application/toml;charset=utf-8,([^"]+)" download="([^"]+)"', html)
    assert link, "no config download on the page"
    return link.group(2), unquote(link.group(1))


def test_admin_builds_the_tree_and_adds_a_loudspeaker_by_name(client: TestClient) -> None:
    csrf = sign_in(client, "quantri")
    for parent, name in (("", "Huyện Thử"), ("huyen-thu", "Xã A"), ("huyen-thu/xa-a", "Thôn Đông")):
        r = client.post("/khu-vuc", data={"csrf_token": csrf, "parent": parent, "name": name})
        assert r.status_code == 303, r.text
    page = client.get("/khu-vuc").text
    assert "Thôn Đông" in page and not problems(page), problems(page)
    shown = visible_text(page)
    assert "huyen-thu" not in shown and "thon-dong" not in shown
    # A name with nothing to make a slug from, or the same name twice, is said beside the field.
    r = client.post("/khu-vuc", data={"csrf_token": csrf, "parent": "huyen-thu", "name": "Xã A"})
    assert r.status_code == 422 and "Tên này đã có trong cùng khu vực" in r.text
    # A loudspeaker in the village, its zone picked by name.
    form = client.get("/thiet-bi/moi").text
    assert ">Thôn Đông, Xã A</option>" in form
    r = client.post(
        "/thiet-bi/moi",
        data={
            "csrf_token": csrf,
            "name": "Loa chợ",
            "location": "Cột điện",
            "zone": "huyen-thu/xa-a/thon-dong",
        },
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    filename, text = _config_of(r.text)
    assert filename == "pa-device-thon-dong-loa-cho.toml"
    config = config_from_mapping(tomllib.loads(text), env={})
    assert config.device.zone == "huyen-thu/xa-a/thon-dong"
    assert config.mqtt.password and config.mqtt.password in r.text
    # Sent again (a reload): refused, not a second loudspeaker.
    again = client.post(
        "/thiet-bi/moi",
        data={"csrf_token": csrf, "name": "Loa chợ", "zone": "huyen-thu/xa-a/thon-dong"},
    )
    assert again.status_code == 422
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        assert db.query(Device).count() == 1
    # Rename the village: the path stays, the page says the new name.
    r = client.post(
        "/khu-vuc/sua",
        data={
            "csrf_token": csrf,
            "zone": "huyen-thu/xa-a/thon-dong",
            "name": "Thôn Đông Mới",
            "quiet_start": "21:00",
            "quiet_end": "05:30",
            "default_volume": "60",
        },
    )
    assert r.status_code == 303
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        zone = db.get(Zone, "huyen-thu/xa-a/thon-dong")
        assert zone is not None and zone.name == "Thôn Đông Mới" and zone.default_volume == 60
    assert "Thôn Đông Mới, Xã A" in client.get("/thiet-bi/thon-dong-loa-cho").text
    # Not empty: the refusal says what is in it, in Vietnamese.
    r = client.post("/khu-vuc/xoa", data={"csrf_token": csrf, "zone": "huyen-thu/xa-a/thon-dong"})
    assert r.status_code == 409 and "còn 1 loa" in visible_text(r.text)


def test_device_page_move_rename_password_and_retire(client: TestClient) -> None:
    csrf = sign_in(client, "quantri")
    for parent, name in (("", "Huyện Thử"), ("huyen-thu", "Xã A"), ("huyen-thu", "Xã B")):
        client.post("/khu-vuc", data={"csrf_token": csrf, "parent": parent, "name": name})
    made = client.post(
        "/thiet-bi/moi", data={"csrf_token": csrf, "name": "Loa chợ", "zone": "huyen-thu/xa-a"}
    )
    first = tomllib.loads(_config_of(made.text)[1])["mqtt"]["password"]
    page = client.get("/thiet-bi/xa-a-loa-cho").text
    shown = visible_text(page)
    assert "Chưa kết nối lần nào" in shown and "/thiet-bi/xa-a-loa-cho/chuong-trinh" in page
    assert not problems(page), problems(page)
    r = client.post(
        "/thiet-bi/xa-a-loa-cho/sua",
        data={"csrf_token": csrf, "name": "Loa cổng chợ", "location": "Cổng"},
    )
    assert r.status_code == 303
    r = client.post(
        "/thiet-bi/xa-a-loa-cho/chuyen", data={"csrf_token": csrf, "zone": "huyen-thu/xa-b"}
    )
    assert r.status_code == 200
    _name, text = _config_of(r.text)
    assert tomllib.loads(text)["device"]["zone"] == "huyen-thu/xa-b"
    assert tomllib.loads(text)["mqtt"]["password"] != first  # the same use case as the API's
    assert "Đã chuyển Loa cổng chợ sang Xã B" in visible_text(r.text)
    r = client.post("/thiet-bi/xa-a-loa-cho/mat-khau", data={"csrf_token": csrf})
    assert r.status_code == 200 and _config_of(r.text)[1] != text
    r = client.post("/thiet-bi/xa-a-loa-cho/go", data={"csrf_token": csrf})
    assert r.status_code == 422  # no confirmation ticked
    r = client.post("/thiet-bi/xa-a-loa-cho/go", data={"csrf_token": csrf, "confirm": "yes"})
    assert r.status_code == 303 and r.headers["location"] == "/thiet-bi?tb=removed"
    assert client.get("/thiet-bi/xa-a-loa-cho").status_code == 404


def test_operator_sees_own_loudspeakers_and_no_buttons_it_cannot_use(client: TestClient) -> None:
    csrf = sign_in(client, "quantri")
    for parent, name in (("", "Huyện Thử"), ("huyen-thu", "Xã A"), ("huyen-thu", "Xã B")):
        client.post("/khu-vuc", data={"csrf_token": csrf, "parent": parent, "name": name})
    for zone in ("huyen-thu/xa-a", "huyen-thu/xa-b"):
        client.post("/thiet-bi/moi", data={"csrf_token": csrf, "name": "Loa chợ", "zone": zone})
    _add_operator(client)
    csrf = sign_in(client, "vanhanh")
    home = client.get("/").text
    assert 'href="/nguoi-dung"' not in home
    own = client.get("/thiet-bi").text
    assert 'data-device="xa-a-loa-cho"' in own and 'data-device="xa-b-loa-cho"' not in own
    # Another commune's loudspeaker: readable, no button.
    other = client.get("/thiet-bi/xa-b-loa-cho").text
    assert "/thiet-bi/xa-b-loa-cho/go" not in other and "/thiet-bi/xa-b-loa-cho/chuyen" not in other
    # The new-loudspeaker form offers their own commune, chosen already.
    form = client.get("/thiet-bi/moi").text
    assert '<option value="huyen-thu/xa-a" selected>Xã A</option>' in form
    assert ">Xã B</option>" not in form
    # The zone tree is readable, not editable.
    zones_page = client.get("/khu-vuc").text
    assert "Thêm khu vực" not in zones_page and "/khu-vuc/xoa" not in zones_page
    r = client.post("/khu-vuc", data={"csrf_token": csrf, "parent": "huyen-thu", "name": "Xã C"})
    assert r.status_code == 403
    r = client.post("/thiet-bi/xa-b-loa-cho/go", data={"csrf_token": csrf, "confirm": "yes"})
    assert r.status_code == 403


def test_agent_english_never_reaches_the_page(client: TestClient) -> None:
    from pa_server.db.models import DeviceState

    csrf = sign_in(client, "quantri")
    client.post("/khu-vuc", data={"csrf_token": csrf, "parent": "", "name": "Huyện Thử"})
    client.post("/thiet-bi/moi", data={"csrf_token": csrf, "name": "Loa 1", "zone": "huyen-thu"})
    client.post("/thiet-bi/moi", data={"csrf_token": csrf, "name": "Loa 2", "zone": "huyen-thu"})
    with client.app.state.sessions() as db:  # type: ignore[attr-defined]
        for device_id, error in (
            ("huyen-thu-loa-1", "unsupported protocol version None"),
            ("huyen-thu-loa-2", "Traceback: KeyError 'frobnicate' in gizmo"),
        ):
            db.add(
                DeviceState(
                    device_id=device_id,
                    online=False,
                    at=NOW,
                    received_at=NOW,
                    payload={"last_error": error},
                )
            )
        db.commit()
    for path in ("/thiet-bi", "/thiet-bi/huyen-thu-loa-1", "/thiet-bi/huyen-thu-loa-2"):
        html = client.get(path).text
        shown = visible_text(html)
        assert "unsupported" not in html and "frobnicate" not in html, path
        assert "Mất kết nối" in shown, path
    assert "Phần mềm trên loa khác phiên bản" in visible_text(
        client.get("/thiet-bi/huyen-thu-loa-1").text
    )
    assert "Loa báo lỗi kỹ thuật." in visible_text(client.get("/thiet-bi/huyen-thu-loa-2").text)
