"""The media cache and fetcher: verified, size-limited, never evicting what is scheduled."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices import protocol
from devices.clock import SystemClock
from devices.config import FetchSection
from devices.errors import MediaMismatch, MediaUnavailable
from devices.http import FakeHttp, RateGuard, Response, UrlHttp
from devices.jobs import JobThread
from devices.media import Fetcher, MediaCache, download
from tests.devices.support import MediaServer, wait_for

NOW = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def media_for(data: bytes, url: str = "http://media.test/f.mp3") -> protocol.Media:
    return protocol.Media(
        url=url, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), duration_ms=1
    )


def client_serving(data: bytes, status: int = 200) -> FakeHttp:
    return FakeHttp(lambda _m, _u: Response(status, body=data))


def test_download_verifies_and_keeps_only_good_files(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path, 10_000_000)
    good = os.urandom(5000)
    path = download(client_serving(good), media_for(good), cache)
    assert path.read_bytes() == good
    assert cache.verified_path(media_for(good)) == path

    wrong = media_for(b"x" * 5000)
    with pytest.raises(MediaMismatch, match="sha256"):
        download(client_serving(b"y" * 5000), wrong, cache)
    with pytest.raises(MediaMismatch, match="announced"):
        download(client_serving(good + b"more"), media_for(good + b"m"), cache)
    with pytest.raises(MediaUnavailable, match="HTTP 404"):
        download(client_serving(b"", 404), media_for(b"z"), cache)
    # Nothing partial or unverified is left under a playable name.
    assert sorted(p.name for p in tmp_path.iterdir()) == [media_for(good).sha256]


def test_a_corrupted_cached_file_is_not_played(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path, 10_000_000)
    data = os.urandom(100)
    download(client_serving(data), media_for(data), cache)
    (tmp_path / media_for(data).sha256).write_bytes(os.urandom(100))
    assert cache.verified_path(media_for(data)) is None


def test_eviction_takes_the_least_recently_used_and_never_a_pinned_file(tmp_path: Path) -> None:
    cache = MediaCache(tmp_path, 3 * 1024 * 1024)
    files = [os.urandom(1024 * 1024) for _ in range(3)]
    for n, data in enumerate(files):
        download(client_serving(data), media_for(data), cache)
        os.utime(tmp_path / media_for(data).sha256, (1000 + n, 1000 + n))
    oldest, middle, newest = (media_for(d).sha256 for d in files)
    cache.make_room(1024 * 1024, pinned={oldest})
    assert {p.name for p in tmp_path.iterdir()} == {oldest, newest}
    with pytest.raises(MediaUnavailable, match="scheduled"):
        cache.make_room(2 * 1024 * 1024, pinned={oldest, newest})
    with pytest.raises(MediaUnavailable, match="exceeds"):
        cache.make_room(4 * 1024 * 1024, pinned=set())
    del middle


def test_leftover_partial_downloads_are_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / ("ab" * 32 + ".123.part")).write_bytes(b"half")
    MediaCache(tmp_path, 10_000_000)
    assert list(tmp_path.iterdir()) == []


class FixedClock:
    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0


def test_spread_delay_is_random_within_the_lead_and_reproducible_with_a_seed(
    tmp_path: Path,
) -> None:
    def fetcher(seed: int) -> Fetcher:
        return Fetcher(
            cache=MediaCache(tmp_path, 10_000_000),
            client=client_serving(b""),
            settings=FetchSection(spread_s=600, margin_s=120, seed=seed),
            clock=FixedClock(),
            jobs=None,  # type: ignore[arg-type]
            pinned=set,
            on_fetched=lambda _i: None,
            on_failed=lambda _i, _d: None,
        )

    far = NOW + timedelta(hours=2)
    a = [fetcher(1).spread_delay(far, NOW) for _ in range(3)]
    first = fetcher(1)
    b = [first.spread_delay(far, NOW) for _ in range(20)]
    assert a[0] == b[0]
    assert all(0 <= d <= 600 for d in b) and len(set(b)) > 1
    # Close to play_at the spread shrinks so the margin is kept, and vanishes inside it.
    assert all(first.spread_delay(NOW + timedelta(seconds=180), NOW) <= 60 for _ in range(20))
    assert first.spread_delay(NOW + timedelta(seconds=60), NOW) == 0.0


class RecordingJobs:
    """Collects `after(delay, fn)` calls instead of running them."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, object]] = []

    def after(self, delay: float, fn: object) -> None:
        self.calls.append((delay, fn))


def test_the_item_needed_soonest_sets_when_shared_media_is_fetched(tmp_path: Path) -> None:
    """A campaign's far-off plays and an immediate broadcast share one file: the broadcast in
    eight seconds must not wait for the random spread chosen for tomorrow's play."""
    data = b"chung mot file"
    media = media_for(data)
    jobs = RecordingJobs()
    fetched: list[str] = []
    fetcher = Fetcher(
        cache=MediaCache(tmp_path, 10_000_000),
        client=client_serving(data),
        settings=FetchSection(spread_s=600, margin_s=120, seed=3),
        clock=FixedClock(),
        jobs=jobs,  # type: ignore[arg-type]
        pinned=lambda: {media.sha256},
        on_fetched=lambda i: fetched.append(i.occurrence_id),
        on_failed=lambda _i, _d: None,
    )

    def item(occ: str, play_at: datetime) -> protocol.Item:
        return protocol.Item(occurrence_id=occ, play_at=play_at, media=media)

    fetcher.want([item("tomorrow", NOW + timedelta(hours=12))])
    fetcher.want([item("tomorrow-2", NOW + timedelta(hours=36))])  # later: no new attempt
    assert len(jobs.calls) == 1 and jobs.calls[0][0] > 0
    fetcher.want([item("now", NOW + timedelta(seconds=8))])
    assert len(jobs.calls) == 2 and jobs.calls[1][0] == 0.0
    jobs.calls[1][1]()  # type: ignore[operator]
    wait_for(lambda: sorted(fetched) == ["now", "tomorrow", "tomorrow-2"], 5, "the fetch")
    jobs.calls[0][1]()  # type: ignore[operator]  # the late attempt finds nothing left to do
    fetcher.close(wait=True)
    assert len(fetched) == 3


def test_a_crawling_server_is_abandoned_by_its_minimum_rate(
    tmp_path: Path, media_server: MediaServer
) -> None:
    """Finding: one byte a second held a download (and the single fetch thread) for 40 s;
    a total timeout alone does not catch a server that keeps sending something."""
    data = os.urandom(400)
    media = media_server.put(data)
    media_server.trickle[media_server.path_of(media)] = 5.0
    cache = MediaCache(tmp_path, 10_000_000)
    with pytest.raises(MediaUnavailable, match="too slow"):
        download(UrlHttp(timeout_s=5), media, cache, guard=lambda: RateGuard(1000, 0.5))
    assert list(tmp_path.iterdir()) == []


def test_a_slow_or_missing_file_does_not_hold_up_another_fetch(
    tmp_path: Path, media_server: MediaServer
) -> None:
    slow = media_server.put(os.urandom(2000))
    media_server.trickle[media_server.path_of(slow)] = 2.0  # 1,000 s to send it all
    good = media_server.put(os.urandom(3000))
    missing = media_for(b"never served", url=f"{media_server.url}/media/{'2' * 64}.mp3")
    jobs = JobThread("test-jobs")
    fetched: list[str] = []
    failed: list[str] = []
    fetcher = Fetcher(
        cache=MediaCache(tmp_path, 10_000_000),
        client=UrlHttp(timeout_s=5),
        # A rate window longer than the test: only the pool keeps the slow file out of the way.
        settings=FetchSection(spread_s=0, workers=2, rate_window_s=600, fail_after=1),
        clock=SystemClock(),
        jobs=jobs,
        pinned=lambda: {slow.sha256, good.sha256, missing.sha256},
        on_fetched=lambda i: fetched.append(i.occurrence_id),
        on_failed=lambda i, _d: failed.append(i.occurrence_id),
    )
    jobs.start()
    try:
        now = protocol.utc_now()

        def item(occ: str, media: protocol.Media) -> protocol.Item:
            return protocol.Item(occurrence_id=occ, play_at=now + timedelta(hours=1), media=media)

        fetcher.want([item("slow", slow)])
        wait_for(lambda: media_server.path_of(slow) in media_server.requests, 5, "slow started")
        fetcher.want([item("missing", missing), item("good", good)])
        wait_for(lambda: "good" in fetched and "missing" in failed, 10, "the other fetches")
        assert fetched == ["good"]  # the slow one is still crawling
    finally:
        fetcher.close()
        jobs.stop()
