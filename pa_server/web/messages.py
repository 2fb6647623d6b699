"""Vietnamese wording of the services' refusal codes, for the pages.

A code without wording gets a general Vietnamese sentence by its kind (bad input, not
found, conflict, unavailable); the service's English message is only logged, never shown.
"""

from __future__ import annotations

import logging

from pa_server.auth.errors import Forbidden
from pa_server.services.errors import Conflict, Invalid, NotFound, ServiceError, Unavailable

log = logging.getLogger(__name__)

MESSAGES_VI = {
    "announcement_not_draft": "Thông báo đã được duyệt hoặc lưu trữ, không sửa được nữa.",
    "not_rendered": "Cần tạo bản nghe thử trước khi duyệt.",
    "announcement_not_approved": "Chỉ thông báo đã duyệt mới được lập lịch phát.",
    "renderer_unavailable": "Chưa tạo được âm thanh: bộ đọc văn bản chưa sẵn sàng.",
    "tts_unavailable": "Chưa tạo được âm thanh: bộ đọc văn bản chưa sẵn sàng.",
    "render_failed": "Không tạo được âm thanh từ nội dung này.",
    "bad_text": "Nội dung không có chữ nào để đọc thành lời.",
    "text_too_long": "Nội dung quá dài.",
    "empty_text": "Nội dung trống.",
    "missing_placeholder": "Còn thiếu thông tin cần điền vào mẫu.",
    "unknown_placeholder": "Mẫu thông báo có chỗ điền không đúng.",
    "unknown_script": "Mẫu thông báo không tồn tại.",
    "missing_script": "Mẫu thông báo không tồn tại.",
    "invalid_script": "Mẫu thông báo bị lỗi, vui lòng báo quản trị viên.",
    "invalid_rrule": "Quy tắc lặp lại không hợp lệ.",
    "unknown_timezone": "Múi giờ không hợp lệ.",
    "end_before_start": "Thời điểm kết thúc phải sau thời điểm bắt đầu.",
    "instant_out_of_range": "Ngày giờ nằm ngoài khoảng cho phép.",
    "unknown_zone": "Khu vực không tồn tại.",
    "zone_not_found": "Khu vực không tồn tại.",
    "invalid_slug": "Khu vực không tồn tại. Hãy chọn khu vực trong danh sách.",
    "unknown_device": "Thiết bị không tồn tại.",
    "device_not_found": "Thiết bị không tồn tại.",
    "device_in_use": "Thiết bị đang được dùng trong lịch phát.",
    "unknown_announcement": "Thông báo không tồn tại.",
    "announcement_not_found": "Thông báo không tồn tại.",
    "schedule_not_found": "Lịch phát không tồn tại.",
    "broadcast_not_found": "Buổi phát không tồn tại.",
    "no_targets": "Vui lòng chọn ít nhất một khu vực hoặc thiết bị.",
    "scripts_unavailable": "Thư viện mẫu thông báo chưa được cài.",
    "bus_unavailable": "Chưa gửi được: kết nối tới các loa chưa chạy.",
    "not_audio": "Tệp không phải âm thanh MP3, WAV, FLAC hoặc Ogg.",
    "upload_too_big": "Tệp ghi âm quá lớn.",
    "recording_missing": "Không tìm thấy tệp ghi âm của thông báo này.",
    "invalid_title": "Tiêu đề không hợp lệ.",
    "invalid_name": "Tên không hợp lệ.",
    "invalid_volume": "Âm lượng phải là số từ 0 đến 100.",
    "invalid_quiet_hours": "Giờ yên tĩnh không hợp lệ.",
    "duplicate_id": "Mã này đã được dùng.",
    "play_at_past": "Thời điểm phát đã qua. Vui lòng chọn thời điểm khác.",
    "quiet_hours": "Khu vực đang trong giờ yên tĩnh: chỉ tin khẩn cấp được phát lúc này.",
    "broker_unavailable": "Chưa gửi được: máy chủ MQTT không nhận lệnh. Vui lòng thử lại.",
    "not_emergency": "Chỉ tin khẩn cấp mới có thông báo hủy.",
    "broadcast_cancelled": "Buổi phát đã bị hủy, không còn gì để dừng.",
    "announcement_archived": "Thông báo đã lưu trữ. Hãy soạn lại trước khi sửa.",
    "reason_required": "Vui lòng ghi lý do từ chối.",
    "render_busy": "Máy chủ đang bận tạo âm thanh khác. Vui lòng thử lại sau ít phút.",
    "bad_options": "Tùy chọn giọng đọc không hợp lệ.",
    "live_unavailable": "Chưa phát trực tiếp được: máy chủ chưa có Snapcast.",
    "live_failed": "Không bắt đầu được buổi phát trực tiếp. Vui lòng thử lại.",
    "no_free_stream": "Đang có quá nhiều buổi phát trực tiếp cùng lúc. Hãy dừng một buổi trước.",
    "bad_source_url": "Địa chỉ nghe trực tiếp của đài phải bắt đầu bằng http:// hoặc https://.",
    "source_url_required": "Vui lòng nhập địa chỉ nghe trực tiếp của đài.",
    "feed_host_refused": "Địa chỉ nguồn cảnh báo thuộc máy chủ hoặc mạng nội bộ nên không được "
    "đọc. Nếu nguồn ở trong mạng nội bộ, quản trị viên cần cho phép mạng ấy trong cấu hình.",
    "relay_host_refused": "Địa chỉ này thuộc máy chủ hoặc mạng nội bộ nên không được tiếp sóng. "
    "Nếu đó là đài của xã trong mạng nội bộ, quản trị viên cần cho phép mạng ấy trong cấu hình.",
    "no_loudspeakers": "Khu vực đã chọn chưa có loa nào.",
    "live_session_not_found": "Buổi phát trực tiếp không tồn tại.",
    "live_session_ended": "Buổi phát trực tiếp đã kết thúc.",
    "not_your_session": "Chỉ người mở buổi phát trực tiếp này mới được nói.",
    "invalid_minutes": "Thời lượng không hợp lệ.",
    "title_required": "Vui lòng nhập tiêu đề.",
    "schedule_in_past": "Lịch này không phát buổi nào: mọi buổi phát đều đã qua.",
    "all_in_quiet_hours": (
        "Lịch này không phát buổi nào: mọi giờ phát đều rơi vào giờ yên tĩnh của khu vực "
        "(loa không phát trong giờ yên tĩnh). Hãy chọn giờ khác."
    ),
    "nothing_would_play": "Lịch này không có buổi phát nào sắp tới.",
    "times_conflict": "Quy tắc lặp lại đã có giờ riêng, không thêm giờ phát được.",
    "too_many_times": "Tối đa 12 giờ phát mỗi ngày.",
    "invalid_times": "Giờ phát không hợp lệ (viết như 06:30).",
}

#: By kind of refusal, when the code has no wording of its own.
GENERAL_VI: tuple[tuple[type[ServiceError], str], ...] = (
    (NotFound, "Không tìm thấy mục này."),
    (Invalid, "Thông tin nhập chưa hợp lệ, vui lòng kiểm tra lại."),
    (Conflict, "Không làm được việc này ở trạng thái hiện tại."),
    (Unavailable, "Hệ thống tạm thời chưa sẵn sàng, vui lòng thử lại sau."),
)


def forbidden_message(exc: Forbidden) -> str:
    """A rights refusal for a page: the rights' own Vietnamese, without the slugs it may name.

    `pa_server.auth.rights` names the zone path or target it refused ("“vinh-tuong/tan-tien”"),
    which helps API clients; a page says it beside the field the person chose it in.
    """
    if exc.code == "outside_zone":
        if "thiết bị" in exc.message_vi:
            return "Bạn không có quyền với loa đã chọn."
        return "Bạn không có quyền với khu vực đã chọn."
    if exc.code == "bad_target":
        return "Nơi phát không hợp lệ."
    if exc.code == "bad_level":
        return "Mức độ không hợp lệ."
    return exc.message_vi


def refusal_message(exc: ServiceError | Forbidden) -> str:
    """What a page shows for a refused action: a rights refusal or a service refusal."""
    if isinstance(exc, Forbidden):
        return forbidden_message(exc)
    return service_message(exc)


#: The form field a refusal is about, so the page says it beside that field.
REFUSAL_FIELDS = {
    "emergency_unconfirmed": "level",
    "emergency_admin_only": "level",
    "bad_level": "level",
    "outside_zone": "zones",
    "bad_target": "zones",
    "no_targets": "zones",
    "unknown_zone": "zones",
    "quiet_hours": "zones",
    "no_loudspeakers": "zones",
    "bad_source_url": "url",
    "relay_host_refused": "url",
}


def refusal_field(exc: ServiceError | Forbidden) -> str | None:
    """The form field a refusal belongs beside ("level", "zones"), None for the whole form."""
    return REFUSAL_FIELDS.get(exc.code)


def refusal_status(exc: ServiceError | Forbidden) -> int:
    """The HTTP status of a page that shows a refused action again."""
    return 403 if isinstance(exc, Forbidden) else exc.status


def service_message(exc: ServiceError) -> str:
    """What a page shows for a service refusal: always Vietnamese."""
    wording = MESSAGES_VI.get(exc.code)
    if wording is not None:
        return wording
    log.warning("no Vietnamese wording for refusal %s (%s)", exc.code, exc.message)
    for kind, text in GENERAL_VI:
        if isinstance(exc, kind):
            return text
    return "Không thực hiện được việc này."
