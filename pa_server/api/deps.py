"""The API's dependencies, as `Annotated` aliases; tests swap them via `dependency_overrides`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from devices.protocol import utc_now
from pa_server.auth.deps import authenticate_api
from pa_server.auth.rights import Actor
from pa_server.config import Settings
from pa_server.schemas.common import MAX_LIMIT, MAX_OFFSET
from pa_server.services.context import UseCase, unit_of_work
from pa_server.services.live import LiveHub
from pa_server.services.renditions import RendererLike
from pa_server.services.timelines import DispatcherLike


def app_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed when the route returns, rolled back if it raised."""
    with unit_of_work(request.app.state.sessions, request.app.state.on_plan_change) as session:
        yield session


def current_user(request: Request, session: SessionDep) -> Actor:
    """The signed-in person: a bearer token or the page session cookie (401 without either).

    Takes the request's own database session, so the audit log names them on every change.
    """
    return authenticate_api(request, session)


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


def get_live(request: Request) -> LiveHub:
    """This process's live audio (an engine, or the reason there is none)."""
    hub: LiveHub = request.app.state.live
    return hub


def get_now() -> datetime:
    """The current instant (tests pin it)."""
    return utc_now()


# "function" scope: the commit happens before the response is sent, so a failed commit is an
# error response, never a success the database does not hold.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(app_settings)]
CurrentUser = Annotated[Actor, Depends(current_user)]
RendererDep = Annotated[RendererLike | None, Depends(get_renderer)]
DispatcherDep = Annotated[DispatcherLike | None, Depends(get_dispatcher)]
KeysDep = Annotated[Any, Depends(get_keys)]
NowDep = Annotated[datetime, Depends(get_now)]

#: A database row id in a URL path: SQLite and PostgreSQL keep 64-bit signed integers, so a
#: larger number is a 422 at the door, not an OverflowError (a 500) in the driver.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
LiveDep = Annotated[LiveHub, Depends(get_live)]


@dataclass(frozen=True)
class Surroundings:
    """Everything a use case needs besides who acts: one request's session, clock and parts."""

    session: Session
    now: datetime
    settings: Settings
    dispatcher: DispatcherLike | None
    renderer: RendererLike | None

    def acting(self, actor: Actor) -> UseCase:
        """The use case run by `actor`."""
        return UseCase(self.session, actor, self.now, self.settings, self.dispatcher, self.renderer)


def surroundings(
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    renderer: RendererDep,
) -> Surroundings:
    """The request's surroundings (the pages use them too)."""
    return Surroundings(session, now, settings, dispatcher, renderer)


SurroundingsDep = Annotated[Surroundings, Depends(surroundings)]


def use_case(actor: CurrentUser, around: SurroundingsDep) -> UseCase:
    """What a service function needs to act for the signed-in person."""
    return around.acting(actor)


#: A use case run for the person behind an API request.
UseCaseDep = Annotated[UseCase, Depends(use_case)]
#: Explicit confirmation of an emergency (khẩn cấp) action (the pages use a checkbox).
ConfirmEmergency = Annotated[bool, Query(description="confirm an emergency (khẩn cấp) level")]
# Paging query parameters, bounded so that no number reaches the database unchecked.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
