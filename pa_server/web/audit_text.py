"""An audit-log row said as a Vietnamese sentence, and its changes as "what: before → after".

"Nguyễn Văn A đã phát khẩn cấp «Lũ quét» tới Xã Tân Tiến lúc 20:36 01/12/2026". Pure: names
(people, zones, loudspeakers, announcements) come from a `Names` the caller passes. Whatever
this does not recognise is still said in words ("… đã sửa một lịch phát"); raw JSON, table
names and column names are never shown.

Rows it understands (`pa_server.auth.audit`): `create`/`update`/`delete` of any audited table
(before/after hold the changed columns), and the events recorded by hand: `sign_in` (users),
`reject` (announcements, after={"reason"}), `ping` and `volume` (devices, after={"volume"}),
`broadcast`, `stop`, `cancel` (occurrences, after={"title", "level", "targets", "play_at"}).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pa_server.web import labels
from pa_server.web.describe import describe_schedule, join_vi

SYSTEM_NAMES = {"system": "Hệ thống", "demo": "Dữ liệu mẫu", "": "Hệ thống"}
#: The demo district's own authors (`pa_server.services.demo`: "demo-soan", "demo-duyet").
DEMO_PREFIX = "demo-"
#: A change made at the server's console (`pa_server.services.context.cli_actor`).
CLI_PREFIX = "cli:"
#: A CAP publisher acting through its push or feed (`pa_server.services.alerts`).
CAP_PREFIX = "cap:"


def actor_display(username: str, names: Names) -> str:
    """Who did it, as people say it: a full name, "Hệ thống", or the console's user."""
    if username in SYSTEM_NAMES:
        return SYSTEM_NAMES[username]
    if username.startswith(DEMO_PREFIX):
        return SYSTEM_NAMES["demo"]
    if username.startswith(CLI_PREFIX):
        return f"Quản trị viên trên máy chủ ({username.removeprefix(CLI_PREFIX) or 'không rõ'})"
    if username.startswith(CAP_PREFIX):
        return f"Nguồn cảnh báo {username.removeprefix(CAP_PREFIX)}"
    if username.startswith("system:"):
        return SYSTEM_NAMES["system"]
    return names.person(username)


class Names(Protocol):
    """What the formatter may look up: display names of people, places and things."""

    def person(self, username: str) -> str:
        """A person's full name (or their user name)."""
        ...

    def zone(self, path: str) -> str:
        """A zone's name ("Xã Tân Tiến")."""
        ...

    def device(self, device_id: str) -> str:
        """A loudspeaker's name."""
        ...

    def announcement(self, announcement_id: str) -> str | None:
        """An announcement's title, None if unknown."""
        ...

    def schedule(self, schedule_id: str) -> str | None:
        """A schedule's title, None if unknown."""
        ...

    def occurrence(self, occurrence_id: str) -> str | None:
        """A broadcast's (occurrence's) title, None if unknown."""
        ...


class PlainNames:
    """Names with no store behind them: zones and people by their last path part or login."""

    def person(self, username: str) -> str:
        """The user name itself."""
        return username

    def zone(self, path: str) -> str:
        """ "một khu vực" (no name is known; a slug is never shown)."""
        return "một khu vực"

    def device(self, device_id: str) -> str:
        """The id (what the device reports)."""
        return f"loa {device_id}"

    def announcement(self, announcement_id: str) -> str | None:
        """Unknown."""
        return None

    def schedule(self, schedule_id: str) -> str | None:
        """Unknown."""
        return None

    def occurrence(self, occurrence_id: str) -> str | None:
        """Unknown."""
        return None


@dataclass(frozen=True)
class Row:
    """The fields of an audit entry the formatter reads (an `AuditEntry` fits)."""

    at: datetime
    actor_name: str
    action: str
    entity: str
    entity_id: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


def _q(title: object) -> str:
    return f"«{title}»"


def _get(data: Mapping[str, Any] | None, key: str) -> Any:
    return (data or {}).get(key)


def target_name(target: str, names: Names) -> str:
    """ "zone:a/b" → the zone's name; "device:x" → the loudspeaker's name."""
    kind, _, value = target.partition(":")
    if kind == "zone":
        return names.zone(value)
    if kind == "device":
        return names.device(value)
    return "nơi không rõ"


def _targets(value: Any, names: Names) -> str:
    if not isinstance(value, list | tuple) or not value:
        return ""
    return join_vi([target_name(str(t), names) for t in value])


def _zones(value: Any, names: Names) -> str:
    if not isinstance(value, list | tuple):
        return ""
    return join_vi([names.zone(str(z)) for z in value]) or "mọi khu vực"


def _when(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M %d/%m/%Y")


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _announcement(row: Row, names: Names) -> str:
    title = (
        _get(row.after, "title") or _get(row.before, "title") or names.announcement(row.entity_id)
    )
    return f"thông báo {_q(title)}" if title else "một thông báo"


def _schedule(row: Row, names: Names) -> str:
    title = _get(row.after, "title") or _get(row.before, "title") or names.schedule(row.entity_id)
    return f"lịch phát {_q(title)}" if title else "một lịch phát"


def _what(row: Row, names: Names, tz: str) -> str:
    """The verb and object: "đã duyệt thông báo «…»"."""
    act, table, after, before = row.action, row.entity, row.after, row.before
    if act == "sign_in":
        return "đã đăng nhập"
    if act == "sign_out":
        return "đã đăng xuất"
    if table == "announcements":
        thing = _announcement(row, names)
        if act == "reject":
            reason = _get(after, "reason")
            return f"đã từ chối {thing}" + (f" (lý do: {reason})" if reason else "")
        if act == "create":
            level = _get(after, "level")
            kind = "thông báo khẩn cấp" if level == "emergency" else "thông báo"
            title = _get(after, "title")
            return f"đã soạn {kind} {_q(title)}" if title else "đã soạn một thông báo"
        if act == "update":
            status = _get(after, "status")
            if status == "approved":
                return f"đã duyệt {thing}"
            if status == "archived":
                return f"đã đưa {thing} vào lưu trữ"
            if after and set(after) <= {"rendition_id"}:
                return f"đã tạo bản nghe thử cho {thing}"
            return f"đã sửa {thing}"
        if act == "delete":
            return f"đã xóa {thing}"
    if table == "renditions" and act == "create":
        title = names.announcement(str(_get(after, "announcement_id") or ""))
        return (
            f"đã tạo bản nghe thử cho thông báo {_q(title)}" if title else "đã tạo một bản nghe thử"
        )
    if table == "schedules":
        thing = _schedule(row, names)
        if act == "create":
            start = _instant(_get(after, "start_at"))
            if start is not None:
                end = _instant(_get(after, "end_at"))
                zone = str(_get(after, "timezone") or tz)
                try:
                    times = [time.fromisoformat(str(t)) for t in _get(after, "times") or []]
                    when = describe_schedule(_get(after, "rrule"), start, end, zone, times=times)
                except (KeyError, ValueError):  # an unknown time zone: say less, not fail
                    return f"đã lập {thing}"
                return f"đã lập {thing}: {when[0].lower()}{when[1:]}"
            return f"đã lập {thing}"
        if act == "update":
            enabled = _get(after, "enabled")
            if enabled is False:
                return f"đã tạm dừng {thing}"
            if enabled is True:
                return f"đã cho chạy lại {thing}"
            return f"đã sửa {thing}"
        if act == "delete":
            return f"đã xóa {thing}"
    if table == "schedule_targets" and ("targets" in (after or {}) or "targets" in (before or {})):
        # One entry per change of a schedule's places (entity_id is the schedule's id).
        title = names.schedule(row.entity_id)
        sched = f"lịch phát {_q(title)}" if title else "một lịch phát"
        new = _targets(_get(after, "targets"), names)
        old = _targets(_get(before, "targets"), names)
        if act == "delete" or not new:
            return f"đã bỏ nơi phát {old} của {sched}" if old else f"đã bỏ nơi phát của {sched}"
        return f"đã đổi nơi phát của {sched} thành {new}" + (f" (trước là {old})" if old else "")
    if table == "schedule_targets":
        data = after if act == "create" else before
        where = (
            names.zone(str(_get(data, "zone_path")))
            if _get(data, "zone_path")
            else names.device(str(_get(data, "device_id") or ""))
        )
        title = names.schedule(str(_get(data, "schedule_id") or ""))
        sched = f"lịch phát {_q(title)}" if title else "một lịch phát"
        return f"đã thêm {where} vào {sched}" if act == "create" else f"đã bỏ {where} khỏi {sched}"
    if table == "occurrences" and act == "plan":
        counts = [
            f"{n} buổi {what}"
            for key, what in (("created", "mới"), ("changed", "đổi giờ"), ("cancelled", "bỏ"))
            if isinstance(n := _get(after, key), int) and n
        ]
        return "đã lập lại kế hoạch phát" + (f": {join_vi(counts)}" if counts else "")
    if table == "occurrences":
        title = _get(after, "title") or _get(before, "title") or names.occurrence(row.entity_id)
        thing = _q(title) if title else "một thông báo"
        where = _targets(_get(after, "targets"), names)
        to = f" tới {where}" if where else ""
        if act in ("broadcast", "create"):
            level = _get(after, "level")
            how = "phát khẩn cấp" if level == "emergency" else "phát ngay"
            return f"đã {how} {thing}{to}"
        if act == "stop":
            return f"đã dừng phát {thing}{to}"
        if act == "cancel":
            return f"đã hủy tin khẩn cấp {thing} và phát thông báo hủy{to}"
    if table == "live_sessions":
        title = _get(after, "title") or _get(before, "title")
        thing = f"buổi phát trực tiếp {_q(title)}" if title else "một buổi phát trực tiếp"
        if act == "create":
            source = "tiếp sóng" if _get(after, "kind") == "relay" else "phát trực tiếp qua micrô"
            where = _targets(_get(after, "targets"), names)
            return f"đã bắt đầu {source} {_q(title or '')}" + (f" tới {where}" if where else "")
        if act == "stop":
            return f"đã dừng {thing}"
        if act == "live_failed":
            return f"cảnh báo: {thing} bị lỗi, các loa đã được tắt"
        if act == "live_end":
            outcome = _get(after, "outcome")
            return f"{thing} đã kết thúc: {labels.label('live_outcome', outcome).lower()}"
        if act == "update":
            return f"đã ghi lại kết quả {thing}"
    if table == "cap_publishers" and act == "update":
        # Only the changed columns are logged, the name not among them.
        if _get(after, "active") is False:
            return "đã khóa một nguồn cảnh báo"
        if _get(after, "active") is True:
            return "đã mở khóa một nguồn cảnh báo"
        if _get(after, "token_rotated_at"):
            return "đã cấp khóa gửi mới cho một nguồn cảnh báo"
    if table == "cap_messages" and act.startswith("cap_"):
        verdict = labels.label("cap_verdict", act.removeprefix("cap_")).lower()
        return f"đã đưa tới một bản tin cảnh báo ({verdict})"
    if table == "devices":
        device = names.device(row.entity_id)
        if act == "ping":
            return f"đã gửi lệnh kiểm tra tới {device}"
        if act == "volume":
            volume = _get(after, "volume")
            return (
                f"đã đặt âm lượng {device} thành {volume}"
                if volume is not None
                else f"đã đặt âm lượng {device}"
            )
        if act == "create":
            name = _get(after, "name") or row.entity_id
            zone = _get(after, "zone_path")
            return f"đã đăng ký loa {_q(name)}" + (f" ở {names.zone(str(zone))}" if zone else "")
        if act == "update" and _get(after, "zone_path"):
            return f"đã chuyển {device} sang {names.zone(str(_get(after, 'zone_path')))}"
        if act == "update" and after and set(after) <= {"credential_hash"}:
            return f"đã cấp lại mật khẩu kết nối cho {device}"
        if act == "update" and _get(after, "name") and _get(before, "name"):
            return f"đã đổi tên loa {_q(_get(before, 'name'))} thành {_q(_get(after, 'name'))}"
        if act == "delete":
            return f"đã gỡ loa {_q(_get(before, 'name') or row.entity_id)}"
    if table == "zones":
        if act == "update" and _get(after, "name") and _get(before, "name"):
            return f"đã đổi tên khu vực {_q(_get(before, 'name'))} thành {_q(_get(after, 'name'))}"
        name = _get(after, "name") or _get(before, "name") or names.zone(row.entity_id)
        verb = {"create": "đã tạo", "update": "đã sửa", "delete": "đã xóa"}.get(act)
        if verb:
            return f"{verb} khu vực {_q(name)}"
    if table == "users":
        username = _get(after, "username") or _get(before, "username")
        who = _q(username) if username else "một tài khoản"
        if act == "create":
            role = labels.label("role", _get(after, "role"))
            return f"đã tạo tài khoản {who} ({role})"
        if act == "update":
            said = []
            if _get(after, "active") is False:
                said.append(f"đã khóa tài khoản {who}")
            elif _get(after, "active") is True:
                said.append(f"đã mở khóa tài khoản {who}")
            if _get(after, "role"):
                role = labels.label("role", _get(after, "role"))
                said.append(f"đã đổi vai trò của {who} thành {role}")
            if after and "zones" in after:
                said.append(f"đã giao cho {who} {_zones(after['zones'], names)}")
            if after and "password_hash" in after:
                said.append(f"đã đổi mật khẩu của {who}")
            if said:
                return ", ".join(said[:1] + [s.removeprefix("đã ") for s in said[1:]])
            return f"đã sửa tài khoản {who}"
    if table == "api_tokens":
        name = _get(after, "name") or _get(before, "name")
        thing = f"khóa truy cập {_q(name)}" if name else "một khóa truy cập"
        if act == "create":
            return f"đã tạo {thing}"
        if act == "update" and _get(after, "revoked_at"):
            return f"đã thu hồi {thing}"
    entity = labels.table().get("entity", {}).get(table, "dữ liệu")
    verb = {"create": "đã thêm", "update": "đã sửa", "delete": "đã xóa"}.get(act)
    return f"{verb} một {entity}" if verb else f"đã thực hiện một thao tác với {entity}"


def sentence(row: Any, names: Names, tz: str = "Asia/Ho_Chi_Minh") -> str:
    """The whole sentence: who, did what, when."""
    who = actor_display(row.actor_name, names)
    return f"{who} {_what(row, names, tz)} lúc {_when(row.at, tz)}"


#: Columns a person may care about, in the order shown; others (ids, hashes, bookkeeping)
#: are left out of the "before → after" list.
FIELD_LABELS = {
    "title": "Tiêu đề",
    "text": "Nội dung",
    "status": "Trạng thái",
    "level": "Mức độ",
    "approver": "Người duyệt",
    "author": "Người soạn",
    "targets": "Nơi phát",
    "name": "Tên",
    "zone_path": "Khu vực",
    "zones": "Khu vực",
    "role": "Vai trò",
    "full_name": "Họ tên",
    "active": "Hoạt động",
    "enabled": "Đang chạy",
    "volume": "Âm lượng",
    "default_volume": "Âm lượng mặc định",
    "location": "Vị trí",
    "quiet_start": "Giờ yên tĩnh từ",
    "quiet_end": "Giờ yên tĩnh đến",
    "reason": "Lý do",
}


def _value(key: str, value: Any, names: Names, tz: str) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if key == "status":
        return labels.label("announcement_status", value)
    if key == "level":
        return labels.label("level", value)
    if key == "role":
        return labels.label("role", value)
    if key == "zone_path":
        return names.zone(str(value))
    if key == "zones":
        return _zones(value, names)
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if key in ("approver", "author", "caused_by"):
        return actor_display(str(value), names)
    if key == "targets":
        return _targets(value, names) or "—"
    instant = _instant(value) if isinstance(value, str) and len(value) >= 19 else None
    if instant is not None and instant.tzinfo is not None:
        return _when(instant, tz)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "—"
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def changes(row: Any, names: Names, tz: str = "Asia/Ho_Chi_Minh") -> list[tuple[str, str, str]]:
    """(what, before, after) for the columns a person cares about; nothing else."""
    before: Mapping[str, Any] = row.before or {}
    after: Mapping[str, Any] = row.after or {}
    keys: Iterable[str] = [k for k in FIELD_LABELS if k in before or k in after]
    out = []
    for key in keys:
        old, new = before.get(key), after.get(key)
        if row.action == "update" and old == new:
            continue
        if row.action != "update" and old in (None, "", []) and new in (None, "", []):
            continue  # a new or deleted row: its empty columns say nothing
        out.append(
            (
                FIELD_LABELS[key],
                _value(key, old, names, tz) if key in before else "—",
                _value(key, new, names, tz) if key in after else "—",
            )
        )
    return out
