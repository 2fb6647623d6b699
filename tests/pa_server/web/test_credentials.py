"""Passwords, sessions, CSRF, API tokens and the sign-in rate limit."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from pa_server.auth.errors import BadCsrf, RateLimited
from pa_server.auth.passwords import (
    WeakPassword,
    hash_password,
    needs_rehash,
    verify_password,
)
from pa_server.auth.ratelimit import SignInLimiter
from pa_server.auth.sessions import (
    Session,
    SessionCodec,
    check_csrf,
    cookie_is_secure,
    load_or_create_secret,
)
from pa_server.auth.tokens import bearer_token, new_token, token_digest

T0 = datetime(2026, 8, 10, 6, 0, tzinfo=UTC)


def test_password_hash_verifies_and_rejects() -> None:
    h = hash_password("mật khẩu an toàn")
    assert h.startswith("$argon2id$")
    assert "mật khẩu" not in h
    assert verify_password(h, "mật khẩu an toàn")
    assert not verify_password(h, "mat khau an toan")
    assert not verify_password(None, "mật khẩu an toàn")
    assert not verify_password("not a hash", "x")
    assert not needs_rehash(h)


def test_short_password_refused_in_vietnamese() -> None:
    with pytest.raises(WeakPassword, match="ít nhất 8 ký tự"):
        hash_password("ngan")


def test_secret_created_once_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / "data")
    assert load_or_create_secret(tmp_path / "data") == first
    mode = (tmp_path / "data" / "session.key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    (tmp_path / "data" / "session.key").write_bytes(b"short")
    with pytest.raises(ValueError, match="shorter than 32"):
        load_or_create_secret(tmp_path / "data")


def test_session_round_trip_and_forgery() -> None:
    codec = SessionCodec(b"k" * 64)
    session = Session.signed_in(7, epoch=3)
    value = codec.dumps(session)
    assert codec.loads(value) == session
    assert codec.loads(value[:-2] + "xx") is None
    assert codec.loads(SessionCodec(b"o" * 64).dumps(session)) is None
    assert codec.loads(None) is None
    assert codec.loads("garbage") is None
    # Signed with the right key but not a session's shape.
    odd = URLSafeTimedSerializer(b"k" * 64, salt="pa-session").dumps({"u": "7", "e": 0, "c": "x"})
    assert codec.loads(odd) is None


def test_session_expires() -> None:
    codec = SessionCodec(b"k" * 64, max_age_s=-1)
    assert codec.loads(codec.dumps(Session.anonymous())) is None


def test_sign_in_gives_a_new_csrf_token() -> None:
    anon = Session.anonymous()
    assert Session.signed_in(1, 0).csrf != anon.csrf


def test_csrf_check() -> None:
    session = Session.anonymous()
    check_csrf(session, session.csrf)
    for submitted in (None, "", Session.anonymous().csrf):
        with pytest.raises(BadCsrf):
            check_csrf(session, submitted)
    with pytest.raises(BadCsrf):
        check_csrf(None, session.csrf)


def test_cookie_secure_only_over_https() -> None:
    assert cookie_is_secure("https://loa.example.vn")
    assert not cookie_is_secure("http://127.0.0.1:8000")


def test_api_tokens() -> None:
    token = new_token()
    assert token.startswith("pa_") and len(token) > 40
    assert new_token() != token
    assert token_digest(token) == token_digest(token) != token_digest(new_token())
    assert token not in token_digest(token)
    assert bearer_token(f"Bearer {token}") == token
    assert bearer_token(f"bearer  {token} ") == token
    for header in (None, "", "Basic abc", "Bearer", "Bearer   "):
        assert bearer_token(header) is None


def test_rate_limit_five_failures_in_five_minutes() -> None:
    limiter = SignInLimiter()
    for i in range(5):
        limiter.check("An", "1.2.3.4", now=T0 + timedelta(seconds=i))
        limiter.record_failure("An", "1.2.3.4", now=T0 + timedelta(seconds=i))
    with pytest.raises(RateLimited) as exc:
        limiter.check("an", "1.2.3.4", now=T0 + timedelta(seconds=10))
    assert exc.value.retry_after_s == 290
    assert "5 phút" in exc.value.message_vi
    # Another address, or another name, is not blocked.
    limiter.check("an", "5.6.7.8", now=T0 + timedelta(seconds=10))
    limiter.check("binh", "1.2.3.4", now=T0 + timedelta(seconds=10))
    # The window slides: once the first failure is 5 minutes old, one more try is allowed.
    limiter.check("an", "1.2.3.4", now=T0 + timedelta(minutes=5))


def test_rate_limit_success_forgets() -> None:
    limiter = SignInLimiter(max_failures=2)
    limiter.record_failure("an", "ip", now=T0)
    limiter.record_success("an", "ip")
    limiter.record_failure("an", "ip", now=T0)
    limiter.check("an", "ip", now=T0)


def test_rate_limit_memory_is_bounded() -> None:
    limiter = SignInLimiter(max_failures=1, max_keys=10)
    for i in range(50):
        limiter.record_failure(f"user{i}", "ip", now=T0 + timedelta(seconds=i))
    assert len(limiter._failures) <= 10
    with pytest.raises(RateLimited):
        limiter.check("user49", "ip", now=T0 + timedelta(seconds=50))
