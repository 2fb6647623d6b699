"""The /api/v1 router: every resource router, behind the current-user dependency."""

from __future__ import annotations

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


def api_router() -> APIRouter:
    """All of /api/v1. Accounts swap `current_user`; keys and agents' timelines stay open."""
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
