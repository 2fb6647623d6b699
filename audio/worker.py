"""Renders in worker processes behind a bounded queue, so the server never renders itself.

A render is seconds of numpy and LAME work: in the server's process it would hold the GIL
(and memory) that the API and the MQTT callbacks need. `RenderWorker.render(request)` sends
the request to a child process (started with `spawn`: a fork of a threaded server is unsafe)
that runs the very same `Renderer.render`, so the bytes are those `pa-server say` writes.
At most `processes` renders run at once and `max_pending` more may wait; beyond that the
call raises RenderBusy at once instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import weakref
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from audio.errors import RenderBusy, RenderCrashed
from audio.render import Renderer, RenderRequest, Rendition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RendererConfig:
    """What a worker process needs to build its own Renderer (picklable, no live objects)."""

    media_dir: Path
    cache_dir: Path
    gtts_timeout_s: float = 4.0
    piper_model: Path | None = None

    def build(self) -> Renderer:
        """A Renderer for this configuration (the CLI builds the same one in-process)."""
        return Renderer(
            self.media_dir,
            self.cache_dir,
            self.gtts_timeout_s,
            piper_model=self.piper_model,
        )


_renderer: Renderer | None = None


def _start(config: RendererConfig) -> None:
    global _renderer  # one Renderer per worker process: its caches and gTTS breaker live on
    _renderer = config.build()


def _render(req: RenderRequest) -> Rendition:
    assert _renderer is not None, "worker started without its initializer"
    return _renderer.render(req)


def peak_rss_mib() -> float:
    """This process's own peak resident memory in MiB (VmHWM: not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # no /proc: ru_maxrss (KiB on Linux), which may include a parent's at fork

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RenderWorker:
    """`render(request) -> Rendition` like `Renderer`, run in worker processes; a context manager.

    The server's rendition service calls `render` from a request thread (it blocks that thread,
    never the event loop); async code can await `render_async`.
    """

    def __init__(
        self,
        config: RendererConfig,
        *,
        processes: int = 1,
        max_pending: int = 4,
        executor: Executor | None = None,
    ) -> None:
        if processes < 1 or max_pending < 0:
            raise ValueError("processes must be >= 1 and max_pending >= 0")
        self.config = config
        self.processes = processes
        self.max_pending = max_pending
        self._slots = threading.BoundedSemaphore(processes + max_pending)
        self._executor = executor  # for tests: one whose futures finish (or fail) on cue
        self._pool_lock = threading.Lock()
        self._pool = self._new_pool()
        self._pool_of: weakref.WeakKeyDictionary[Future[Rendition], Executor] = (
            weakref.WeakKeyDictionary()
        )
        self.restarts = 0

    def _new_pool(self) -> Executor:
        return self._executor or ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self.config,),
        )

    def _restart(self, broken: Executor) -> None:
        with self._pool_lock:
            if self._pool is broken:  # one restart however many renders saw it break
                log.error("a render worker process died; starting a fresh one")
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                self.restarts += 1

    def submit(self, req: RenderRequest) -> Future[Rendition]:
        """Queue `req`; raises RenderBusy when `processes + max_pending` renders are in hand."""
        if not self._slots.acquire(blocking=False):
            raise RenderBusy(
                f"{self.processes + self.max_pending} renders are running or waiting; "
                "try again in a moment"
            )
        pool = self._pool
        try:
            future = pool.submit(_render, req)
        except BrokenProcessPool as exc:
            self._slots.release()
            self._restart(pool)
            raise RenderCrashed("the render worker had died; try again") from exc
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._pool_of[future] = pool  # which pool to restart if this render finds it broken
        return future

    def _result(self, future: Future[Rendition]) -> Rendition:
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self._restart(self._pool_of.get(future, self._pool))
            raise RenderCrashed("the render worker died during this render") from exc

    def render(self, req: RenderRequest) -> Rendition:
        """Render in a worker process and wait for it (the worker's AudioErrors re-raised)."""
        return self._result(self.submit(req))

    async def render_async(self, req: RenderRequest) -> Rendition:
        """`render` for async code: awaits the worker without blocking the event loop."""
        future = self.submit(req)
        with contextlib.suppress(BrokenProcessPool):  # _result reports it and restarts the pool
            await asyncio.wrap_future(future)
        return self._result(future)

    def worker_peak_rss_mib(self) -> float:
        """Peak resident memory (MiB) of the worker that answers (with one process: the worker)."""
        return float(self._pool.submit(peak_rss_mib).result())

    def close(self) -> None:
        """Wait for running renders, then stop the worker processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> RenderWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def default_processes() -> int:
    """One worker per two cores, at least one: renders must leave the server a core."""
    return max(1, (os.cpu_count() or 2) // 2)
