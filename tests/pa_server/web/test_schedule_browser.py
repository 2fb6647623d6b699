"""A schedule's life in Chromium, at desktop and 390-px phone sizes: two times of day in one
schedule → preview with warnings → save → edit → pause → resume → delete (with confirmation).

Screenshots land in test-artifacts/screenshots/ (`test_schedule_life-<size>-NN-<step>.png`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pa_server.web.conftest import LiveServer, Visitor

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=sorted(SIZES))
def sized(
    request: pytest.FixtureRequest, browser: Any, live_server: LiveServer
) -> Iterator[tuple[str, Visitor]]:
    """A fresh browser context at desktop or phone size."""
    size = request.param
    context = browser.new_context(viewport=SIZES[size], locale="vi-VN")
    context.set_default_timeout(30_000)
    visitor = Visitor(context.new_page(), live_server.url, f"test_schedule_life-{size}")
    yield size, visitor
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        visitor.shot("FAILED")
    context.close()


def _fits(visitor: Visitor) -> None:
    width = visitor.page.evaluate("document.documentElement.scrollWidth")
    viewport = visitor.page.viewport_size["width"]
    assert width <= viewport, f"{visitor.page.url} scrolls sideways ({width} > {viewport})"


def _approved_announcement(visitor: Visitor, title: str) -> str:
    page = visitor.page
    visitor.sign_in("vanhanh")
    visitor.go("/thong-bao/moi", "compose")
    page.fill("#f-title", title)
    page.fill("#f-text", "Mời bà con thôn đi họp tại nhà văn hóa.")
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/thong-bao/[0-9a-f-]{36}"))
    ann_id = page.url.split("/thong-bao/")[1].split("?")[0]
    visitor.sign_out()
    visitor.sign_in("duyet")
    visitor.go(f"/thong-bao/{ann_id}", "approver")
    page.get_by_role("button", name="Duyệt thông báo").click()
    page.wait_for_url(re.compile(r"\?tb=approved"))
    visitor.sign_out()
    return ann_id


def test_schedule_life(sized: tuple[str, Visitor]) -> None:
    size, visitor = sized
    page = visitor.page
    ann_id = _approved_announcement(visitor, f"Họp thôn ({size})")
    visitor.sign_in("vanhanh")
    visitor.go(f"/lich-phat/moi?announcement={ann_id}", "form")
    _fits(visitor)
    # The operator's own zone is ticked, by name.
    assert page.is_checked("input[name=zone][value='huyen/xa-a']")
    assert "Xã A" in page.locator("fieldset.tree").inner_text()

    # Two times and one inside quiet hours: the preview warns before anything is saved.
    page.fill("#f-times", "06:30, 17:15, 22:00")
    page.click("button[value=preview]")
    page.wait_for_load_state()
    visitor.shot("preview-warnings")
    _fits(visitor)
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
    _fits(visitor)
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
    _fits(visitor)
    assert "07:00 và 17:15" in page.locator("main").inner_text()
    page.get_by_role("button", name="Xóa hẳn lịch này").click()
    page.wait_for_url(re.compile(r"/lich-phat\?tb=deleted"))
    visitor.shot("deleted")
    assert page.request.get(schedule_url).status == 404

    visitor.go("/nhat-ky", "audit")
    log = page.locator("main").inner_text()
    assert f"vanhanh đã xóa lịch phát «Họp thôn ({size})»" in log
    assert "vanhanh đã tạm dừng" in log and "vanhanh đã cho chạy lại" in log
