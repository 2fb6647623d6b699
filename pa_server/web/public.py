"""The public page of a zone, `/cong-khai/{zone}`, and its RSS/podcast feed: open to everyone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from devices.protocol import MalformedMessage, validate_zone_path
from pa_server.api.deps import NowDep
from pa_server.auth.rights import zone_within
from pa_server.db.models import Announcement, Occurrence, Zone
from pa_server.services import alerts
from pa_server.services.timelines import media_url
from pa_server.web.deps import DbDep
from pa_server.web.errors import error_page
from pa_server.web.templating import render

router = APIRouter()

#: How far back residents can read and replay.
RECENT = timedelta(days=30)
MAX_ITEMS = 50


@dataclass(frozen=True)
class PublicItem:
    """One announcement as residents see it."""

    id: str
    title: str
    text: str
    played_at: datetime
    audio_url: str | None
    audio_bytes: int
    audio_mime: str


def _reaches(target: str, zone_path: str) -> bool:
    # A broadcast to a commune is heard in its villages; one to a village is news for the commune.
    kind, _, name = target.partition(":")
    return kind == "zone" and (zone_within(zone_path, name) or zone_within(name, zone_path))


def _items(db: DbDep, zone_path: str, base_url: str, now: datetime) -> list[PublicItem]:
    occs = db.scalars(
        select(Occurrence)
        .where(
            Occurrence.status != "cancelled",
            Occurrence.play_at <= now,
            Occurrence.play_at >= now - RECENT,
        )
        .order_by(Occurrence.play_at.desc())
    )
    items: list[PublicItem] = []
    seen: set[str] = set()
    for occ in occs:
        if (
            occ.announcement_id is None
            or occ.announcement_id in seen
            or not any(_reaches(t, zone_path) for t in occ.targets)
        ):
            continue
        ann = db.get(Announcement, occ.announcement_id)
        if ann is None or ann.status == "draft":
            continue
        seen.add(ann.id)
        rend = ann.rendition
        items.append(
            PublicItem(
                id=ann.id,
                title=ann.title,
                text=ann.text or "",
                played_at=occ.play_at,
                audio_url=media_url(base_url, rend.sha256, rend.ext) if rend else None,
                audio_bytes=rend.bytes if rend else 0,
                audio_mime=rend.mime if rend else "",
            )
        )
        if len(items) >= MAX_ITEMS:
            break
    return items


def _zone(db: DbDep, zone: str) -> tuple[str, Zone | None]:
    """The zone path asked for and its row; None for an unknown path or one no zone could have.

    Open to everyone: a path that is not a slug path (a NUL, spaces, anything odd) is simply
    not found, and never reaches the database.
    """
    zone_path = zone.strip("/")
    try:
        validate_zone_path(zone_path)
    except MalformedMessage:
        return zone_path, None
    return zone_path, db.get(Zone, zone_path)


@router.get("/cong-khai/{zone:path}/rss.xml")
def public_feed(request: Request, zone: str, db: DbDep, now: NowDep) -> Response:
    """RSS 2.0 with enclosures, so podcast apps can replay the announcements."""
    zone_path, row = _zone(db, zone)
    if row is None:
        return error_page(request, 404, "Không có khu vực này. Kiểm tra lại địa chỉ.")
    base = request.app.state.settings.resolved_public_url
    parts = []
    for item in _items(db, zone_path, base, now):
        enclosure = (
            f'<enclosure url="{escape(item.audio_url)}" length="{item.audio_bytes}" '
            f'type="{escape(item.audio_mime)}"/>'
            if item.audio_url
            else ""
        )
        parts.append(
            f"<item><title>{escape(item.title)}</title>"
            f"<description>{escape(item.text)}</description>"
            f'<guid isPermaLink="false">{item.id}</guid>'
            f"<pubDate>{format_datetime(item.played_at)}</pubDate>{enclosure}</item>"
        )
    link = f"{base}/cong-khai/{zone_path}"
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape('Thông báo — ' + row.name)}</title><link>{escape(link)}</link>"
        f"<description>{escape('Thông báo của đài truyền thanh ' + row.name)}</description>"
        f"<language>vi</language>{''.join(parts)}</channel></rss>"
    )
    return Response(xml, media_type="application/rss+xml; charset=utf-8")


@router.get("/cong-khai/{zone:path}")
def public_zone(request: Request, zone: str, db: DbDep, now: NowDep) -> Response:
    """Today's and recent announcements of `zone`, with their text and audio."""
    zone_path, row = _zone(db, zone)
    if row is None:
        return error_page(request, 404, "Không có khu vực này. Kiểm tra lại địa chỉ.")
    in_force = alerts.in_force(db, zone_path, now)
    # What residents should do is in the words read on the loudspeakers (approved: on air).
    words = {
        a.id: ann.text
        for a in in_force
        if a.announcement_id and (ann := db.get(Announcement, a.announcement_id)) is not None
    }
    return render(
        request,
        "public.html",
        {
            "title": f"Thông báo — {row.name}",
            "zone_path": zone_path,
            "zone_name": row.name,
            "items": _items(db, zone_path, "", now),
            "alerts": in_force,
            "alert_words": words,
            "recent_days": RECENT.days,
            "feed_url": f"/cong-khai/{zone_path}/rss.xml",
        },
    )
