"""Nhật ký: the audit log page (read-only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pa_server.auth import audit
from pa_server.web.deps import DbDep, PageActor
from pa_server.web.templating import render

router = APIRouter()


@router.get("/nhat-ky")
def audit_log(request: Request, actor: PageActor, db: DbDep, entity: str = "") -> Response:
    """Nhật ký: the audit log, newest first; read-only."""
    rows = audit.entries(db, entity=entity or None, limit=200)
    return render(
        request,
        "audit.html",
        {"title": "Nhật ký", "active": "/nhat-ky", "rows": rows, "entity": entity},
    )
