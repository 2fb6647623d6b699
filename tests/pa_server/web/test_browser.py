"""The staff pages in headless Chromium: sign-in, refusals, and the announcement flow."""

from __future__ import annotations

import pytest

from tests.pa_server.web.conftest import LiveServer, Visitor

pytestmark = pytest.mark.browser


def test_no_session_goes_to_sign_in(visitor: Visitor) -> None:
    visitor.go("/thong-bao", "no-session")
    assert "/dang-nhap?next=/thong-bao" in visitor.page.url
    assert visitor.page.locator("h1").inner_text() == "Đăng nhập"


def test_sign_in_lands_on_asked_page_and_signs_out(visitor: Visitor) -> None:
    visitor.go("/nhat-ky", "ask-audit")
    visitor.page.fill("#f-username", "quantri")
    visitor.page.fill("#f-password", "mat-khau-thu-1")
    visitor.page.click("button[type=submit]")
    visitor.page.wait_for_url("**/nhat-ky")
    visitor.shot("audit")
    assert "quantri đã đăng nhập lúc" in visitor.page.locator("main").inner_text()
    for label in ("Tổng quan", "Thông báo", "Lịch phát", "Thiết bị", "Báo cáo", "Nhật ký"):
        assert visitor.page.get_by_role("link", name=label).count() == 1
    visitor.sign_out()
    assert "/dang-nhap" in visitor.page.url


def test_wrong_password_shows_error_keeps_name(visitor: Visitor) -> None:
    visitor.sign_in("quantri", "sai-mat-khau")
    assert visitor.page.locator("[role=alert]").inner_text().startswith("Tên đăng nhập")
    assert visitor.page.input_value("#f-username") == "quantri"


def test_form_without_csrf_token_refused(visitor: Visitor) -> None:
    visitor.go("/dang-nhap", "sign-in-before-tamper")
    visitor.page.eval_on_selector("input[name=csrf_token]", "el => el.remove()")
    visitor.page.fill("#f-username", "quantri")
    visitor.page.fill("#f-password", "mat-khau-thu-1")
    with visitor.page.expect_response("**/dang-nhap") as response:
        visitor.page.click("button[type=submit]")
    assert response.value.status == 403
    visitor.shot("csrf-refused")
    assert "Biểu mẫu" in visitor.page.content()


def test_api_without_session_is_401(visitor: Visitor, live_server: LiveServer) -> None:
    response = visitor.page.request.get(live_server.url + "/api/v1/me")
    assert response.status == 401


def test_every_staff_page_opens_on_a_phone(visitor: Visitor) -> None:
    visitor.sign_in("quantri")
    for path, heading in (
        ("/", "Tổng quan"),
        ("/thong-bao", "Thông báo"),
        ("/thong-bao/moi", "Soạn thông báo"),
        ("/lich-phat", "Lịch phát"),
        ("/lich-phat/moi", "Lập lịch phát"),
        ("/thiet-bi", "Thiết bị"),
        ("/bao-cao", "Báo cáo phát thanh"),
        ("/nhat-ky", "Nhật ký thay đổi"),
        ("/nguoi-dung", "Người dùng"),
    ):
        response = visitor.go(path)
        assert response.status == 200, path
        assert visitor.page.locator("h1").inner_text() == heading
        # Fits a phone: nothing wider than the screen but the scrollable tables and menu.
        overflow = visitor.page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 390, (path, overflow)


def test_overview_subscribes_to_live_progress(visitor: Visitor) -> None:
    visitor.sign_in("quantri")
    with visitor.page.expect_response("**/su-kien/tien-do") as events:
        visitor.go("/", "overview-live")
    assert events.value.status == 200
    assert events.value.headers["content-type"].startswith("text/event-stream")


def test_public_page_is_open(visitor: Visitor, live_server: LiveServer) -> None:
    response = visitor.go("/cong-khai/huyen/xa-a", "public-xa-a")
    assert response.status == 200
    assert "Xã A" in visitor.page.locator("h1").inner_text()
    feed = visitor.page.request.get(live_server.url + "/cong-khai/huyen/xa-a/rss.xml")
    assert feed.status == 200 and "<rss" in feed.text()
    assert visitor.go("/cong-khai/khong-co", "public-unknown").status == 404
