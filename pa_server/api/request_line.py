"""Paths and query strings with control characters are refused before routing.

A path or query parameter reaches the database as typed (`/cong-khai/{zone}`, `?zone=…`), and
PostgreSQL refuses a NUL in text with an error that became a 500. No path or parameter of
this server may hold a control character, so one check at the door covers every route,
today's and tomorrow's: 422 with the API's error body, 404 in Vietnamese for pages.
`wants_json` also tells `body_limit` which refusals take the API's JSON error body.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from pa_server.schemas.common import unsafe_character

CODE = "control_character"
#: Paths of the HTTP API (the ones in the OpenAPI spec): JSON errors; other paths are pages.
API_PREFIXES = ("/api/", "/media/", "/healthz")


def wants_json(scope: Scope) -> bool:
    """Whether a refusal of this request takes the API's JSON error body."""
    return str(scope.get("path", "")).startswith(API_PREFIXES)


def request_line_problem(scope: Scope) -> str | None:
    """What is wrong with the request's path or query string, or None."""
    why = unsafe_character(scope.get("path", ""))
    if why is not None:
        return f"the path holds a {why}"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        for part in (name, value):
            why = unsafe_character(part)
            if why is not None:
                return f"query parameter {name[:40]!r} holds a {why}"
    return None


class SafeRequestLine:
    """Pure ASGI middleware: refuse control characters in the path and query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = request_line_problem(scope) if scope["type"] == "http" else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        if wants_json(scope):
            status = 422
            body = json.dumps({"detail": {"code": CODE, "message": problem}}).encode()
            content_type = b"application/json"
        else:
            status = 404
            body = "Không tìm thấy: địa chỉ chứa ký tự không hợp lệ.".encode()
            content_type = b"text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
