"""The /api/v1 router: every resource router, behind the current-user dependency."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Depends

from pa_server.api import (
    accounts,
    agents,
    alerts,
    announcements,
    broadcasts,
    devices,
    keys,
    live,
    reports,
    schedules,
    scripts,
)
from pa_server.api import zones as zones_api
from pa_server.api.deps import current_user

API_PREFIX = "/api/v1"


@cache
def api_router() -> APIRouter:
    """All of /api/v1. Accounts swap `current_user`; keys and agents' timelines stay open.

    Built once per process: FastAPI re-analyses every route at each `include_router`, so
    nesting three routers deep made each app (one per API test) analyse the API three times.
    An app copies the routes it includes, so apps share nothing through this router (their
    `dependency_overrides` stay their own).
    """
    router = APIRouter(prefix=API_PREFIX)
    protected = APIRouter(dependencies=[Depends(current_user)])
    for module in (
        zones_api,
        devices,
        announcements,
        scripts,
        schedules,
        broadcasts,
        live,
        reports,
        accounts,
    ):
        protected.include_router(module.router)
    router.include_router(protected)
    router.include_router(alerts.protected)
    router.include_router(alerts.router)  # a publisher's push: its own token (services.alerts)
    router.include_router(keys.router)
    router.include_router(agents.router)  # open: signed, public envelopes (like /media/)
    return router
