"""What every use case is given: the store, who acts, the instant, and the parts it may need.

The API and the pages build one `UseCase` per request from the same dependencies
(`pa_server.api.deps.UseCaseDep`); the CLI builds one with `cli_actor`. A service function takes
it first, checks `actor`'s rights on the state its action would produce, does the work, writes
the audit entry (the session knows the actor, so every row change names them) and returns or
raises a `ServiceError` / `Forbidden`.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from pa_server.auth import audit
from pa_server.auth.rights import Actor, Role
from pa_server.services.dirty import take_plan_dirty

if TYPE_CHECKING:
    from pa_server.config import Settings
    from pa_server.services.renditions import RendererLike
    from pa_server.services.timelines import DispatcherLike


@dataclass(frozen=True)
class UseCase:
    """One request's inputs to a service function."""

    db: Session
    actor: Actor
    now: datetime
    settings: Settings
    dispatcher: DispatcherLike | None = None
    renderer: RendererLike | None = None

    def __post_init__(self) -> None:
        # Whatever the service flushes is logged under this person (pa_server.auth.audit).
        self.db.info[audit.INFO_ACTOR] = self.actor

    def require_dispatcher(self) -> DispatcherLike:
        """The dispatcher, or `Unavailable` (503 `bus_unavailable`) while the bus is down."""
        from pa_server.services.timelines import require_dispatcher

        return require_dispatcher(self.dispatcher)


def cli_actor() -> Actor:
    """The person at the server's console: an admin, named after the OS user in the log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return Actor(id=0, username=f"cli:{user}", role=Role.ADMIN)


@contextmanager
def unit_of_work(
    sessions: sessionmaker[Session], on_plan_change: Callable[[], None]
) -> Iterator[Session]:
    """One request's session: committed when the work returns, rolled back if it raised.

    A use case that changed the plan (`mark_plan_dirty`) wakes the planner once committed.
    """
    with sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
    if take_plan_dirty(session):
        on_plan_change()
