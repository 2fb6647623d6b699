"""Media for the agent: the verified LRU cache on disk and the HTTP fetcher that fills it.

Downloads run on a small pool of their own threads, each bounded by a minimum rate, so a
missing or crawling file never holds up another fetch, the clock checks or the scheduler.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from devices.clock import Clock
from devices.config import FetchSection
from devices.errors import HttpError, MediaMismatch, MediaUnavailable
from devices.http import Http, RateGuard
from devices.jobs import JobThread
from devices.protocol import Item, Media, require_media
from devices.timeline import deadline

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class MediaCache:
    """Files named by their sha256, at most `max_bytes` in all; least recently used go first.

    Only complete, verified files get their final name; downloads live as `*.part` until then.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)
        for part in folder.glob("*.part"):  # left over from a crash: never trusted
            part.unlink(missing_ok=True)

    def _entries(self) -> list[os.stat_result]:
        return [p.stat() for p in self.folder.iterdir() if len(p.name) == 64]

    def stats(self) -> tuple[int, int]:
        """(number of files, bytes) held."""
        with self._lock:
            entries = self._entries()
        return len(entries), sum(e.st_size for e in entries)

    def has(self, media: Media) -> bool:
        """Whether a file of the right size is held (its hash is checked before playing)."""
        path = self.folder / media.sha256
        try:
            return path.stat().st_size == media.bytes
        except FileNotFoundError:
            return False

    def verified_path(self, media: Media) -> Path | None:
        """The file for `media` if present and its content still hashes right (marks it used)."""
        path = self.folder / media.sha256
        if not self.has(media):
            return None
        if file_sha256(path) != media.sha256:
            log.warning("cached %s is corrupt; removed", media.sha256)
            path.unlink(missing_ok=True)
            return None
        os.utime(path)
        return path

    def temp_path(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.{threading.get_ident()}.part"

    def make_room(self, size: int, pinned: set[str]) -> None:
        """Evict least recently used files (never a pinned one) until `size` more bytes fit."""
        if size > self.max_bytes:
            raise MediaUnavailable(f"file of {size} bytes exceeds the cache limit {self.max_bytes}")
        with self._lock:
            files = sorted(
                (p for p in self.folder.iterdir() if len(p.name) == 64),
                key=lambda p: p.stat().st_mtime,
            )
            total = sum(p.stat().st_size for p in files)
            for path in files:
                if total + size <= self.max_bytes:
                    return
                if path.name in pinned:
                    continue
                total -= path.stat().st_size
                path.unlink(missing_ok=True)
                log.info("evicted %s from the media cache", path.name)
            if total + size > self.max_bytes:
                raise MediaUnavailable("media cache full of files still scheduled")

    def commit(self, temp: Path, sha256: str) -> Path:
        """Give a verified download its final name (atomic rename)."""
        final = self.folder / sha256
        temp.replace(final)
        return final


def download(
    http: Http,
    media: Media,
    cache: MediaCache,
    *,
    guard: Callable[[], RateGuard] | None = None,
) -> Path:
    """Stream `media` into a temp file, check size and sha256, then rename it into the cache.

    `guard` makes the rate guard of this download (a minimum rate over a window).
    """
    temp = cache.temp_path(media.sha256)
    h = hashlib.sha256()
    size = 0
    rate = guard() if guard is not None else None
    try:
        with http.stream(media.url) as (status, chunks), temp.open("wb") as out:
            if status != 200:
                raise MediaUnavailable(f"GET {media.url}: HTTP {status}")
            for chunk in chunks:
                size += len(chunk)
                if size > media.bytes:
                    raise MediaMismatch(f"{media.url}: more than the announced {media.bytes} bytes")
                h.update(chunk)
                out.write(chunk)
                if rate is not None:
                    rate.feed(len(chunk), media.bytes - size)
            out.flush()
            os.fsync(out.fileno())
        if size != media.bytes:
            raise MediaMismatch(f"{media.url}: {size} bytes, announced {media.bytes}")
        if h.hexdigest() != media.sha256:
            raise MediaMismatch(f"{media.url}: sha256 {h.hexdigest()} != {media.sha256}")
        return cache.commit(temp, media.sha256)
    except HttpError as exc:
        raise MediaUnavailable(f"GET {media.url}: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)


@dataclass(slots=True)
class _Want:
    media: Media
    items: dict[str, Item] = field(default_factory=dict)
    attempts: int = 0
    failed_reported: set[str] = field(default_factory=set)
    #: When the next attempt is due (None: none scheduled yet).
    due: datetime | None = None


class Fetcher:
    """Fetches the media of items as they appear, spread over the lead time, with retries.

    `jobs` only times the attempts; each download runs on a pool of `settings.workers`
    threads, so one slow or failing file delays no other.
    """

    def __init__(
        self,
        *,
        cache: MediaCache,
        client: Http,
        settings: FetchSection,
        clock: Clock,
        jobs: JobThread,
        pinned: Callable[[], set[str]],
        on_fetched: Callable[[Item], None],
        on_failed: Callable[[Item, str], None],
    ) -> None:
        self.cache = cache
        self.client = client
        self.settings = settings
        self.clock = clock
        self.jobs = jobs
        self.pinned = pinned
        self.on_fetched = on_fetched
        self.on_failed = on_failed
        self.rng = random.Random(settings.seed)
        self._lock = threading.Lock()
        self._wants: dict[str, _Want] = {}
        self._running: set[str] = set()
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="pa-fetch")

    def close(self, *, wait: bool = False) -> None:
        """Stop taking downloads; those running finish or time out on their own (`wait`: run
        what was submitted and wait for it)."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _guard(self) -> RateGuard:
        return RateGuard(self.settings.min_rate_bps, self.settings.rate_window_s)

    def _submit(self, sha256: str) -> None:
        with suppress(RuntimeError):  # shut down: the agent is closing
            self._pool.submit(self._attempt, sha256)

    def spread_delay(self, play_at: datetime, now: datetime) -> float:
        """A random start delay that still leaves `margin_s` before `play_at`."""
        room = (play_at - now).total_seconds() - self.settings.margin_s
        return self.rng.uniform(0, min(self.settings.spread_s, room)) if room > 0 else 0.0

    def want(self, items: Iterable[Item]) -> None:
        """Make sure the media of these items will be fetched (already cached: `fetched` now)."""
        now = self.clock.now()
        for item in items:
            if item.is_live:
                continue  # a stream: nothing to fetch
            media = require_media(item)
            if self.cache.has(media):
                self.on_fetched(item)
                continue
            delay = self.spread_delay(item.play_at, now) if item.play_at else 0.0
            due = now + timedelta(seconds=delay)
            with self._lock:
                want = self._wants.setdefault(media.sha256, _Want(media))
                if item.occurrence_id in want.items:
                    continue
                want.items[item.occurrence_id] = item
                # One file often serves several items (a campaign's daily plays, then an
                # immediate broadcast of the same announcement): the item needed soonest sets
                # the time. An attempt already scheduled later finds the want gone and returns.
                if want.due is not None and want.due <= due:
                    continue
                want.due = due
            self.jobs.after(delay, partial(self._submit, media.sha256))

    def _attempt(self, sha256: str) -> None:
        now = self.clock.now()
        wanted = sha256 in self.pinned()  # no longer scheduled (played, stopped, replaced)
        with self._lock:
            if sha256 in self._running:
                return  # an attempt is under way; it reschedules itself if it fails
            if not wanted:
                self._wants.pop(sha256, None)
                return
            want = self._wants.get(sha256)
            if want is None:
                return
            for occ, item in list(want.items.items()):
                if item.play_at is not None and deadline(item) < now:
                    del want.items[occ]
            if not want.items:
                del self._wants[sha256]
                return
            want.attempts += 1
            media = want.media
            self._running.add(sha256)
        error: str | None = None
        try:
            if not self.cache.has(media):
                self.cache.make_room(media.bytes, self.pinned())
                download(self.client, media, self.cache, guard=self._guard)
        except (MediaUnavailable, MediaMismatch, OSError) as exc:
            error = str(exc)
        finally:
            with self._lock:
                self._running.discard(sha256)
        if error is not None:
            self._failed(sha256, error)
            return
        with self._lock:
            want = self._wants.pop(sha256)
        for item in want.items.values():
            self.on_fetched(item)

    def _failed(self, sha256: str, detail: str) -> None:
        with self._lock:
            want = self._wants[sha256]
            log.warning("fetch %s failed (attempt %d): %s", sha256[:12], want.attempts, detail)
            report = []
            if want.attempts >= self.settings.fail_after:
                report = [i for o, i in want.items.items() if o not in want.failed_reported]
                want.failed_reported.update(i.occurrence_id for i in report)
            backoff = min(
                self.settings.backoff_initial_s * 2 ** (want.attempts - 1),
                self.settings.backoff_max_s,
            )
            want.due = self.clock.now() + timedelta(seconds=backoff)
        for item in report:
            self.on_failed(item, detail)
        self.jobs.after(backoff, partial(self._submit, sha256))
