"""A schedule's life in Chromium, at desktop and 390-px phone sizes: two times of day in one
schedule → preview with warnings → save → edit → pause → resume → delete (with confirmation).

Screenshots land in test-artifacts/screenshots/ (`test_schedule_life-<size>-NN-<step>.png`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pa_server.web.browser import VIEWPORTS, approved_announcement, assert_fits, sized_visitor
from tests.pa_server.web.conftest import LiveServer, Visitor

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(params=sorted(VIEWPORTS))
def sized(
    request: pytest.FixtureRequest, browser: Any, live_server: LiveServer
) -> Iterator[tuple[str, Visitor]]:
    """A fresh browser context at desktop or phone size."""
    size = request.param
    with sized_visitor(
        browser, live_server.url, size, f"test_schedule_life-{size}", request
    ) as visitor:
        yield size, visitor


def test_schedule_life(sized: tuple[str, Visitor]) -> None:
    size, visitor = sized
    page = visitor.page
    ann_id = approved_announcement(
        visitor, f"Họp thôn ({size})", "Mời bà con thôn đi họp tại nhà văn hóa."
    )
    visitor.sign_in("vanhanh")
    visitor.go(f"/lich-phat/moi?announcement={ann_id}", "form")
    assert_fits(visitor, text=False)
    # The operator's own zone is ticked, by name.
    assert page.is_checked("input[name=zone][value='huyen/xa-a']")
    assert "Xã A" in page.locator("fieldset.tree").inner_text()

    # Two times and one inside quiet hours: the preview warns before anything is saved.
    page.fill("#f-times", "06:30, 17:15, 22:00")
    page.click("button[value=preview]")
    page.wait_for_load_state()
    visitor.shot("preview-warnings")
    assert_fits(visitor, text=False)
    warnings = page.locator("[data-testid=warnings]").inner_text()
    assert "22:00" in warnings and "giờ yên tĩnh" in warnings
    assert "06:30, 17:15 và 22:00" in page.locator("[data-testid=times-said]").inner_text()

    # Only 23:00: nothing would play, and the page says why.
    page.fill("#f-times", "23:00")
    page.click("button[value=save]")
    page.wait_for_load_state()
    visitor.shot("refused-quiet-hours")
    assert "giờ yên tĩnh" in page.locator("[role=alert]").inner_text()

    page.fill("#f-times", "06:30, 17:15")
    page.click("button[value=preview]")
    page.wait_for_load_state()
    assert page.locator("[data-testid=preview] li").count() >= 2
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/lich-phat/[0-9a-f-]{36}\?tb=saved"))
    visitor.shot("saved")
    assert_fits(visitor, text=False)
    schedule_url = page.url.split("?")[0]
    said = page.locator("[data-testid=schedule-text]").inner_text()
    assert "06:30 và 17:15" in said and "FREQ" not in said

    page.get_by_role("link", name="Sửa lịch").click()
    page.wait_for_load_state()
    assert page.input_value("#f-times") == "06:30, 17:15"
    page.fill("#f-times", "07:00, 17:15")
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"\?tb=edited"))
    visitor.shot("edited")
    assert "07:00 và 17:15" in page.locator("[data-testid=schedule-text]").inner_text()

    page.get_by_role("button", name="Tạm dừng").click()
    page.wait_for_url(re.compile(r"\?tb=paused"))
    visitor.shot("paused")
    assert "Đã tạm dừng" in page.locator("[role=status]").inner_text()
    page.get_by_role("button", name="Chạy lại").click()
    page.wait_for_url(re.compile(r"\?tb=resumed"))
    visitor.shot("resumed")

    page.get_by_role("link", name="Xóa lịch").click()
    page.wait_for_load_state()
    visitor.shot("delete-confirm")
    assert_fits(visitor, text=False)
    assert "07:00 và 17:15" in page.locator("main").inner_text()
    page.get_by_role("button", name="Xóa hẳn lịch này").click()
    page.wait_for_url(re.compile(r"/lich-phat\?tb=deleted"))
    visitor.shot("deleted")
    assert page.request.get(schedule_url).status == 404

    visitor.go("/nhat-ky", "audit")
    log = page.locator("main").inner_text()
    assert f"vanhanh đã xóa lịch phát «Họp thôn ({size})»" in log
    assert "vanhanh đã tạm dừng" in log and "vanhanh đã cho chạy lại" in log
