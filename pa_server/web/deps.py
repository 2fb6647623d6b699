"""Dependencies of the pages: the request's database session and the signed-in person."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pa_server.api.deps import SessionDep, SurroundingsDep
from pa_server.auth.deps import authenticate_page, browser_session
from pa_server.auth.rights import Actor
from pa_server.auth.sessions import Session
from pa_server.services.context import UseCase

#: The API's per-request session: committed when the page returns, replans after plan changes.
DbDep = SessionDep


async def page_actor(request: Request, db: DbDep) -> Actor:
    """The signed-in person on a page (CSRF checked on every POST)."""
    return await authenticate_page(request, db)


PageActor = Annotated[Actor, Depends(page_actor)]
BrowserSession = Annotated[Session | None, Depends(browser_session)]


def page_use_case(actor: PageActor, around: SurroundingsDep) -> UseCase:
    """What a service function needs to act for the person on a page (as the API builds it)."""
    return around.acting(actor)


#: A use case run for the person on a page.
PageUseCase = Annotated[UseCase, Depends(page_use_case)]
