"""Dependencies of the pages: the database session and the signed-in person."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session as DbSession

from pa_server.auth.deps import authenticate_api, authenticate_page, browser_session
from pa_server.auth.rights import Actor
from pa_server.auth.sessions import Session


def get_db(request: Request) -> Iterator[DbSession]:
    """Interim: one session per request, committed when the route returns."""
    with request.app.state.sessions() as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


DbDep = Annotated[DbSession, Depends(get_db, scope="function")]


async def page_actor(request: Request, db: DbDep) -> Actor:
    """The signed-in person on a page (CSRF checked on every POST)."""
    return await authenticate_page(request, db)


PageActor = Annotated[Actor, Depends(page_actor)]
BrowserSession = Annotated[Session | None, Depends(browser_session)]


def api_actor(request: Request, db: DbDep) -> Actor:
    """Interim API dependency until `pa_server.api.deps.current_user` is swapped."""
    return authenticate_api(request, db)


CurrentUser = Annotated[Actor, Depends(api_actor)]
