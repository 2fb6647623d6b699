"""The Cảnh báo pages as each role: Vietnamese only, on a 390-px phone and a desktop, and the
one-click approval of an alert's draft driven in Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pa_server.auth.demo import DEMO_PASSWORD
from tests.pa_server.web.alert_world import AlertWorld, alert_pages, seed_alerts
from tests.pa_server.web.browser import demo_server
from tests.pa_server.web.conftest import SCREENSHOTS, screenshot
from tests.pa_server.web.support import World
from tests.pa_server.web.test_phone import MEASURE_JS, MIN_TAP
from tests.pa_server.web.visible_text import Checked, problems, visible_text

__all__ = ["demo_server"]  # the phone tests' fixture, used here by name

ROLES = ("quantri", "duyet", "vanhanh")


@pytest.fixture(scope="module")
def served(demo_server: tuple[str, World]) -> tuple[str, Any, AlertWorld]:
    """The phone tests' demo district (served on a free port) with alerts in every state."""
    base, world = demo_server
    app = world.client.app
    return base, app, seed_alerts(app)


def _sign_in(client: TestClient, username: str) -> str:
    client.cookies.clear()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dang-nhap").text)
    assert token
    r = client.post(
        "/dang-nhap",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/canh-bao").text)
    assert found
    return found.group(1)


@pytest.mark.parametrize("username", ROLES)
def test_alert_pages_speak_vietnamese_only(
    served: tuple[str, Any, AlertWorld], username: str
) -> None:
    _, app, world = served
    client = TestClient(app, follow_redirects=False)
    csrf = _sign_in(client, username)
    checked = Checked()
    for path, _ in alert_pages(world):
        r = client.get(path)
        assert r.status_code in (200, 404), (path, r.status_code)
        checked.check(f"{username} GET {path} ({r.status_code})", r.text)
    posts = {
        "/canh-bao/nap": {},
        f"/canh-bao/{world.english}/loi-doc": {"title": "", "text": ""},
        "/canh-bao/nguon/phat-hanh": {"name": "Tên Sai", "zones": "", "senders": "a b"},
        f"/canh-bao/nguon/phat-hanh/{world.locked_publisher}/nguoi-gui": {"senders": "x&y"},
        "/canh-bao/nguon/toa-do": {"zone": "vinh-tuong", "lat": "91", "lon": "1"},
        f"/canh-bao/{world.on_air}/duyet": {},
        # Refused as each role: not an admin (403), or locked already (409).
        f"/canh-bao/nguon/phat-hanh/{world.locked_publisher}/khoa": {},
    }
    for path, data in posts.items():
        r = client.post(path, data={"csrf_token": csrf, **data})
        assert r.status_code in (403, 409, 422), (path, r.status_code, r.text[:300])
        checked.check(f"{username} POST {path} ({r.status_code})", r.text)
    assert not checked.found, "\n" + checked.report()


def test_the_alert_is_shown_beside_its_draft(served: tuple[str, Any, AlertWorld]) -> None:
    _, app, world = served
    client = TestClient(app)
    _sign_in(client, "duyet")
    page = visible_text(client.get(f"/canh-bao/{world.draft}").text)
    assert "Cảnh báo nhận được" in page and "Lời sẽ đọc trên loa" in page
    assert "Nguy hiểm" in page and "Mưa lớn diện rộng. Nước sông Phan lên nhanh" in page
    assert "Duyệt và phát lặp lại" in page
    english = visible_text(client.get(f"/canh-bao/{world.english}").text)
    assert "Cần người viết lời đọc tiếng Việt" in english and "Lưu lời đọc" in english
    split = visible_text(client.get(f"/canh-bao/{world.split}").text)
    assert "Đang phát ở\nXã Tân Tiến\nChờ duyệt ở\nXã Vĩnh Thịnh" in split
    assert "Duyệt và phát lặp lại ở Xã Vĩnh Thịnh" in split
    locked = visible_text(client.get(f"/canh-bao/nguon/phat-hanh/{world.locked_publisher}").text)
    assert "Đã khóa" in locked and "Nguồn đang bị khóa, bị từ chối" in locked
    assert "Khóa nguồn" not in locked  # "duyet" is no admin: nothing to press
    sources = client.get("/canh-bao/nguon")
    assert sources.status_code == 200 and "Không kết nối được nguồn." in sources.text
    assert "2 lần lỗi liên tiếp" in sources.text


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_alert_pages_on_phone_and_desktop(
    browser: Any, served: tuple[str, Any, AlertWorld], width: int
) -> None:
    base, _, world = served
    context = browser.new_context(viewport={"width": width, "height": 844}, locale="vi-VN")
    context.set_default_timeout(30_000)
    page = context.new_page()
    found: list[str] = []
    try:
        page.goto(base + "/dang-nhap")
        page.fill("#f-username", "quantri")
        page.fill("#f-password", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        for path, name in alert_pages(world):
            page.goto(base + path)
            screenshot(page, SCREENSHOTS / f"alerts-{width}-{name}.png", full_page=True)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                found.append(f"{path}: page is {scroll}px wide, scrolls sideways")
            if width == 390:
                for c in page.evaluate(MEASURE_JS):
                    if c["h"] < MIN_TAP or c["w"] < MIN_TAP:
                        found.append(
                            f"{path}: {c['tag']} {c['what']!r} is {c['w']:.0f}×{c['h']:.0f}px"
                        )
            found += [f"{path}: {p}" for p in problems(page.content())]
        assert not found, "\n".join(dict.fromkeys(found))
    finally:
        context.close()
