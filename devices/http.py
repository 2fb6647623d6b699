"""The agent's HTTP client (stdlib `urllib`): clock checks, timeline pulls, media downloads.

The agent needs three simple requests — a HEAD for the server's clock, a GET of a small JSON
document, a streamed GET of a media file — so it uses the standard library instead of httpx,
whose import alone cost 11 MB of the Pi's memory (bench/agent_memory.py). `FakeHttp` answers
from a function, for tests (like httpx's `MockTransport`).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any, Protocol

from devices import __version__
from devices.errors import HttpError

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
#: Largest JSON document the agent reads (a list of its timelines: a few envelopes).
MAX_JSON_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    """A finished response: status, headers (lower-case names) and the body read."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class Http(Protocol):
    """What the agent asks of HTTP; every failure to get an answer is an `HttpError`."""

    def head(self, url: str) -> Response: ...

    def get(self, url: str, *, max_bytes: int = MAX_JSON_BYTES) -> Response: ...

    def stream(self, url: str) -> AbstractContextManager[tuple[int, Iterator[bytes]]]:
        """(status, chunks of the body as they arrive), open while the context lasts."""
        ...

    def close(self) -> None: ...


def get_json(http: Http, url: str) -> Any:
    """GET `url` and parse its JSON; `HttpError` for a non-200 answer or bad JSON."""
    resp = http.get(url)
    if resp.status != 200:
        raise HttpError(f"GET {url}: HTTP {resp.status}")
    try:
        return json.loads(resp.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(f"GET {url}: not JSON ({exc})") from exc


class _NoErrors(urllib.request.HTTPErrorProcessor):
    """Hand every status to the caller as a response, not as an exception."""

    def http_response(self, request: Any, response: Any) -> Any:
        return response

    https_response = http_response


class UrlHttp:
    """`Http` over `urllib.request`; `timeout_s` bounds connecting and each read."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        # Redirects are followed (urllib's default handler); errors come back as statuses.
        self._opener = urllib.request.build_opener(_NoErrors)
        self._headers = {"User-Agent": f"pa-device/{__version__}"}

    @contextmanager
    def _open(self, method: str, url: str) -> Iterator[Any]:
        if not url.startswith(("http://", "https://")):
            raise HttpError(f"{method} {url}: only http(s) URLs")
        req = urllib.request.Request(url, method=method, headers=self._headers)  # noqa: S310
        try:
            resp = self._opener.open(req, timeout=self.timeout_s)
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
            raise HttpError(f"{method} {url}: {exc}") from exc
        try:
            yield resp
        except (HTTPException, OSError) as exc:
            raise HttpError(f"{method} {url}: {exc}") from exc
        finally:
            resp.close()

    def head(self, url: str) -> Response:
        with self._open("HEAD", url) as resp:
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()})

    def get(self, url: str, *, max_bytes: int = MAX_JSON_BYTES) -> Response:
        with self._open("GET", url) as resp:
            body = resp.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise HttpError(f"GET {url}: more than {max_bytes} bytes")
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)

    @contextmanager
    def stream(self, url: str) -> Iterator[tuple[int, Iterator[bytes]]]:
        with self._open("GET", url) as resp:

            def chunks() -> Iterator[bytes]:
                try:
                    # read1: return what has arrived (up to CHUNK) instead of waiting for all
                    # of CHUNK, so a slow sender is seen as slow, chunk by chunk.
                    while data := resp.read1(CHUNK):
                        yield data
                except (HTTPException, OSError) as exc:  # TimeoutError is an OSError
                    raise HttpError(f"GET {url}: {exc}") from exc

            yield resp.status, chunks()

    def close(self) -> None:
        pass


Handler = Callable[[str, str], Response]


class FakeHttp:
    """`Http` answered by `handler(method, url)`; a handler raising `HttpError` is a failure."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, str]] = []

    def head(self, url: str) -> Response:
        self.requests.append(("HEAD", url))
        return self.handler("HEAD", url)

    def get(self, url: str, *, max_bytes: int = MAX_JSON_BYTES) -> Response:
        self.requests.append(("GET", url))
        return self.handler("GET", url)

    @contextmanager
    def stream(self, url: str) -> Iterator[tuple[int, Iterator[bytes]]]:
        resp = self.get(url)
        yield resp.status, iter([resp.body[i : i + CHUNK] for i in range(0, len(resp.body), CHUNK)])

    def close(self) -> None:
        pass


class RateGuard:
    """Aborts a transfer slower than `min_bytes_per_s` over any `window_s` (after the first).

    A total timeout alone lets a server that sends one byte a second hold a download for as
    long as the timeout; a minimum rate gives up on it within one window.
    """

    def __init__(
        self,
        min_bytes_per_s: float,
        window_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_bytes = min_bytes_per_s * window_s
        self.window_s = window_s
        self._monotonic = monotonic
        self._window_start = monotonic()
        self._window_bytes = 0

    def feed(self, n: int, total_left: int) -> None:
        """Count `n` bytes received; raise `HttpError` if the last window was too slow.

        `total_left` is how many bytes are still expected: a window in which the transfer
        simply ran out of bytes to send is not slow.
        """
        self._window_bytes += n
        now = self._monotonic()
        if now - self._window_start < self.window_s:
            return
        if self._window_bytes < self.min_bytes and total_left > 0:
            rate = self._window_bytes / (now - self._window_start)
            raise HttpError(
                f"too slow: {rate:.0f} B/s over {now - self._window_start:.1f} s "
                f"(minimum {self.min_bytes / self.window_s:.0f} B/s)"
            )
        self._window_start = now
        self._window_bytes = 0
