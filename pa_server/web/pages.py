"""Nhật ký: the audit log page (read-only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pa_server.auth import audit
from pa_server.services import search
from pa_server.web.deps import DbDep, PageActor
from pa_server.web.paging import paginate
from pa_server.web.templating import render

router = APIRouter()


@router.get("/nhat-ky")
def audit_log(
    request: Request,
    actor: PageActor,
    db: DbDep,
    entity: str = "",
    trang: str = "",
    q: str = "",
) -> Response:
    """Nhật ký: the audit log, newest first; read-only; searchable by who and what."""
    term = search.term(q)
    where = search.audit_match(db, term) if term else None
    total = audit.count(db, entity=entity or None, where=where)
    paging = paginate(trang, total, query={"entity": entity, "q": term or ""})
    rows = audit.entries(
        db, entity=entity or None, limit=paging.per_page, offset=paging.offset, where=where
    )
    return render(
        request,
        "audit.html",
        {
            "title": "Nhật ký",
            "active": "/nhat-ky",
            "rows": rows,
            "entity": entity,
            "q": term or "",
            "paging": paging,
        },
    )
