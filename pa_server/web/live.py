"""The operator's live microphone page (push-to-talk, level meter); not mounted yet."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from pa_server.live.engine import LiveSession
from pa_server.web.templating import render


def mic_page(request: Request, session: LiveSession, token: str) -> HTMLResponse:
    """The page that streams this browser's microphone into `session` (token from MicRegistry)."""
    return render(
        request,
        "live_mic.html",
        {
            "title": session.title or "Phát trực tiếp",
            "session_id": session.id,
            "token": token,
            "targets": sorted(session.targets),
        },
    )
