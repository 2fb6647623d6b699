"""Errors raised by `pa_server.auth` (tree documented in the package docstring)."""

from __future__ import annotations


class AuthError(Exception):
    """Base of every accounts-and-rights error."""

    code = "auth_error"
    #: What a Vietnamese page shows for this error.
    message_vi = "Lỗi xác thực."


class BadCredentials(AuthError):
    """Unknown user, wrong password, or an unknown or revoked API token."""

    code = "bad_credentials"
    message_vi = "Tên đăng nhập hoặc mật khẩu không đúng."


class NotSignedIn(AuthError):
    """A protected route was asked for without a session or a bearer token."""

    code = "not_authenticated"
    message_vi = "Vui lòng đăng nhập."


class RateLimited(AuthError):
    """Too many failed sign-ins for one username from one address."""

    code = "too_many_attempts"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s

    @property
    def message_vi(self) -> str:  # type: ignore[override]
        minutes = max(1, -(-self.retry_after_s // 60))
        return f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút."


class BadCsrf(AuthError):
    """A form posted without its CSRF token, or with a token from another session."""

    code = "csrf_failed"
    message_vi = "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại."


class Forbidden(AuthError):
    """The person is signed in but has no right to this action."""

    def __init__(self, code: str, message_vi: str) -> None:
        super().__init__(code)
        self.code = code
        self.message_vi = message_vi


class AccountError(AuthError):
    """A change to accounts was refused; `field` names the form field at fault, if any."""

    code = "bad_account"

    def __init__(self, code: str, message_vi: str, field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message_vi = message_vi
        self.field = field


class BadText(AuthError):
    """A posted form field holds a control character (NUL and the like); `field` names it."""

    code = "control_character"

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"form field {field!r} holds a {why}")
        self.field = field
        self.message_vi = (
            "Nội dung gửi lên có ký tự điều khiển không hợp lệ. "
            "Vui lòng xoá ký tự đó (thường do dán từ tài liệu khác) rồi gửi lại."
        )
