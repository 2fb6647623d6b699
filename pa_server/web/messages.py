"""Vietnamese wording of the services' refusal codes, for the pages."""

from __future__ import annotations

from pa_server.auth.errors import Forbidden
from pa_server.services.errors import ServiceError

MESSAGES_VI = {
    "announcement_not_draft": "Thông báo đã được duyệt hoặc lưu trữ, không sửa được nữa.",
    "not_rendered": "Cần tạo bản nghe thử trước khi duyệt.",
    "announcement_not_approved": "Chỉ thông báo đã duyệt mới được lập lịch phát.",
    "renderer_unavailable": "Chưa tạo được âm thanh: bộ đọc văn bản chưa sẵn sàng.",
    "render_failed": "Không tạo được âm thanh từ nội dung này.",
    "text_too_long": "Nội dung quá dài.",
    "empty_text": "Nội dung trống.",
    "missing_placeholder": "Còn thiếu thông tin cần điền vào mẫu.",
    "unknown_script": "Mẫu thông báo không tồn tại.",
    "invalid_rrule": "Quy tắc lặp lại không hợp lệ.",
    "unknown_timezone": "Múi giờ không hợp lệ.",
    "end_before_start": "Thời điểm kết thúc phải sau thời điểm bắt đầu.",
    "unknown_zone": "Khu vực không tồn tại.",
    "unknown_device": "Thiết bị không tồn tại.",
    "no_targets": "Vui lòng chọn ít nhất một khu vực hoặc thiết bị.",
    "scripts_unavailable": "Thư viện mẫu thông báo chưa được cài.",
    "play_at_past": "Thời điểm phát đã qua. Vui lòng chọn thời điểm khác.",
    "quiet_hours": "Khu vực đang trong giờ yên tĩnh: chỉ tin khẩn cấp được phát lúc này.",
    "bus_unavailable": "Chưa gửi được: kết nối tới các loa (MQTT) chưa chạy.",
    "broker_unavailable": "Chưa gửi được: máy chủ MQTT không nhận lệnh. Vui lòng thử lại.",
    "not_emergency": "Chỉ tin khẩn cấp mới có thông báo hủy.",
    "broadcast_cancelled": "Buổi phát đã bị hủy, không còn gì để dừng.",
    "announcement_archived": "Thông báo đã lưu trữ. Hãy soạn lại trước khi sửa.",
    "reason_required": "Vui lòng ghi lý do từ chối.",
    "unknown_announcement": "Thông báo không tồn tại.",
    "announcement_in_use": "Thông báo đã được lập lịch hoặc đã phát: hãy lưu trữ thay vì xóa.",
}


def refusal_message(exc: ServiceError | Forbidden) -> str:
    """What a page shows for a refused action: a rights refusal or a service refusal."""
    if isinstance(exc, Forbidden):
        return exc.message_vi
    return service_message(exc)


def refusal_status(exc: ServiceError | Forbidden) -> int:
    """The HTTP status of a page that shows a refused action again."""
    return 403 if isinstance(exc, Forbidden) else exc.status


def service_message(exc: ServiceError) -> str:
    """What a page shows for a service refusal (the English message when no wording exists)."""
    return MESSAGES_VI.get(exc.code, f"Không thực hiện được: {exc.message}")
