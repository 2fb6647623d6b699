"""Every response carries the server's time to the millisecond, for the agents' clock checks.

The agents measure their clock against the server's (the district's reference: loudspeakers of
one zone must start together). HTTP `Date` has whole seconds and uvicorn refreshes it only once
a second; `X-PA-Server-Time` (epoch seconds, three decimals) lets an agent measure its offset
to within half a round trip and correct a wrong clock.

The stamp is truncated to the millisecond, never rounded: like `Date`, it names the last tick
the server's clock has passed, so the true instant lies in [stamp, stamp + 1 ms) and a stamp
is never ahead of the server's own clock (rounding put it up to 0.5 ms in the future).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devices.clock import SERVER_TIME_HEADER

_HEADER = SERVER_TIME_HEADER.lower().encode("ascii")


def format_stamp(epoch_ns: int) -> str:
    """Epoch nanoseconds as seconds with three decimals, truncated (exact integer arithmetic)."""
    ms = epoch_ns // 1_000_000
    return f"{ms // 1000}.{ms % 1000:03d}"


class ServerTimeHeader:
    """Pure ASGI middleware: stamps the header as the response starts (no body buffering)."""

    def __init__(self, app: ASGIApp, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.app = app
        self.clock_ns = clock_ns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = format_stamp(self.clock_ns()).encode("ascii")
                message["headers"] = [*message.get("headers", []), (_HEADER, stamp)]
            await send(message)

        await self.app(scope, receive, stamped)
