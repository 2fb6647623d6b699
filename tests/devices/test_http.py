"""The agent's stdlib HTTP client, on a real local server, and the minimum-rate guard."""

from __future__ import annotations

import pytest

from devices.errors import HttpError
from devices.http import RateGuard, UrlHttp, get_json
from tests.devices.support import MediaServer, free_port


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_rate_guard_aborts_a_slow_window_but_not_a_finished_transfer() -> None:
    clock = Ticks()
    guard = RateGuard(100, 1.0, clock)
    clock.t = 0.5
    guard.feed(10, total_left=1000)  # within the first window: not judged yet
    clock.t = 1.0
    guard.feed(200, total_left=800)  # 210 B in 1 s: fine, a new window starts
    clock.t = 2.5
    with pytest.raises(HttpError, match="too slow"):
        guard.feed(5, total_left=795)
    done = RateGuard(100, 1.0, clock)
    clock.t = 10.0
    done.feed(1, total_left=0)  # the last byte, however late, is not "slow"


def test_get_stream_and_head_on_a_real_server(media_server: MediaServer) -> None:
    http = UrlHttp(timeout_s=5)
    media = media_server.put(b"x" * 200_000)
    with http.stream(media.url) as (status, chunks):
        assert status == 200
        assert b"".join(chunks) == b"x" * 200_000
    assert http.head(media_server.url + "/").headers["date"]
    assert http.get(media_server.url + "/nothing").status == 404  # a status, not an exception
    media_server.timelines = [b'{"a":1}']
    assert get_json(http, media_server.url + "/api/v1/agents/loa-01/timelines") == [{"a": 1}]
    with pytest.raises(HttpError, match="HTTP 404"):
        get_json(http, media_server.url + "/nothing")
    with pytest.raises(HttpError, match="more than"):
        http.get(media.url, max_bytes=1000)


def test_refused_connections_and_other_schemes_are_http_errors() -> None:
    http = UrlHttp(timeout_s=2)
    with pytest.raises(HttpError):
        http.head(f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(HttpError, match="only http"):
        http.get("file:///etc/passwd")
