"""The whole job in a real browser: compose from the Bluezone script, approve, schedule, see it.

And the refusals: an operator outside their zone, an approver approving their own, a form
without its CSRF token.
"""

from __future__ import annotations

import re

import pytest
from icalendar import Calendar

from tests.pa_server.web.conftest import PASSWORD, LiveServer, Visitor

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BLUEZONE = "bluezone-cai-dat"


def _compose_bluezone(visitor: Visitor, title: str) -> str:
    page = visitor.page
    visitor.go(f"/thong-bao/moi?script={BLUEZONE}", "compose-bluezone")
    page.fill("#f-title", title)
    page.fill("#f-ph_commune", "Tân Tiến")
    page.fill("#f-ph_district", "Vĩnh Tường")
    page.fill("#f-ph_hotline", "0211 3855 123")
    page.click("button[value=spoken]")
    page.wait_for_load_state()
    visitor.shot("spoken-form")
    spoken = page.locator("[data-testid=spoken]").inner_text()
    # The hotline's digits are read out as words.
    assert "Tân Tiến" in spoken and "3855" not in spoken
    assert page.input_value("#f-ph_commune") == "Tân Tiến"  # what was typed is kept
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/thong-bao/[0-9a-f-]{36}"))
    visitor.shot("draft-with-preview")
    assert page.locator("[data-testid=preview]").count() == 1
    return page.url.split("/thong-bao/")[1].split("?")[0]


def test_operator_composes_approver_approves_and_schedules(
    visitor: Visitor, live_server: LiveServer
) -> None:
    page = visitor.page
    visitor.sign_in("vanhanh")
    ann_id = _compose_bluezone(visitor, "Cài đặt Bluezone — Tân Tiến")
    audio = page.locator("[data-testid=preview]").get_attribute("src")
    assert audio is not None and audio.startswith("/media/")
    assert page.request.get(live_server.url + audio).status == 200
    assert "Đang chờ một người duyệt khác" in page.content()
    visitor.sign_out()

    visitor.sign_in("duyet")
    visitor.go(f"/thong-bao/{ann_id}", "approver-sees-draft")
    page.get_by_role("button", name="Duyệt thông báo").click()
    page.wait_for_url(re.compile(r"\?tb=approved"))
    visitor.shot("approved")
    assert page.locator("[data-testid=status]").inner_text() == "Đã duyệt"

    page.get_by_role("link", name="Lập lịch phát").click()
    page.wait_for_load_state()
    page.fill("#f-times", "06:00, 17:00")
    page.check("input[name=zone][value='huyen/xa-a']")
    page.click("button[value=preview]")
    page.wait_for_load_state()
    visitor.shot("schedule-preview")
    preview = page.locator("[data-testid=preview] li")
    assert preview.count() >= 2
    assert page.locator("#f-times").input_value() == "06:00, 17:00"
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/lich-phat/[0-9a-f-]{36}"))
    visitor.shot("schedule-saved")
    occurrences = page.locator("[data-testid=occurrences] li")
    assert occurrences.count() >= 2
    assert "Xã A" in occurrences.first.inner_text()
    said = page.locator("[data-testid=schedule-text]").inner_text()
    assert said.startswith("Hằng ngày lúc 06:00 và 17:00, từ ")
    # The zone's 7-day picture on the schedule list shows the plan.
    visitor.go("/lich-phat", "schedules-timeline")
    assert page.locator("[data-testid=timeline] .mark").count() >= 2
    page.go_back()
    ics = page.request.get(page.url.split("?")[0] + ".ics").text()
    # One schedule, one VEVENT per time of day (RFC 5545: one RRULE per VEVENT).
    events = Calendar.from_ical(ics).events
    assert len(events) == 2
    rules = sorted(
        (e["rrule"]["FREQ"], e["rrule"]["BYHOUR"], e["rrule"]["BYMINUTE"]) for e in events
    )
    assert rules == [(["DAILY"], [6], [0]), (["DAILY"], [17], [0])]
    assert all(str(e.start.tzinfo) == "Asia/Ho_Chi_Minh" for e in events)

    # The whole story is in the audit log, by name.
    visitor.go("/nhat-ky", "audit-after-flow")
    log = page.locator("main").inner_text()
    assert "vanhanh đã soạn thông báo «Cài đặt Bluezone — Tân Tiến»" in log
    assert "duyet đã duyệt thông báo «Cài đặt Bluezone — Tân Tiến»" in log
    assert "duyet đã lập lịch phát «Cài đặt Bluezone — Tân Tiến»: hằng ngày lúc 06:00" in log


def test_operator_cannot_schedule_outside_their_zone(visitor: Visitor) -> None:
    page = visitor.page
    visitor.sign_in("duyet")
    ann_id = _compose_bluezone(visitor, "Nhắc Bluezone — của người duyệt")
    visitor.sign_out()
    visitor.sign_in("quantri")
    visitor.go(f"/thong-bao/{ann_id}")
    page.get_by_role("button", name="Duyệt thông báo").click()
    page.wait_for_load_state()
    visitor.sign_out()

    visitor.sign_in("vanhanh")
    visitor.go(f"/lich-phat/moi?announcement={ann_id}", "operator-schedule-form")
    # Only their own zone is offered…
    offered = page.locator("input[name=zone]").evaluate_all("els => els.map(e => e.value)")
    assert offered == ["huyen/xa-a"]
    # …and a forged choice of another commune is refused beside the field.
    forge = "el => { el.value = 'huyen/xa-b'; el.checked = true; }"
    page.eval_on_selector("input[name=zone]", forge)
    page.click("button[value=save]")
    page.wait_for_load_state()
    visitor.shot("outside-zone-refused")
    assert "không có quyền với khu vực" in page.locator("#e-zones").inner_text()


def test_approver_cannot_approve_own(visitor: Visitor, live_server: LiveServer) -> None:
    page = visitor.page
    visitor.sign_in("duyet")
    ann_id = _compose_bluezone(visitor, "Bluezone — tự soạn")
    assert page.get_by_role("button", name="Duyệt thông báo").count() == 0
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        f"{live_server.url}/thong-bao/{ann_id}/duyet", form={"csrf_token": csrf or ""}
    )
    assert response.status == 403
    assert "không thể tự duyệt" in response.text()


def test_compose_form_without_csrf_refused(visitor: Visitor) -> None:
    page = visitor.page
    visitor.sign_in("vanhanh")
    visitor.go("/thong-bao/moi", "compose-blank")
    page.fill("#f-title", "Không có mã CSRF")
    page.fill("#f-text", "Thông báo thử.")
    page.eval_on_selector_all("input[name=csrf_token]", "els => els.forEach(e => e.remove())")
    with page.expect_response(re.compile(r"/thong-bao/moi$")) as response:
        page.click("button[value=save]")
    assert response.value.status == 403
    visitor.shot("compose-csrf-refused")


def test_compose_errors_beside_fields_keep_input(visitor: Visitor) -> None:
    page = visitor.page
    visitor.sign_in("vanhanh")
    visitor.go(f"/thong-bao/moi?script={BLUEZONE}")
    page.fill("#f-ph_commune", "Tân Tiến")
    page.click("button[value=save]")
    page.wait_for_load_state()
    visitor.shot("compose-errors")
    assert page.locator("#e-ph_district").inner_text().startswith("Vui lòng điền")
    assert page.input_value("#f-ph_commune") == "Tân Tiến"


def test_wrong_password_for_demo_style_account(visitor: Visitor) -> None:
    visitor.sign_in("duyet", PASSWORD + "x")
    assert visitor.page.locator("[role=alert]").count() == 1


def test_emergency_needs_admin_confirmation_and_cancels_in_one_click(visitor: Visitor) -> None:
    page = visitor.page
    page.on("dialog", lambda dialog: dialog.accept())
    visitor.sign_in("quantri")
    visitor.go("/thong-bao/moi", "emergency-compose")
    page.fill("#f-title", "Khẩn cấp: lũ quét")
    page.fill("#f-text", "Lũ quét đang về thôn. Bà con di chuyển lên chỗ cao ngay.")
    page.select_option("#f-level", "emergency")
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/thong-bao/[0-9a-f-]{36}"))
    ann_url = page.url.split("?")[0]
    visitor.sign_out()
    visitor.sign_in("duyet")
    page.goto(ann_url)
    page.get_by_role("button", name="Duyệt thông báo").click()
    page.wait_for_url(re.compile(r"\?tb=approved"))
    # The approver may not send an emergency: the level is not even offered.
    page.goto(ann_url + "/phat-ngay")
    assert page.locator("#f-level option[value=emergency]").count() == 0
    visitor.sign_out()

    visitor.sign_in("quantri")
    page.goto(ann_url + "/phat-ngay")
    page.select_option("#f-level", "emergency")
    page.check("input[name=zone][value='huyen/xa-a']")
    page.click("button:has-text('Phát ngay')")
    page.wait_for_load_state()
    visitor.shot("emergency-unconfirmed")
    assert "xác nhận" in page.locator("#e-level").inner_text()
    assert page.is_checked("input[name=zone][value='huyen/xa-a']")  # the choice is kept
    page.check("input[name=confirm]")
    page.click("button:has-text('Phát ngay')")
    page.wait_for_url(re.compile(r"/phat/[0-9a-f-]{36}$"))
    visitor.shot("emergency-on-air")
    assert page.locator(".badge.bad").first.inner_text() == "Khẩn cấp"
    page.get_by_role("button", name="Gửi thông báo hủy").click()
    # This district has no loudspeakers: nothing played, so the emergency is only stopped
    # (services.broadcasts.cancel_emergency sends a cancel notice only where it was heard).
    page.wait_for_url(re.compile(r"\?tb=(cancelled|stopped-none)"))
    visitor.shot("emergency-cancelled")
    if page.url.endswith("stopped-none"):
        assert "Chưa loa nào phát" in page.locator("[role=status]").inner_text()
        assert page.locator("[data-testid=status]").inner_text() == "Đã dừng"
    else:
        assert page.locator("h1").inner_text().startswith("Thông báo hủy")
    assert page.get_by_role("button", name="Gửi thông báo hủy").count() == 0


def _wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    """A short 440 Hz tone as 16-bit mono WAV, standing in for a recorded voice."""
    import io
    import math
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = (
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(b"".join(frames))
    return buf.getvalue()


def test_upload_a_recorded_voice(visitor: Visitor) -> None:
    page = visitor.page
    visitor.sign_in("vanhanh")
    visitor.go("/thong-bao/moi", "compose-recording")
    page.fill("#f-rec_title", "Giọng đọc của cán bộ xã")
    page.set_input_files(
        "#f-recording", {"name": "ghi-am.txt", "mimeType": "audio/wav", "buffer": b"not audio"}
    )
    page.click("button:has-text('Lưu bản ghi âm')")
    page.wait_for_load_state()
    assert "không phải âm thanh" in page.locator("#e-recording").inner_text()
    assert page.input_value("#f-rec_title") == "Giọng đọc của cán bộ xã"
    page.set_input_files(
        "#f-recording", {"name": "ghi-am.wav", "mimeType": "audio/wav", "buffer": _wav()}
    )
    page.click("button:has-text('Lưu bản ghi âm')")
    page.wait_for_url(re.compile(r"/thong-bao/[0-9a-f-]{36}"))
    visitor.shot("recording-draft")
    assert page.locator("[data-testid=preview]").count() == 1
