"""The main pages on a 390 × 844 phone in Chromium, as each role: nothing scrolls sideways,
every control is big enough to tap, the whole menu is visible, nothing English shows.

Runs against the demo district (with the states of `test_visible_text`); screenshots land in
`test-artifacts/screenshots/phone-*.png`.
"""

from __future__ import annotations

from typing import Any

import pytest

from pa_server.auth.demo import DEMO_PASSWORD
from tests.pa_server.web.browser import demo_server as demo_server  # the demo district
from tests.pa_server.web.conftest import SCREENSHOTS, screenshot
from tests.pa_server.web.support import COMMUNE, World
from tests.pa_server.web.visible_text import problems

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 390, 844
MIN_TAP = 40

#: What a control measures on the page: its own box, or its label's for a checkbox
#: (the label is what a finger hits); offscreen ones (the skip link) are left out.
MEASURE_JS = """
() => {
  const out = [];
  for (const el of document.querySelectorAll(
      'a[href], button, select, input:not([type=hidden]), textarea, summary')) {
    let box = el;
    if (el.matches('input[type=checkbox], input[type=radio]') && el.closest('label')) {
      box = el.closest('label');
    }
    const r = box.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= 0) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    if (el.closest('details:not([open])') && el.tagName !== 'SUMMARY') continue;
    out.push({what: (el.innerText || el.value || el.name || el.tagName).trim().slice(0, 40),
              tag: el.tagName, w: r.width, h: r.height});
  }
  return out;
}
"""
MENU_JS = """
() => Array.from(document.querySelectorAll('header nav a')).map(a => {
  const r = a.getBoundingClientRect();
  return {text: a.innerText, left: r.left, right: r.right, top: r.top, bottom: r.bottom,
          clipped: a.scrollWidth > a.clientWidth + 1};
})
"""


def _pages(w: World) -> list[tuple[str, str]]:
    return [
        ("/", "overview"),
        ("/thong-bao", "announcements"),
        ("/thong-bao/moi", "compose"),
        (f"/thong-bao/{w.approved}", "announcement"),
        ("/lich-phat", "schedules"),
        ("/lich-phat/moi", "schedule-form"),
        (f"/lich-phat/{w.schedule}", "schedule"),
        (f"/phat/{w.broadcast}", "broadcast"),
        ("/truc-tiep", "live"),
        (f"/thong-bao/{w.relay_program}", "relay-program"),
        (f"/truc-tiep/{w.live_failed}", "live-session"),
        (f"/phat/{w.broadcast}/bang-chung", "proof"),
        ("/phat", "broadcasts"),
        ("/chuong-trinh", "programme"),
        ("/lich-thang", "calendar"),
        ("/khan-cap", "emergency"),
        ("/thiet-bi", "devices"),
        ("/thiet-bi?zone=*", "devices-all"),
        ("/thiet-bi/moi", "device-form"),
        ("/thiet-bi/loa-tan-tien-thon-2", "device"),
        ("/khu-vuc", "zones"),
        ("/bao-cao", "report"),
        ("/nhat-ky", "audit"),
        ("/nguoi-dung", "users"),
        ("/khong-co", "not-found"),
    ]


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base + "/dang-nhap")
    page.fill("#f-username", username)
    page.fill("#f-password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize("username", ["quantri", "duyet", "vanhanh"])
def test_main_pages_fit_a_phone(
    browser: Any, demo_server: tuple[str, World], username: str
) -> None:
    base, world = demo_server
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="en-US")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        _sign_in(page, base, username)
        found: list[str] = []
        for path, name in _pages(world):
            page.goto(base + path)
            shot = SCREENSHOTS / f"phone-{username}-{name}"
            screenshot(page, f"{shot}.png", full_page=True)
            screenshot(page, f"{shot}-screen.png")  # the first screenful, as on the phone
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > WIDTH:
                found.append(f"{path}: page is {width}px wide, scrolls sideways")
            for c in page.evaluate(MEASURE_JS):
                if c["h"] < MIN_TAP or c["w"] < MIN_TAP:
                    found.append(f"{path}: {c['tag']} {c['what']!r} is {c['w']:.0f}×{c['h']:.0f}px")
            for item in page.evaluate(MENU_JS):
                if item["left"] < 0 or item["right"] > WIDTH or item["clipped"]:
                    found.append(f"{path}: menu item {item['text']!r} is cut off")
            found += [f"{path}: {p}" for p in problems(page.content())]
        assert not found, "\n".join(dict.fromkeys(found))
    finally:
        context.close()


def test_menu_shows_only_what_the_role_may_open(
    browser: Any, demo_server: tuple[str, World]
) -> None:
    base, _ = demo_server
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        _sign_in(page, base, "vanhanh")
        labels = page.locator("header nav a").all_inner_texts()
        assert labels == [
            "Tổng quan",
            "Thông báo",
            "Lịch phát",
            "Chương trình",
            "Trực tiếp",
            "Cảnh báo",
            "Thiết bị",
            "Báo cáo",
            "Nhật ký",
        ]
        # Every item is on screen at once: no sideways scrolling to find "Thiết bị".
        for item in page.evaluate(MENU_JS):
            assert item["left"] >= 0 and item["right"] <= WIDTH and item["bottom"] <= HEIGHT
    finally:
        context.close()


# Lịch âm và ngày lễ (pa_server/web/calendar.py): here to share this module's demo server.
@pytest.mark.parametrize(("width", "height", "name"), [(390, 844, "phone"), (1280, 900, "desktop")])
def test_lunar_preview_in_chromium(
    browser: Any,
    demo_server: tuple[str, World],
    width: int,
    height: int,
    name: str,
) -> None:
    base, demo = demo_server
    context = browser.new_context(viewport={"width": width, "height": height}, locale="vi-VN")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        _sign_in(page, base, "vanhanh")
        page.goto(f"{base}/lich-phat/moi?announcement={demo.approved}")
        page.fill("#f-times", "07:00")
        page.fill("#f-date_to", "")
        page.check(f"input[name=zone][value='{COMMUNE}']")
        page.fill("#f-lunar_days", "mùng 1 và rằm")
        page.select_option("#f-holidays", "skip")
        page.click("button[value=preview]")
        page.wait_for_load_state()
        fields = page.locator("[data-testid=calendar-fields]")
        screenshot(fields, SCREENSHOTS / f"calendar-{name}-fields.png")
        screenshot(page, SCREENSHOTS / f"calendar-{name}-preview.png", full_page=True)
        rows = page.locator("[data-testid=preview] li").all_inner_texts()
        assert len(rows) >= 4, rows
        assert all("Rằm" in r or "Mùng 1" in r or "Tết" in r for r in rows), rows
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert problems(page.content()) == []
    finally:
        context.close()
