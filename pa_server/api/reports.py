"""/api/v1/reports: proof of broadcast, JSON or CSV."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pa_server.api.deps import NowDep, SessionDep, SettingsDep
from pa_server.schemas.broadcasts import PlaybackReport
from pa_server.services import reports
from pa_server.services.validation import check_timezone, in_zone, shifted

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get(
    "/playback",
    response_model=PlaybackReport,
    responses={200: {"content": {"text/csv": {}}}},
)
def playback(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    zone: str | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    format: Literal["json", "csv"] | None = None,
) -> PlaybackReport | Response:
    """Planned against played per device in `[from, to)` (default: the last 7 days).

    CSV with `format=csv` or `Accept: text/csv`.
    """
    tz = check_timezone(settings.timezone)
    last = in_zone(end, tz) if end else now
    first = in_zone(start, tz) if start else shifted(last, -timedelta(days=7))
    report = reports.playback_report(session, zone=zone, start=first, end=last)
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if wants_csv:
        return Response(
            reports.report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="playback.csv"'},
        )
    return report
