"""The API's dependencies, as `Annotated` aliases; tests swap them via `dependency_overrides`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from devices.protocol import utc_now
from pa_server.api.rights import refuse_viewer_writes
from pa_server.auth.deps import authenticate_api
from pa_server.auth.rights import Actor
from pa_server.config import Settings
from pa_server.schemas.common import MAX_LIMIT, MAX_OFFSET
from pa_server.services.dirty import take_plan_dirty
from pa_server.services.renditions import RendererLike
from pa_server.services.timelines import DispatcherLike


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed when the route returns, rolled back if it raised."""
    with request.app.state.sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
    if take_plan_dirty(session):
        on_change: Callable[[], None] = request.app.state.on_plan_change
        on_change()


def current_user(request: Request, session: SessionDep) -> Actor:
    """The signed-in person: a bearer token or the page session cookie (401 without either).

    Takes the request's own database session, so the audit log names them on every change.
    """
    actor = authenticate_api(request, session)
    refuse_viewer_writes(request, actor)
    return actor


def get_renderer(request: Request) -> RendererLike | None:
    """The audio renderer, or None when audio rendering is not available."""
    renderer: RendererLike | None = getattr(request.app.state, "renderer", None)
    return renderer


def get_dispatcher(request: Request) -> DispatcherLike | None:
    """The dispatcher (signs and publishes), or None while the bus is not running."""
    dispatcher: DispatcherLike | None = getattr(request.app.state, "dispatcher", None)
    return dispatcher


def get_keys(request: Request) -> Any:
    """The server's signing keys (`ServerKeys`), or None before they are loaded."""
    return getattr(request.app.state, "keys", None)


def get_now() -> datetime:
    """The current instant (tests pin it)."""
    return utc_now()


# "function" scope: the commit happens before the response is sent, so a failed commit is an
# error response, never a success the database does not hold.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CurrentUser = Annotated[Actor, Depends(current_user)]
RendererDep = Annotated[RendererLike | None, Depends(get_renderer)]
DispatcherDep = Annotated[DispatcherLike | None, Depends(get_dispatcher)]
KeysDep = Annotated[Any, Depends(get_keys)]
NowDep = Annotated[datetime, Depends(get_now)]
# Paging query parameters, bounded so that no number reaches the database unchecked.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
