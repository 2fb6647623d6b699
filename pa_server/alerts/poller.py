"""The CAP feed poller: a thread that, on the dispatching replica, polls the feeds that are due
(`pa_server.services.alerts.poll_feed`), each in its own unit of work acting as the feed's
publisher. Started and stopped with the app's lifespan, beside the planner's `Runtime`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

import httpx
from sqlalchemy.orm import Session, sessionmaker

from pa_server.config import Settings
from pa_server.services import alerts
from pa_server.services.context import UseCase, unit_of_work
from pa_server.services.renditions import RendererLike
from pa_server.services.timelines import DispatcherLike

log = logging.getLogger(__name__)


def poll_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    client: httpx.Client,
    *,
    now: datetime,
    renderer: RendererLike | None,
    dispatcher: DispatcherLike | None,
    on_plan_change: Callable[[], None],
) -> list[int]:
    """Poll every feed that is due now; returns their ids. One feed's failure spares the rest."""
    with sessions() as session:
        due = alerts.due_feeds(session, now)
    for feed_id in due:
        try:
            with unit_of_work(sessions, on_plan_change) as session:
                uc = UseCase(session, alerts.FEED_POLLER, now, settings, dispatcher, renderer)
                alerts.poll_feed(uc, feed_id, client)
        except Exception:
            log.exception("CAP feed %s: poll failed", feed_id)
    return due


class FeedPoller:
    """Polls due feeds every `settings.cap_poll_interval_s` while `is_leader()`."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime],
        renderer: RendererLike | None,
        dispatcher: Callable[[], DispatcherLike | None],
        on_plan_change: Callable[[], None],
        is_leader: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.renderer = renderer
        self.dispatcher = dispatcher
        self.on_plan_change = on_plan_change
        self.is_leader = is_leader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FeedPoller:
        self._thread = threading.Thread(target=self._loop, name="pa-cap-feeds", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        timeout = httpx.Timeout(self.settings.cap_feed_timeout_s)
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            while not self._stop.wait(self.settings.cap_poll_interval_s):
                if not self.is_leader():
                    continue  # another replica polls (the dispatcher's lease)
                try:
                    poll_due(
                        self.sessions,
                        self.settings,
                        client,
                        now=self.clock(),
                        renderer=self.renderer,
                        dispatcher=self.dispatcher(),
                        on_plan_change=self.on_plan_change,
                    )
                except Exception:
                    log.exception("CAP feed poll failed; retrying at the next tick")
