"""A thread that runs small jobs at monotonic instants (media fetches, clock checks, state)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class JobThread:
    """Runs each job once at or after its instant, one at a time, in one daemon thread."""

    def __init__(self, name: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._count = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def at(self, when: float, job: Callable[[], None]) -> None:
        """Run `job` at monotonic instant `when` (now if it has passed)."""
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._count), job))
            self._cond.notify()

    def after(self, delay_s: float, job: Callable[[], None]) -> None:
        self.at(self._monotonic() + max(0.0, delay_s), job)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._heap and self._heap[0][0] <= self._monotonic():
                        break
                    timeout = self._heap[0][0] - self._monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopping:
                    return
                _, _, job = heapq.heappop(self._heap)
            try:
                job()
            except Exception:  # a job must never kill the thread that runs all the others
                log.exception("job %r failed", job)
