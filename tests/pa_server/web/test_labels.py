"""One table of Vietnamese labels (`labels.toml`), delivery tallies, and pagination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args

import pytest

from pa_server.auth.rights import Role
from pa_server.schemas.announcements import Level, Status
from pa_server.schemas.broadcasts import DeviceDelivery
from pa_server.services.programme import BroadcastState
from pa_server.web import labels
from pa_server.web.paging import Paging, page_number, paginate
from tests.pa_server.web.visible_text import problems

T = datetime(2026, 12, 1, tzinfo=UTC)


def test_every_code_the_server_uses_has_a_label() -> None:
    for status in get_args(Status):
        assert labels.label("announcement_status", status) != labels.UNKNOWN
    for level in get_args(Level):
        assert labels.label("level", level) != labels.UNKNOWN
    for role in Role:
        assert labels.label("role", role) != labels.UNKNOWN
    for kind in (*labels.RECEIPT_ORDER, "none"):
        assert labels.label("receipt", kind) != labels.UNKNOWN
    for status in ("planned", "sent", "stopped", "cancelled"):
        assert labels.label("occurrence_status", status) != labels.UNKNOWN
    for state in get_args(BroadcastState):
        assert labels.label("broadcast_state", state) != labels.UNKNOWN
    for key in ("online", "offline", "never"):
        assert labels.label("link", key) != labels.UNKNOWN


def test_every_label_is_vietnamese() -> None:
    for kind, table in labels.all_labels().items():
        for code, text in table.items():
            assert problems(f"<p>{text}</p>") == [], (kind, code, text)


def test_unknown_code_is_never_shown_raw() -> None:
    assert labels.label("level", "galactic") == "Không rõ"
    assert labels.label("nothing", None) == "Không rõ"


def test_rejected_is_said_the_same_everywhere() -> None:
    assert labels.announcement_status("archived", rejected=True) == "Bị từ chối"
    assert labels.announcement_status("archived") == "Lưu trữ"
    assert labels.announcement_status("draft", rejected=True) == "Chờ duyệt"


@dataclass
class Dev:
    online: bool | None


def test_link_words_are_three_and_counted_apart() -> None:
    devices = [Dev(True), Dev(False), Dev(None), Dev(None)]
    assert labels.link_counts(devices) == {"online": 1, "offline": 1, "never": 2}
    assert labels.label("link", labels.link_key(None)) != labels.label("link", "offline")


def _dev(**receipts: datetime) -> DeviceDelivery:
    return DeviceDelivery(device_id="d", zone="z", **receipts)


def test_a_finished_device_is_not_playing() -> None:
    both_finished = [_dev(fetched=T, started=T, finished=T), _dev(started=T, finished=T)]
    tally = labels.tally(both_finished, expected=5)
    assert labels.tally_sentence(tally) == "Đã phát xong 2/5 loa · chưa báo 3"
    assert "đang phát" not in labels.tally_sentence(tally)


def test_tally_of_mixed_deliveries() -> None:
    devices = [
        _dev(started=T, finished=T),
        _dev(started=T),
        _dev(fetched=T),
        _dev(started=T, failed=T),
        _dev(missed=T),
        _dev(),
    ]
    assert labels.tally_sentence(labels.tally(devices)) == (
        "Đã phát xong 1/6 loa · đang phát 1 · đã tải âm thanh 1 · lỗi 1 · bỏ lỡ 1 · chưa báo 1"
    )


def test_a_device_failing_before_it_started_does_not_hide_one_playing() -> None:
    # Counted from receipt types alone (started 1, failed 1) this read "nobody playing".
    devices = [_dev(fetched=T, started=T), _dev(fetched=T, failed=T)]
    said = labels.tally_sentence(labels.tally(devices))
    assert said == "Đã phát xong 0/2 loa · đang phát 1 · lỗi 1"


@pytest.mark.parametrize(
    ("kind", "engines", "fell_back", "said"),
    [
        ("recording", ["espeak", "recording"], True, "Giọng ghi âm"),
        ("text", ["gtts"], False, "Giọng Google"),
        (
            "text",
            ["espeak"],
            True,
            "Giọng máy (không cần mạng) (giọng dự phòng, vì giọng chính không dùng được)",
        ),
        ("text", [], False, "Giọng máy"),
        ("text", ["piper"], False, "Giọng máy"),
    ],
)
def test_voice(kind: str, engines: list[str], fell_back: bool, said: str) -> None:
    assert labels.voice(kind, engines, fell_back) == said


@pytest.mark.parametrize(
    ("detail", "said"),
    [
        (
            "unsupported protocol version None",
            "Phần mềm trên loa khác phiên bản với máy chủ, cần cập nhật.",
        ),
        ("download failed: HTTP 404", "Loa không tải được tệp âm thanh."),
        ("sha256 mismatch", "Tệp âm thanh tải về bị hỏng, loa sẽ tải lại."),
        ("something else entirely", "Loa báo lỗi kỹ thuật."),
        (None, ""),
    ],
)
def test_device_errors_in_vietnamese(detail: str | None, said: str) -> None:
    assert labels.device_error(detail) == said


def test_paging_numbers() -> None:
    p = paginate("3", 230, per_page=50, query={"status": "draft"})
    assert (p.pages, p.offset, p.first_row, p.last_row) == (5, 100, 101, 150)
    assert p.has_prev and p.has_next and not p.beyond
    assert p.url(4) == "?status=draft&trang=4" and p.url(1) == "?status=draft"
    assert Paging(1, 50, 0).pages == 1 and Paging(1, 50, 0).first_row == 0
    assert paginate("9", 10).beyond
    assert Paging(6, 10, 120).window() == [1, None, 4, 5, 6, 7, 8, None, 12]
    assert Paging(1, 10, 30).window() == [1, 2, 3]


@pytest.mark.parametrize(
    ("raw", "page"), [("", 1), ("0", 1), ("-2", 1), ("x", 1), ("7", 7), (None, 1)]
)
def test_page_number(raw: str | None, page: int) -> None:
    assert page_number(raw) == page


@pytest.mark.parametrize(
    ("ms", "said"),
    [(125_200, "2 phút 5 giây"), (45_000, "45 giây"), (120_000, "2 phút"), (None, "0 giây")],
)
def test_duration_in_words(ms: int | None, said: str) -> None:
    from pa_server.web.templating import _duration_vi

    assert _duration_vi(ms) == said


def test_no_loudspeaker_is_said_plainly() -> None:
    assert labels.tally_sentence(labels.tally([])) == "Không có loa nào trong nơi phát."
