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
from tests.pa_server.web.browser import add_loudspeaker, assert_fits, download, sized_visitor
from tests.pa_server.web.conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

#: Each size adds its own commune and village (one live server for both).
SIZES = {"desktop": ("Xã Tân Tiến", "Thôn Đông"), "phone": ("Xã Tân Lập", "Thôn Đoài")}


@pytest.mark.parametrize("size", list(SIZES))
def test_admin_adds_zones_and_a_loudspeaker_and_the_operator_sees_its_own(
    browser: Any,
    live_server: LiveServer,
    tmp_path: Path,
    size: str,
    request: pytest.FixtureRequest,
) -> None:
    commune, village = SIZES[size]
    with sized_visitor(browser, live_server.url, size, f"fleet-{size}", request) as visitor:
        page = visitor.page
        visitor.sign_in("quantri", PASSWORD)
        # A commune under the district, then a village under it: names only.
        visitor.go("/khu-vuc", "zones")
        assert_fits(visitor)
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
        assert_fits(visitor)

        # A loudspeaker in the village, its zone picked by name; the config downloads.
        visitor.go("/thiet-bi/moi", "new-device")
        assert_fits(visitor)
        device_id, config = add_loudspeaker(
            visitor, tmp_path, "Loa chợ", zone={"label": f"{village}, {commune}"}
        )

        # Its page: rename, then move it to Xã A (the operator's commune): a new config.
        page.click("text=Xem trang của loa")
        page.wait_for_url(f"**/thiet-bi/{device_id}")
        visitor.shot("device")
        assert_fits(visitor)
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
        moved = load_config(download(visitor, tmp_path, "moved"), env={})
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
        assert_fits(visitor)
        listed = page.locator("[data-testid=devices]")
        assert listed.locator(f"[data-device='{device_id}']").count() == 1
        assert listed.locator(f"[data-device='{other_id}']").count() == 0
        own = listed.locator(f"[data-device='{device_id}']")
        assert own.get_by_role("button", name="Kiểm tra").count() == 1
        visitor.go(f"/thiet-bi/{other_id}", "operator-other-device")
        assert page.get_by_role("button", name="Gỡ loa").count() == 0
        assert re.search(r"Xã", page.locator("[data-testid=zone]").inner_text())
        visitor.sign_out()
