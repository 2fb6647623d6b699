"""Audit rows said as Vietnamese sentences (`pa_server.web.audit_text`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pa_server.web.audit_text import PlainNames, Row, changes, sentence, target_name
from tests.pa_server.web.visible_text import problems

AT = datetime(2026, 12, 1, 13, 36, tzinfo=UTC)  # 20:36 in Hà Nội


class Names(PlainNames):
    """A small district."""

    def person(self, username: str) -> str:
        return {"nva": "Nguyễn Văn A", "ttb": "Trần Thị B"}.get(username, username)

    def zone(self, path: str) -> str:
        return {"vinh-tuong": "Huyện Vĩnh Tường", "vinh-tuong/tan-tien": "Xã Tân Tiến"}.get(
            path, "khu vực không còn tồn tại"
        )

    def device(self, device_id: str) -> str:
        return {"loa-1": "loa Thôn 1"}.get(device_id, "một loa đã gỡ")

    def announcement(self, announcement_id: str) -> str | None:
        return {"a1": "Lũ quét"}.get(announcement_id)

    def schedule(self, schedule_id: str) -> str | None:
        return {"s1": "Bluezone hằng ngày"}.get(schedule_id)


def row(
    action: str,
    entity: str,
    entity_id: str = "",
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: str = "nva",
) -> Row:
    return Row(AT, actor, action, entity, entity_id, before, after)


WHEN = " lúc 20:36 01/12/2026"


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        (
            row(
                "broadcast",
                "occurrences",
                "o1",
                after={
                    "title": "Lũ quét",
                    "level": "emergency",
                    "targets": ["zone:vinh-tuong/tan-tien"],
                },
            ),
            "Nguyễn Văn A đã phát khẩn cấp «Lũ quét» tới Xã Tân Tiến",
        ),
        (
            row("broadcast", "occurrences", after={"title": "Họp", "targets": ["device:loa-1"]}),
            "Nguyễn Văn A đã phát ngay «Họp» tới loa Thôn 1",
        ),
        (
            row("stop", "occurrences", after={"title": "Lũ quét"}),
            "Nguyễn Văn A đã dừng phát «Lũ quét»",
        ),
        (row("sign_in", "users", "3"), "Nguyễn Văn A đã đăng nhập"),
        (
            row("update", "cap_publishers", "2", after={"active": False, "locked_by": "nva"}),
            "Nguyễn Văn A đã khóa một nguồn cảnh báo",
        ),
        (
            row("update", "cap_publishers", "2", after={"active": True}),
            "Nguyễn Văn A đã mở khóa một nguồn cảnh báo",
        ),
        (
            row("update", "cap_publishers", "2", after={"token_rotated_at": AT.isoformat()}),
            "Nguyễn Văn A đã cấp khóa gửi mới cho một nguồn cảnh báo",
        ),
        (
            row("create", "announcements", "a2", after={"title": "Họp thôn", "level": "normal"}),
            "Nguyễn Văn A đã soạn thông báo «Họp thôn»",
        ),
        (
            row("create", "announcements", "a1", after={"title": "Lũ quét", "level": "emergency"}),
            "Nguyễn Văn A đã soạn thông báo khẩn cấp «Lũ quét»",
        ),
        (
            row(
                "update",
                "announcements",
                "a1",
                before={"status": "draft"},
                after={"status": "approved"},
                actor="ttb",
            ),
            "Trần Thị B đã duyệt thông báo «Lũ quét»",
        ),
        (
            row("reject", "announcements", "a1", after={"reason": "Sai giờ"}, actor="ttb"),
            "Trần Thị B đã từ chối thông báo «Lũ quét» (lý do: Sai giờ)",
        ),
        (
            row("create", "renditions", "7", after={"announcement_id": "a1", "sha256": "ab"}),
            "Nguyễn Văn A đã tạo bản nghe thử cho thông báo «Lũ quét»",
        ),
        (
            row(
                "create",
                "schedules",
                "s1",
                after={
                    "title": "Bluezone hằng ngày",
                    "rrule": "FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0",
                    "start_at": "2026-12-01T23:00:00+00:00",
                    "end_at": None,
                    "timezone": "Asia/Ho_Chi_Minh",
                },
            ),
            "Nguyễn Văn A đã lập lịch phát «Bluezone hằng ngày»: hằng ngày lúc 06:00 và 17:00, "
            "từ 02/12/2026 trở đi",
        ),
        (
            row(
                "create",
                "schedule_targets",
                "9",
                after={"schedule_id": "s1", "zone_path": "vinh-tuong/tan-tien"},
            ),
            "Nguyễn Văn A đã thêm Xã Tân Tiến vào lịch phát «Bluezone hằng ngày»",
        ),
        (
            row("update", "schedules", "s1", before={"enabled": True}, after={"enabled": False}),
            "Nguyễn Văn A đã tạm dừng lịch phát «Bluezone hằng ngày»",
        ),
        (
            row("delete", "schedules", "s1", before={"title": "Cũ"}),
            "Nguyễn Văn A đã xóa lịch phát «Cũ»",
        ),
        (
            row("update", "devices", "loa-1", before={"name": "Loa cũ"}, after={"name": "Loa chợ"}),
            "Nguyễn Văn A đã đổi tên loa «Loa cũ» thành «Loa chợ»",
        ),
        (
            row("delete", "devices", "loa-9", before={"name": "Loa chợ"}),
            "Nguyễn Văn A đã gỡ loa «Loa chợ»",
        ),
        (
            row("update", "zones", "a/b", before={"name": "Xã Cũ"}, after={"name": "Xã Mới"}),
            "Nguyễn Văn A đã đổi tên khu vực «Xã Cũ» thành «Xã Mới»",
        ),
        (row("ping", "devices", "loa-1"), "Nguyễn Văn A đã gửi lệnh kiểm tra tới loa Thôn 1"),
        (
            row("volume", "devices", "loa-1", after={"volume": 70}),
            "Nguyễn Văn A đã đặt âm lượng loa Thôn 1 thành 70",
        ),
        (
            row("create", "users", "4", after={"username": "binh", "role": "operator"}),
            "Nguyễn Văn A đã tạo tài khoản «binh» (Người vận hành)",
        ),
        (
            row(
                "update",
                "users",
                "4",
                before={"username": "binh", "active": True},
                after={"username": "binh", "active": False},
            ),
            "Nguyễn Văn A đã khóa tài khoản «binh»",
        ),
        (
            row(
                "create",
                "zones",
                "vinh-tuong/tan-tien",
                after={"name": "Xã Tân Tiến"},
                actor="system",
            ),
            "Hệ thống đã tạo khu vực «Xã Tân Tiến»",
        ),
        (
            row("frobnicate", "widgets", "x", after={"a": {"b": 1}}),
            "Nguyễn Văn A đã thực hiện một thao tác với dữ liệu",
        ),
        (row("update", "published_timelines", "x"), "Nguyễn Văn A đã sửa một dữ liệu"),
    ],
)
def test_sentences(entry: Row, said: str) -> None:
    text = sentence(entry, Names())
    assert text == said + WHEN
    assert problems(f"<p>{text}</p>") == []


def test_an_unknown_row_never_shows_json_or_codes() -> None:
    entry = row(
        "update",
        "mystery_table",
        "m1",
        before={"payload": {"k": "v"}, "status": "draft"},
        after={"payload": {"k": "\u1ee7"}, "status": "weird"},
    )
    text = sentence(entry, Names())
    listed = changes(entry, Names())
    html = f"<p>{text}</p>" + "".join(f"<p>{w}: {a} → {b}</p>" for w, a, b in listed)
    assert problems(html) == []
    assert listed == [("Trạng thái", "Chờ duyệt", "Không rõ")]


def test_changes_in_words() -> None:
    entry = row(
        "update",
        "users",
        "4",
        before={"role": "operator", "zones": ["vinh-tuong/tan-tien"], "password_hash": "***"},
        after={"role": "approver", "zones": [], "password_hash": "***"},
    )
    assert changes(entry, Names()) == [
        ("Khu vực", "Xã Tân Tiến", "—"),
        ("Vai trò", "Người vận hành", "Người duyệt"),
    ]
    assert sentence(entry, Names()).startswith(
        "Nguyễn Văn A đã đổi vai trò của một tài khoản thành Người duyệt, giao cho một tài khoản "
    )


def test_target_names() -> None:
    assert target_name("zone:vinh-tuong/tan-tien", Names()) == "Xã Tân Tiến"
    assert target_name("device:loa-1", Names()) == "loa Thôn 1"
    assert target_name("weird", Names()) == "nơi không rõ"


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        (
            row(
                "plan",
                "occurrences",
                after={"created": 3, "changed": 1, "cancelled": 0},
                actor="system",
            ),
            "Hệ thống đã lập lại kế hoạch phát: 3 buổi mới và 1 buổi đổi giờ",
        ),
        (
            row(
                "update",
                "schedule_targets",
                "s1",
                before={"targets": ["zone:vinh-tuong"]},
                after={"targets": ["zone:vinh-tuong/tan-tien"]},
            ),
            "Nguyễn Văn A đã đổi nơi phát của lịch phát «Bluezone hằng ngày» thành Xã Tân Tiến "
            "(trước là Huyện Vĩnh Tường)",
        ),
        (
            row("delete", "schedule_targets", "gone", before={"targets": ["device:loa-1"]}),
            "Nguyễn Văn A đã bỏ nơi phát loa Thôn 1 của một lịch phát",
        ),
        (
            row("stop", "occurrences", "o9", after={"targets": ["zone:vinh-tuong/tan-tien"]}),
            "Nguyễn Văn A đã dừng phát một thông báo tới Xã Tân Tiến",
        ),
        (
            row("create", "zones", "x", after={"name": "Thôn 9"}, actor="cli:root"),
            "Quản trị viên trên máy chủ (root) đã tạo khu vực «Thôn 9»",
        ),
    ],
)
def test_use_case_entries(entry: Row, said: str) -> None:
    text = sentence(entry, Names())
    assert text == said + WHEN
    assert problems(f"<p>{text}</p>") == []
