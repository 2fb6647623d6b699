"""Every response carries the server's time to the millisecond, for the agents' clock checks.

The agents measure their clock against the server's (the district's reference: loudspeakers of
one zone must start together). HTTP `Date` has whole seconds and uvicorn refreshes it only once
a second; `X-PA-Server-Time` (epoch seconds, three decimals) lets an agent measure its offset
to within half a round trip and correct a wrong clock.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devices.clock import SERVER_TIME_HEADER

_HEADER = SERVER_TIME_HEADER.lower().encode("ascii")


class ServerTimeHeader:
    """Pure ASGI middleware: stamps the header as the response starts (no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = f"{time.time():.3f}".encode("ascii")
                message["headers"] = [*message.get("headers", []), (_HEADER, stamp)]
            await send(message)

        await self.app(scope, receive, stamped)
