"""The programme, the month calendar, the emergency counts and the proof page in Chromium,
at desktop and 390-px phone sizes (screenshots: `test-artifacts/screenshots/programme-*.png`).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from pa_server.auth import accounts
from pa_server.auth.demo import DEMO_PASSWORD
from pa_server.db.models import Receipt
from pa_server.schemas.broadcasts import BroadcastCreate
from pa_server.services import broadcasts
from pa_server.services.context import UseCase
from pa_server.web import labels
from tests.pa_server.web.browser import demo_server as demo_server  # the demo district
from tests.pa_server.web.conftest import SCREENSHOTS, screenshot
from tests.pa_server.web.support import COMMUNE, NullDispatcher, World
from tests.pa_server.web.test_phone import MEASURE_JS, MIN_TAP
from tests.pa_server.web.visible_text import problems

pytestmark = pytest.mark.browser

SIZES = {"phone": (390, 844), "desktop": (1280, 900)}


class Tab:
    """One signed-in browser tab that checks and screenshots each page it opens."""

    def __init__(self, page: Any, base: str, size: str) -> None:
        self.page, self.base, self.size = page, base, size
        self.found: list[str] = []

    def sign_in(self, username: str) -> None:
        self.page.goto(self.base + "/dang-nhap")
        self.page.fill("#f-username", username)
        self.page.fill("#f-password", DEMO_PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        base = SCREENSHOTS / f"programme-{self.size}-{name}"
        screenshot(self.page, f"{base}.png")
        screenshot(self.page, f"{base}-full.png", full_page=True)

    def open(self, path: str, name: str) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, (path, response)
        self.check(path)
        self.shot(name)

    def check(self, where: str) -> None:
        width, viewport = self.page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        if width > viewport:
            self.found.append(f"{where}: {width}px wide, scrolls sideways")
        if self.size == "phone":
            for c in self.page.evaluate(MEASURE_JS):
                if c["h"] < MIN_TAP or c["w"] < MIN_TAP:
                    self.found.append(
                        f"{where}: {c['tag']} {c['what']!r} {c['w']:.0f}×{c['h']:.0f}"
                    )
        self.found += [f"{where}: {p}" for p in problems(self.page.content())]


@pytest.fixture(params=list(SIZES))
def tab(request: pytest.FixtureRequest, browser: Any, demo_server: tuple[str, World]) -> Any:
    width, height = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="vi-VN")
    context.set_default_timeout(30_000)
    t = Tab(context.new_page(), demo_server[0], request.param)
    t.sign_in("quantri")
    yield t
    context.close()


def test_programme_and_calendar(tab: Tab, demo_server: tuple[str, World]) -> None:
    tab.open(f"/chuong-trinh?khu-vuc={COMMUNE}", "zone")
    page = tab.page
    assert "Xã Tân Tiến" in page.locator("[data-testid=place]").inner_text()
    # The demo campaign plays every day: each of the six coming days lists broadcasts, with
    # the time, the title, the level and a state written out (no hover needed).
    entries = page.locator("[data-testid=entry]")
    assert entries.count() >= 6
    texts = entries.all_inner_texts()
    # The demo campaign is a priority announcement; the seeded emergency played earlier today.
    assert any("Chiến dịch Bluezone" in t and "Mức: Ưu tiên" in t for t in texts)
    assert any("Mức: Khẩn cấp" in t and "Đã phát\n" in t for t in texts)
    # The seeded relay whose source died says "Lỗi" (not "Đã dừng": nobody stopped it).
    assert any("Tiếp sóng VOV1" in t and "Lỗi" in t for t in texts), texts
    said = labels.table()["broadcast_state"].values()
    for text in texts:
        assert any(state in text for state in said), text
    tab.open("/thiet-bi/loa-tan-tien-thon-1/chuong-trinh", "device")
    assert "Thôn 1" in page.locator("[data-testid=place]").inner_text()
    assert page.locator("[data-testid=entry]").count() >= 6

    tab.open("/lich-thang", "calendar")
    cells = page.locator("table.month td a")
    assert cells.count() in (28, 35, 42)
    # Every day is a tap target of a finger's size, also on the phone.
    for box in page.evaluate(
        "Array.from(document.querySelectorAll('table.month td a')).map(a => "
        "{const r = a.getBoundingClientRect(); return [r.width, r.height]})"
    ):
        assert box[0] >= MIN_TAP and box[1] >= MIN_TAP, box
    busy = page.locator("table.month td:not(.other) a:has(.count)").last
    day = busy.get_attribute("data-day")
    busy.click()
    page.wait_for_load_state()
    tab.check("calendar day")
    tab.shot("calendar-day")
    assert day is not None and f"ngay={day}" in page.url
    assert page.locator("[data-testid=day-list] [data-testid=entry]").count() >= 1
    # Months are navigable both ways.
    page.click("a[rel=next]")
    page.wait_for_load_state()
    assert "thang=" in page.url
    page.click("a[rel=prev]")
    page.wait_for_load_state()
    tab.check("calendar month")
    assert not tab.found, "\n".join(dict.fromkeys(tab.found))


def test_emergency_counts_update_live_and_proof(tab: Tab, demo_server: tuple[str, World]) -> None:
    base, world = demo_server
    page = tab.page
    occ_id = _new_emergency(world)
    tab.open(f"/phat/{occ_id}", "emergency-broadcast")
    box = page.locator("[data-testid=live-counts]")
    reached = box.locator("[data-field=reached]")
    before = int(reached.inner_text())
    targeted = int(box.locator("[data-field=targeted]").inner_text())
    assert (before, targeted) == (0, 3)  # Tân Tiến's three loudspeakers, none reported yet
    # Receipts arrive (as the ingest stores them): the numbers change without a reload.
    _receipt(world, occ_id, "loa-tan-tien-thon-1", "finished")
    _receipt(world, occ_id, "loa-tan-tien-thon-2", "started")
    page.wait_for_function(
        "n => Number(document.querySelector('[data-field=reached]').textContent) === n",
        arg=before + 2,  # one finished, one started: both reached
    )
    page.wait_for_function(
        "() => document.querySelector('[data-field=sentence]').textContent.includes('đang phát 1')"
    )
    sentence = box.locator("[data-field=sentence]").inner_text()
    assert sentence == "Đã phát xong 1/3 loa · đang phát 1 · chưa báo 1"
    tab.shot("emergency-counts-updated")
    tab.open("/khan-cap", "emergency-page")
    assert page.locator("[data-testid=live-counts]").count() >= 1

    tab.open(f"/phat/{occ_id}/bang-chung", "proof")
    rows = page.locator("[data-testid=proof] li")
    assert rows.count() == targeted
    assert "Trễ" in rows.first.inner_text()
    download = page.request.get(base + f"/phat/{occ_id}/bang-chung?format=csv")
    assert download.ok and download.headers["content-type"].startswith("text/csv")
    body = download.body()
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert table[0][:4] == ["Loa", "Mã loa", "Khu vực", "Giờ dự kiến"]
    assert len(table) == targeted + 1
    by_id = {row[1]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert by_id["loa-tan-tien-thon-1"]["Kết quả"] == "Đã phát xong"
    assert not tab.found, "\n".join(dict.fromkeys(tab.found))


def _new_emergency(world: World) -> str:
    app: Any = world.client.app
    with app.state.sessions() as db:
        (user,) = [u for u in accounts.list_users(db) if u.username == "quantri"]
        admin = accounts.actor_of(user)
        uc = UseCase(db, admin, datetime.now(UTC), app.state.settings, NullDispatcher())  # type: ignore[arg-type]
        occ = broadcasts.put_on_air(
            uc,
            BroadcastCreate(announcement_id=world.approved, zones=[COMMUNE], level="emergency"),
            confirmed=True,
        )
        return occ.id


def _receipt(world: World, occ_id: str, device: str, last: str) -> None:
    app: Any = world.client.app
    with app.state.sessions() as db:
        now = datetime.now(UTC)
        for kind in ("fetched", "started", last)[: 3 if last != "started" else 2]:
            db.add(
                Receipt(
                    device_id=device,
                    occurrence_id=occ_id,
                    type=kind,
                    at=now,
                    late_ms=800 if kind == "started" else None,
                    received_at=now,
                )
            )
        db.commit()
