"""A bound on request bodies, applied before authentication and before any parsing.

FastAPI reads and parses a JSON body before it runs the route's dependencies, so without a
bound an anonymous client could make the server hold (and parse) any amount of data before
the 401 (150 MB took the process to 543 MB). This pure ASGI middleware refuses a declared
`Content-Length` over the limit at once, and counts the bytes of a body sent without one
(chunked), stopping the read as soon as the count passes the limit. Either way the answer is
413 with the API's error body, and the connection is closed (the rest is never read).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pa_server.api.request_line import wants_json

log = logging.getLogger(__name__)

CODE = "body_too_large"


class BodyTooLarge(Exception):
    """Raised into the app by `receive` when a streamed body passes the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
        self.limit = limit


def _declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, None without one; -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    # Pages get a Vietnamese sentence, the API its one error shape.
    if wants_json(scope):
        body = json.dumps({"detail": {"code": code, "message": message}}).encode()
        content_type = b"application/json"
    else:
        text = "Dữ liệu gửi lên quá lớn." if status == 413 else "Yêu cầu không hợp lệ."
        body = text.encode()
        content_type = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Pure ASGI middleware: at most `limit` body bytes, `upload_limit` on `upload_paths`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        upload_limit: int | None = None,
        upload_paths: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit if upload_limit is not None else limit
        self._upload_paths = [re.compile(p) for p in upload_paths]

    def limit_for(self, path: str) -> int:
        """The most body bytes a request to `path` may send."""
        if any(p.fullmatch(path) for p in self._upload_paths):
            return self.upload_limit
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _declared_length(scope)
        if declared == -1:
            await _refuse(scope, send, 400, "bad_content_length", "Content-Length is not a number")
            return
        if declared is not None and declared > limit:
            log.info("refused a %d-byte body to %s (limit %d)", declared, scope["path"], limit)
            await _refuse(scope, send, 413, CODE, f"request body exceeds {limit} bytes")
            return

        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            if exceeded:  # the app asks again after the refusal: it gets nothing more
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:
                # Whatever the app makes of the aborted read (FastAPI: a 400 "error parsing
                # the body") is replaced by the 413 below.
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            # After the refusal, whatever the app raised about the cut-off body is ours to
            # answer (a 413), not a 500.
            if not exceeded:
                raise
        if exceeded:
            log.info("stopped reading a body to %s past %d bytes", scope["path"], limit)
            if not started:
                await _refuse(scope, send, 413, CODE, f"request body exceeds {limit} bytes")
