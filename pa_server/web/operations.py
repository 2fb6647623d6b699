"""Tổng quan and Báo cáo: what the loudspeakers are doing and did (Thiết bị: `web.fleet`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from pa_server.api.deps import NowDep, get_now
from pa_server.services import broadcasts, devices, programme, reports, timelines
from pa_server.services import overview as overview_service
from pa_server.services.errors import ServiceError
from pa_server.web import labels
from pa_server.web.deps import DbDep, PageActor
from pa_server.web.messages import service_message
from pa_server.web.recurrence import parse_day
from pa_server.web.templating import render

router = APIRouter()

#: Seconds between two progress pushes on the overview page.
EVENT_INTERVAL_S = 5.0


def _today(tz: str, now: datetime) -> tuple[datetime, datetime]:
    day = now.astimezone(ZoneInfo(tz)).date()
    start = datetime.combine(day, time(0, 0), ZoneInfo(tz)).astimezone(UTC)
    return start, start + timedelta(days=1)


#: How far ahead the overview lists upcoming broadcasts, and how many it shows.
UPCOMING_WINDOW = timedelta(hours=48)
UPCOMING_SHOWN = 8


def _progress(db: Any, ids: list[str]) -> dict[str, str]:
    # Each loudspeaker counted once in its latest state: the broadcast page's own sentence.
    return {i: labels.tally_sentence(t) for i, t in programme.delivery_tallies(db, ids).items()}


@router.get("/")
def overview(request: Request, actor: PageActor, db: DbDep, now: NowDep) -> Response:
    """Tổng quan: agents online and offline, today's broadcasts, recent failures."""
    tz = request.app.state.settings.timezone
    links = devices.link_counts(db)
    start, end = _today(tz, now)
    today, today_total = broadcasts.list_broadcasts(db, start=start, end=end, limit=200, offset=0)
    recent, _ = broadcasts.list_broadcasts(
        db, start=start - timedelta(days=7), end=end, limit=200, offset=0
    )
    failures = [b for b in recent if b.delivery.failed or b.delivery.missed][:10]
    upcoming = [
        e
        for e in programme.programme(
            db, programme.Place(), start=now, end=now + UPCOMING_WINDOW, now=now
        )
        if e.state == "waiting"
    ]
    return render(
        request,
        "overview.html",
        {
            "title": "Tổng quan",
            "active": "/",
            "links": links,
            "today": sorted(today, key=lambda b: b.play_at),
            "today_total": today_total,
            "failures": failures,
            "plan_cuts": timelines.plan_cuts(db),
            "progress": _progress(db, [b.id for b in today + failures]),
            "upcoming": upcoming[:UPCOMING_SHOWN],
            "upcoming_total": len(upcoming),
            "pending": overview_service.pending_approvals(db, actor),
            "tz": tz,
        },
    )


@router.get("/su-kien/tien-do")
async def progress_events(request: Request, actor: PageActor) -> Response:
    """Server-sent events: today's delivery progress, every few seconds."""
    tz = request.app.state.settings.timezone
    sessions = request.app.state.sessions

    async def stream() -> AsyncIterator[str]:
        while not await request.is_disconnected():
            start, end = _today(tz, get_now())
            with sessions() as db:
                today, _ = broadcasts.list_broadcasts(db, start=start, end=end, limit=200, offset=0)
                progress = _progress(db, [b.id for b in today])
            yield f"data: {json.dumps(progress)}\n\n"
            await asyncio.sleep(EVENT_INTERVAL_S)

    return StreamingResponse(stream(), media_type="text/event-stream")


def _report_range(
    tz: str, now: datetime, values: dict[str, str], errors: dict[str, str]
) -> tuple[datetime, datetime] | None:
    today = now.astimezone(ZoneInfo(tz)).date()
    try:
        first = parse_day(values.get("from") or (today - timedelta(days=7)).isoformat())
    except ValueError:
        errors["from"] = "Ngày bắt đầu không hợp lệ."
    try:
        last = parse_day(values.get("to") or today.isoformat())
    except ValueError:
        errors["to"] = "Ngày kết thúc không hợp lệ."
    if errors:
        return None
    if last < first:
        errors["to"] = "Ngày kết thúc phải sau ngày bắt đầu."
        return None
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time(0, 0), zone).astimezone(UTC)
    return start, datetime.combine(last + timedelta(days=1), time(0, 0), zone).astimezone(UTC)


@router.get("/bao-cao")
def report_page(
    request: Request,
    actor: PageActor,
    db: DbDep,
    now: NowDep,
    zone: str = "",
    to: str = "",
    format: str = "",
) -> Response:
    """Báo cáo: planned against played per device, for a zone and a date range; CSV export."""
    tz = request.app.state.settings.timezone
    values = {"zone": zone, "from": request.query_params.get("from", ""), "to": to}
    errors: dict[str, str] = {}
    period = _report_range(tz, now, values, errors)
    report = None
    if period is not None:
        try:
            report = reports.playback_report(db, zone=zone or None, start=period[0], end=period[1])
        except ServiceError as exc:
            errors["zone" if "zone" in exc.code else "to"] = service_message(exc)
    if report is not None and format == "csv":
        return Response(
            reports.report_csv_for_people(db, report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="bao-cao-phat.csv"'},
        )
    totals = {"planned": 0, "finished": 0}
    if report is not None:
        totals = {
            "planned": sum(r.planned for r in report.rows),
            "finished": sum(r.finished for r in report.rows),
        }
    return render(
        request,
        "report.html",
        {
            "title": "Báo cáo",
            "active": "/bao-cao",
            "values": values,
            "errors": errors,
            "report": report,
            "totals": totals,
            "tz": tz,
        },
        status=422 if errors else 200,
    )
