"""A working week of the three roles in Chromium, at desktop (1280×900) and phone (390×844) sizes.

1. `vanhanh` (operator of Tân Tiến) writes an announcement, `duyet` approves it; `vanhanh`
   schedules it at 06:30 and 17:15 on three weekdays, previews, saves, finds it in the
   programme and the month calendar, changes a time, pauses, resumes and deletes it.
2. `quantri` sends an emergency from /khan-cap (with the confirmation), sees the loudspeaker
   counts on its page and cancels it.
3. `quantri` adds a loudspeaker and downloads its config (read back with the agent's loader).

One demo server for the module; screenshots after every step land in
`test-artifacts/screenshots/week-<size>-NN-<step>.png`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pa_server.auth.demo import DEMO_PASSWORD
from pa_server.web.recurrence import WEEKDAY_LABELS_VI
from tests.pa_server.web.browser import (
    VIEWPORTS,
    add_loudspeaker,
    approved_announcement,
    assert_fits,
    serve_demo,
    sized_visitor,
)
from tests.pa_server.web.conftest import Visitor
from tests.pa_server.web.support import COMMUNE, World

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def week_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """The module's one demo district, with its broker and bus (an emergency goes out)."""
    with serve_demo(tmp_path_factory, background=True) as served:
        yield served


@pytest.fixture(params=sorted(VIEWPORTS))
def week(
    request: pytest.FixtureRequest, browser: Any, week_server: tuple[str, World]
) -> Iterator[tuple[str, Visitor]]:
    """A fresh tab at desktop or phone size; screenshots `week-<size>-NN-<step>.png`."""
    size = request.param
    with sized_visitor(browser, week_server[0], size, f"week-{size}", request) as visitor:
        yield size, visitor


def _go(visitor: Visitor, path: str, label: str) -> None:
    response = visitor.go(path, label)
    assert response is not None and response.status == 200, (path, response)
    assert_fits(visitor)


def _flash(visitor: Visitor) -> str:
    return str(visitor.page.locator("[role=status]").inner_text())


def _press(visitor: Visitor, button: str, lands_on: str, label: str) -> None:
    """Press the button named `button`, wait for the URL matching `lands_on`, screenshot."""
    visitor.page.get_by_role("button", name=button).click()
    visitor.page.wait_for_url(re.compile(lands_on))
    visitor.shot(label)
    assert_fits(visitor)


def _day_count(visitor: Visitor, day: str) -> int:
    cell = visitor.page.locator(f"table.month a[data-day='{day}'] .count")
    return int(cell.inner_text()) if cell.count() else 0


def test_operator_schedules_an_announcement_through_the_week(
    week: tuple[str, Visitor], week_server: tuple[str, World]
) -> None:
    size, visitor = week
    page = visitor.page
    title = f"Họp dân cuối tuần ({size})"
    tz = ZoneInfo(week_server[1].client.app.state.settings.timezone)  # type: ignore[attr-defined]
    tomorrow = datetime.now(tz).date() + timedelta(days=1)
    days = [tomorrow + timedelta(days=n) for n in (0, 2, 4)]  # three weekdays, tomorrow first
    calendar = f"/lich-thang?thang={tomorrow:%Y-%m}&khu-vuc={COMMUNE}"

    ann_id = approved_announcement(
        visitor, title, "Mời bà con dự họp dân tại nhà văn hóa xã.", DEMO_PASSWORD
    )
    visitor.sign_in("vanhanh", DEMO_PASSWORD)
    _go(visitor, calendar, "calendar-before")
    before = _day_count(visitor, tomorrow.isoformat())

    # Two times a day on three weekdays, in one schedule; the preview says both times.
    _go(visitor, f"/lich-phat/moi?announcement={ann_id}", "schedule-form")
    assert page.is_checked(f"input[name=zone][value='{COMMUNE}']")  # the operator's own commune
    page.fill("#f-times", "06:30, 17:15")
    for day in days:
        page.check(f"input[name=weekday][value='{day.weekday()}']")
    page.click("button[value=preview]")
    page.wait_for_load_state()
    visitor.shot("schedule-preview")
    assert_fits(visitor)
    assert "06:30 và 17:15" in page.locator("[data-testid=times-said]").inner_text()
    previewed = page.locator("[data-testid=preview] li").all_inner_texts()
    assert any("06:30" in row for row in previewed) and any("17:15" in row for row in previewed)
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/lich-phat/[0-9a-f-]{36}\?tb=saved"))
    visitor.shot("schedule-saved")
    assert_fits(visitor)
    assert _flash(visitor) == "Đã lưu lịch phát."
    schedule_url = page.url.split("?")[0]
    said = page.locator("[data-testid=schedule-text]").inner_text()
    assert "06:30 và 17:15" in said, said
    assert WEEKDAY_LABELS_VI[tomorrow.weekday()].split()[-1] in said, said

    # The programme of the commune lists it tomorrow at both times.
    _go(visitor, f"/chuong-trinh?khu-vuc={COMMUNE}", "programme")
    ours = [t for t in page.locator("[data-testid=entry]").all_inner_texts() if title in t]
    assert any(t.startswith("06:30") for t in ours), ours
    assert any(t.startswith("17:15") for t in ours), ours

    # The month calendar counts two more broadcasts tomorrow; the day lists both.
    _go(visitor, calendar, "calendar-after")
    assert _day_count(visitor, tomorrow.isoformat()) == before + 2
    page.click(f"table.month a[data-day='{tomorrow.isoformat()}']")
    page.wait_for_load_state()
    visitor.shot("calendar-day")
    assert_fits(visitor)
    listed = page.locator("[data-testid=day-list] [data-testid=entry]").all_inner_texts()
    assert sorted(t[:5] for t in listed if title in t) == ["06:30", "17:15"], listed

    # A time changes.
    _go(visitor, schedule_url.removeprefix(visitor.base_url), "schedule")
    page.get_by_role("link", name="Sửa lịch").click()
    page.wait_for_load_state()
    visitor.shot("schedule-edit")
    assert_fits(visitor)
    assert page.input_value("#f-times") == "06:30, 17:15"
    page.fill("#f-times", "07:00, 17:15")
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"\?tb=edited"))
    visitor.shot("schedule-edited")
    assert _flash(visitor) == "Đã lưu thay đổi của lịch phát."
    assert "07:00 và 17:15" in page.locator("[data-testid=schedule-text]").inner_text()

    # Paused: the badge says so; resumed: it is gone.
    _press(visitor, "Tạm dừng", r"\?tb=paused", "schedule-paused")
    assert "Đã tạm dừng" in _flash(visitor)
    assert page.locator("main .badge.bad", has_text="Tạm dừng").count() == 1
    _press(visitor, "Chạy lại", r"\?tb=resumed", "schedule-resumed")
    assert _flash(visitor) == "Lịch phát đã chạy lại."
    assert page.locator("main .badge.bad", has_text="Tạm dừng").count() == 0

    # Deleted, after a confirmation page that says what goes.
    page.get_by_role("link", name="Xóa lịch").click()
    page.wait_for_load_state()
    visitor.shot("schedule-delete-confirm")
    assert_fits(visitor)
    assert "07:00 và 17:15" in page.locator("main").inner_text()
    _press(visitor, "Xóa hẳn lịch này", r"/lich-phat\?tb=deleted", "schedule-deleted")
    assert page.request.get(schedule_url).status == 404
    _go(visitor, f"/chuong-trinh?khu-vuc={COMMUNE}", "programme-after-delete")
    assert title not in page.locator("main").inner_text()


def test_admin_sends_an_emergency_sees_the_counts_and_cancels_it(
    week: tuple[str, Visitor],
) -> None:
    size, visitor = week
    visitor.count = 40  # the week's screenshots stay in order: part 2 from 41
    page = visitor.page
    title = f"Khẩn cấp: lũ quét ({size})"
    visitor.sign_in("quantri", DEMO_PASSWORD)
    _go(visitor, "/khan-cap", "emergency-form")
    page.fill("#f-title", title)
    page.fill("#f-text", "Nước lũ đang lên nhanh. Bà con khẩn trương di chuyển lên chỗ cao.")
    page.check(f"input[name=zone][value='{COMMUNE}']")
    # Without the confirmation nothing goes out, and the page says why.
    page.click("form[action='/khan-cap'] button[type=submit]")
    page.wait_for_load_state()
    visitor.shot("emergency-unconfirmed")
    assert_fits(visitor)
    assert "xác nhận" in page.locator("[role=alert]").inner_text()
    assert page.input_value("#f-title") == title  # what was typed is kept

    page.check("input[name=confirm]")
    page.click("form[action='/khan-cap'] button[type=submit]")
    page.wait_for_url(re.compile(r"/phat/[0-9a-f-]{36}$"))
    visitor.shot("emergency-sent")
    assert_fits(visitor)
    assert page.locator("h1").inner_text() == title
    assert page.locator("main .badge.bad", has_text="Khẩn cấp").count() == 1
    box = page.locator("[data-testid=live-counts]")
    counts = {
        field: int(box.locator(f"[data-field={field}]").inner_text())
        for field in ("targeted", "online", "offline", "reached")
    }
    never = box.locator("[data-field=never]")
    counts["never"] = int(never.inner_text()) if never.count() else 0
    # Tân Tiến's three loudspeakers; none has played it yet (no agent runs here).
    assert counts["targeted"] == 3, counts
    assert counts["online"] + counts["offline"] + counts["never"] == counts["targeted"], counts
    assert counts["reached"] == 0, counts
    assert box.locator("[data-field=sentence]").inner_text().strip()

    page.once("dialog", lambda dialog: dialog.accept())  # "Dừng tin khẩn cấp …?"
    _press(visitor, "Gửi thông báo hủy", r"\?tb=(cancelled|stopped-none)", "emergency-cancelled")
    # No loudspeaker played it (no agent runs here): stopped, no cancellation notice needed.
    assert "Đã dừng tin khẩn cấp" in _flash(visitor)
    assert page.get_by_role("button", name="Gửi thông báo hủy").count() == 0


def test_admin_adds_a_loudspeaker_and_downloads_its_config(
    week: tuple[str, Visitor], tmp_path: Path
) -> None:
    size, visitor = week
    visitor.count = 60  # part 3 from 61
    page = visitor.page
    name = f"Loa chợ Tân Tiến ({size})"
    visitor.sign_in("quantri", DEMO_PASSWORD)
    _go(visitor, "/thiet-bi", "devices")
    page.get_by_role("link", name="Thêm loa").click()
    page.wait_for_url("**/thiet-bi/moi")
    visitor.shot("device-form")
    assert_fits(visitor)
    device_id, config = add_loudspeaker(visitor, tmp_path, name, zone={"value": COMMUNE})
    assert config.device.zone == COMMUNE
    assert f"Đã thêm {name} ở Xã Tân Tiến." in page.locator("[data-testid=config]").inner_text()

    page.click("text=Xem trang của loa")
    page.wait_for_url(f"**/thiet-bi/{device_id}")
    visitor.shot("device-page")
    assert_fits(visitor)
    assert page.locator("h1").inner_text() == name
    assert "Chưa kết nối lần nào" in page.locator("main").inner_text()
