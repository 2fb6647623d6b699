"""The staff pages: Tổng quan, Thông báo, Lịch phát, Thiết bị, Báo cáo, Nhật ký, Người dùng."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pa_server.auth import audit
from pa_server.web.deps import DbDep, PageActor
from pa_server.web.templating import render

router = APIRouter()


@router.get("/")
def overview(request: Request, actor: PageActor) -> Response:
    """Tổng quan: agents online, today's broadcasts, recent failures."""
    return render(request, "overview.html", {"title": "Tổng quan", "active": "/"})


@router.get("/nhat-ky")
def audit_log(request: Request, actor: PageActor, db: DbDep, entity: str = "") -> Response:
    """Nhật ký: the audit log, newest first; read-only."""
    rows = audit.entries(db, entity=entity or None, limit=200)
    return render(
        request,
        "audit.html",
        {"title": "Nhật ký", "active": "/nhat-ky", "rows": rows, "entity": entity},
    )


def _pending(path: str, title: str) -> None:
    """Register a page whose content arrives with the server's services."""

    def page(request: Request, actor: PageActor) -> Response:
        return render(request, "pending.html", {"title": title, "active": path})

    page.__doc__ = f"{title} (interim page)."
    router.add_api_route(path, page, methods=["GET"], name=path)


for _path, _title in (
    ("/thong-bao", "Thông báo"),
    ("/lich-phat", "Lịch phát"),
    ("/thiet-bi", "Thiết bị"),
    ("/bao-cao", "Báo cáo"),
):
    _pending(_path, _title)
