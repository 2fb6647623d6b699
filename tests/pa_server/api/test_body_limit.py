"""Request bodies are bounded before authentication and parsing (`pa_server.api.body_limit`).

The streamed tests drive the app at the ASGI level with a body made lazily, chunk by chunk,
and count what the server pulled: the 150 MB body is never made, let alone held.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pa_server.api.body_limit import BodyLimit
from pa_server.app import create_app
from pa_server.config import Settings

CHUNK = 64 * 1024
HUGE = 150 * 1024 * 1024
LIMIT = 256 * 1024
FILE_PART = (
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
    b"Content-Type: audio/wav\r\n\r\n"
)


@dataclass
class Exchange:
    """What the server answered, and how much of the body it pulled."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    pulled: int = 0

    def detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = json.loads(self.body)["detail"]
        return detail


def _lazy_body(total: int, head: bytes = b'{"title": "') -> Iterator[bytes]:
    """`total` bytes of a body starting with `head`, made one chunk at a time."""
    yield head
    sent = len(head)
    while sent < total:
        piece = b"x" * min(CHUNK, total - sent)
        sent += len(piece)
        yield piece


def exchange(
    app: Any, method: str, path: str, *, chunks: Iterator[bytes], headers: dict[str, str]
) -> Exchange:
    """Send one request straight into the ASGI app."""
    result = Exchange()
    pending = iter(chunks)

    async def receive() -> dict[str, Any]:
        piece = next(pending, None)
        if piece is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        result.pulled += len(piece)
        return {"type": "http.request", "body": piece, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    # On a thread of its own: a worker that ran the browser tests first has Playwright's
    # event loop running on this thread, and asyncio.run refuses to start inside it.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return result


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'pa.db'}",
        max_body_bytes=LIMIT,
        max_upload_bytes=4 * LIMIT,
    )


def test_a_declared_length_over_the_limit_is_refused_before_reading(settings: Settings) -> None:
    app = create_app(settings, background=False)
    got = exchange(
        app,
        "POST",
        "/api/v1/announcements",
        chunks=_lazy_body(HUGE),
        headers={"content-type": "application/json", "content-length": str(HUGE)},
    )
    assert got.status == 413
    assert got.detail()["code"] == "body_too_large"
    assert str(LIMIT) in got.detail()["message"]
    assert got.pulled == 0
    assert "x-pa-server-time" in got.headers


def test_a_streamed_body_is_cut_off_past_the_limit(settings: Settings) -> None:
    # No Content-Length (chunked): anonymous, so without the bound the whole body would be
    # read and parsed before the 401.
    app = create_app(settings, background=False)
    got = exchange(
        app,
        "POST",
        "/api/v1/announcements",
        chunks=_lazy_body(HUGE),
        headers={"content-type": "application/json"},
    )
    assert got.status == 413
    assert got.detail() == {
        "code": "body_too_large",
        "message": f"request body exceeds {LIMIT} bytes",
    }
    assert got.pulled <= LIMIT + CHUNK
    assert got.headers["connection"] == "close"


def test_pages_get_the_refusal_in_vietnamese(settings: Settings) -> None:
    app = create_app(settings, background=False)
    got = exchange(
        app,
        "POST",
        "/dang-nhap",
        chunks=_lazy_body(HUGE),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert got.status == 413
    assert got.body.decode() == "Dữ liệu gửi lên quá lớn."


def test_the_recording_upload_has_the_larger_limit(settings: Settings) -> None:
    middleware = BodyLimit(
        create_app(settings, background=False),
        limit=LIMIT,
        upload_limit=4 * LIMIT,
        upload_paths=(r"/up/[^/]+",),
    )
    assert middleware.limit_for("/up/a1") == 4 * LIMIT
    assert middleware.limit_for("/up/a1/more") == LIMIT
    app = create_app(settings, background=False)
    with TestClient(app):  # runs the lifespan: these requests reach the routes
        for path in ("/api/v1/announcements/a1/recording", "/thong-bao/moi/ghi-am"):
            form = {"content-type": "multipart/form-data; boundary=b"}
            fits = exchange(
                app, "POST", path, chunks=iter([b"--b--"]), headers=form | {"content-length": "5"}
            )
            declared = str(2 * LIMIT)
            allowed = exchange(
                app,
                "POST",
                path,
                chunks=iter([b"--b--"]),
                headers=form | {"content-length": declared},
            )
            assert fits.status == allowed.status != 413
            declared = str(4 * LIMIT + 1)
            too_big = exchange(
                app, "POST", path, chunks=iter([b""]), headers=form | {"content-length": declared}
            )
            assert too_big.status == 413
        # Anonymous: FastAPI reads the form before it asks who is calling, up to the limit.
        streamed = exchange(
            app,
            "POST",
            "/api/v1/announcements/a1/recording",
            chunks=_lazy_body(8 * LIMIT, FILE_PART),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status == 413
        assert LIMIT + CHUNK < streamed.pulled <= 4 * LIMIT + CHUNK


def test_a_content_length_that_is_not_a_number_is_a_bad_request(settings: Settings) -> None:
    app = create_app(settings, background=False)
    got = exchange(
        app,
        "POST",
        "/api/v1/announcements",
        chunks=iter([b"{}"]),
        headers={"content-type": "application/json", "content-length": "12x"},
    )
    assert got.status == 400
    assert got.detail()["code"] == "bad_content_length"


def test_bodies_under_the_limit_reach_the_app(settings: Settings) -> None:
    app = create_app(settings, background=False)
    with TestClient(app) as client:
        response = client.post("/api/v1/announcements", content=b"{" + b" " * 1000 + b"}")
        assert response.status_code == 401  # read, then refused for want of credentials
        response = client.post("/api/v1/announcements", content=b" " * (LIMIT + 1))
        assert response.status_code == 413
