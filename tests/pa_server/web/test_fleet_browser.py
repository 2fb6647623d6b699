"""Zones and loudspeakers in headless Chromium, at desktop and 390-px phone sizes.

An admin adds a commune and a village by name, adds a loudspeaker there and downloads its
config (read back with the agent's own loader), renames and moves it (a new config); the
commune's operator then sees only their own loudspeakers. Screenshots land in
`test-artifacts/screenshots/`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from devices.config import load_config
from tests.pa_server.web.conftest import PASSWORD, LiveServer, Visitor
from tests.pa_server.web.visible_text import problems

pytestmark = pytest.mark.browser

SIZES = {
    "desktop": ({"width": 1280, "height": 900}, "Xã Tân Tiến", "Thôn Đông"),
    "phone": ({"width": 390, "height": 844}, "Xã Tân Lập", "Thôn Đoài"),
}


def _fits(visitor: Visitor, width: int) -> None:
    overflow = visitor.page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, (visitor.page.url, overflow)
    found = problems(visitor.page.content())
    assert not found, found


def _download(visitor: Visitor, tmp_path: Path, label: str) -> Path:
    with visitor.page.expect_download() as info:
        visitor.page.click("[data-testid=download]")
    download = info.value
    target = tmp_path / f"{label}-{download.suggested_filename}"
    download.save_as(str(target))
    return target


@pytest.mark.parametrize("size", list(SIZES))
def test_admin_adds_zones_and_a_loudspeaker_and_the_operator_sees_its_own(
    browser: Any, live_server: LiveServer, tmp_path: Path, size: str
) -> None:
    viewport, commune, village = SIZES[size]
    width = viewport["width"]
    context = browser.new_context(viewport=viewport, locale="vi-VN", accept_downloads=True)
    context.set_default_timeout(30_000)
    visitor = Visitor(context.new_page(), live_server.url, f"fleet-{size}")
    try:
        page = visitor.page
        visitor.sign_in("quantri", PASSWORD)
        # A commune under the district, then a village under it: names only.
        visitor.go("/khu-vuc", "zones")
        _fits(visitor, width)
        page.select_option("#f-parent", label="Huyện Thử")
        page.fill("#f-name", commune)
        page.click("form[action='/khu-vuc'] button[type=submit]")
        page.wait_for_url("**/khu-vuc?tb=added")
        page.select_option("#f-parent", label=commune)
        page.fill("#f-name", village)
        page.click("form[action='/khu-vuc'] button[type=submit]")
        page.wait_for_url("**/khu-vuc?tb=added")
        visitor.shot("zones-added")
        main = page.locator("main").inner_text()
        assert commune in main and village in main and "xa-tan" not in main
        _fits(visitor, width)

        # A loudspeaker in the village, its zone picked by name; the config downloads.
        visitor.go("/thiet-bi/moi", "new-device")
        _fits(visitor, width)
        page.fill("#f-name", "Loa chợ")
        page.fill("#f-location", "Cột điện đầu chợ")
        page.select_option("#f-zone", label=f"{village}, {commune}")
        page.click("form[action='/thiet-bi/moi'] button[type=submit]")
        page.wait_for_selector("[data-testid=config]")
        visitor.shot("config")
        _fits(visitor, width)
        device_id = page.locator("[data-testid=device-id]").inner_text()
        saved = _download(visitor, tmp_path, "added")
        assert saved.name.endswith(f"pa-device-{device_id}.toml")
        config = load_config(saved, env={})
        assert config.device.id == device_id and config.mqtt.username == device_id
        assert config.mqtt.password == page.locator("[data-testid=password]").inner_text()

        # Its page: rename, then move it to Xã A (the operator's commune): a new config.
        page.click("text=Xem trang của loa")
        page.wait_for_url(f"**/thiet-bi/{device_id}")
        visitor.shot("device")
        _fits(visitor, width)
        assert "Chưa kết nối lần nào" in page.locator("main").inner_text()
        renamed = f"Loa cổng chợ {village}"  # unique in Xã A, where both sizes move theirs
        page.fill("#f-name", renamed)
        page.click(f"form[action='/thiet-bi/{device_id}/sua'] button[type=submit]")
        page.wait_for_url(f"**/thiet-bi/{device_id}?tb=saved")
        assert page.locator("h1").inner_text() == renamed
        page.select_option("#f-zone", label="Xã A")
        page.click(f"form[action='/thiet-bi/{device_id}/chuyen'] button[type=submit]")
        page.wait_for_selector("[data-testid=config]")
        visitor.shot("moved-config")
        moved = load_config(_download(visitor, tmp_path, "moved"), env={})
        assert moved.device.zone == "huyen/xa-a" and moved.mqtt.password != config.mqtt.password

        # A second loudspeaker stays in the new commune: not the operator's.
        visitor.go("/thiet-bi/moi", "new-device-2")
        page.fill("#f-name", "Loa trường học")
        page.select_option("#f-zone", label=commune)
        page.click("form[action='/thiet-bi/moi'] button[type=submit]")
        page.wait_for_selector("[data-testid=config]")
        other_id = page.locator("[data-testid=device-id]").inner_text()
        visitor.sign_out()

        # The operator of Xã A sees its own loudspeaker, with buttons; not the other one.
        visitor.sign_in("vanhanh", PASSWORD)
        assert page.locator("header nav a", has_text="Người dùng").count() == 0
        visitor.go("/thiet-bi", "operator-devices")
        _fits(visitor, width)
        listed = page.locator("[data-testid=devices]")
        assert listed.locator(f"[data-device='{device_id}']").count() == 1
        assert listed.locator(f"[data-device='{other_id}']").count() == 0
        own = listed.locator(f"[data-device='{device_id}']")
        assert own.get_by_role("button", name="Kiểm tra").count() == 1
        visitor.go(f"/thiet-bi/{other_id}", "operator-other-device")
        assert page.get_by_role("button", name="Gỡ loa").count() == 0
        assert re.search(r"Xã", page.locator("[data-testid=zone]").inner_text())
        visitor.sign_out()
    finally:
        context.close()
