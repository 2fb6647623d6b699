"""Vietnamese wording of the services' refusal codes, for the pages."""

from __future__ import annotations

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
}


def service_message(exc: ServiceError) -> str:
    """What a page shows for a service refusal (the English message when no wording exists)."""
    return MESSAGES_VI.get(exc.code, f"Không thực hiện được: {exc.message}")
