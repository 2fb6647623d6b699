"""The public page of a zone, `/cong-khai/{zone}`: what was announced there, open to everyone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pa_server.web.templating import render

router = APIRouter()


@router.get("/cong-khai/{zone:path}")
def public_zone(request: Request, zone: str) -> Response:
    """Today's and recent announcements of `zone`, with their text and audio."""
    return render(
        request,
        "public.html",
        {"title": "Thông báo công khai", "zone_path": zone.strip("/"), "items": []},
    )
