"""CAP alerts over HTTP: a publisher's push (its own token), and the alerts for signed-in people.

A push is `POST /api/v1/alerts/cap` with `Authorization: Bearer <publisher token>` and the CAP
XML as the body. Every push by a known publisher is kept whatever its verdict: 202 when
accepted, 200 when kept but not acted on (duplicate, unknown reference, expired…), 422 with the
reason when invalid, 403 `publisher_locked` when an admin has locked the publisher, 403
`sender_not_allowed` when its `<sender>` is not one the publisher was given.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from pa_server.api.deps import RowId, SessionDep, SurroundingsDep, UseCaseDep, current_user
from pa_server.api.errors import error_response
from pa_server.auth.tokens import bearer_token
from pa_server.db.alerts import CapAlert, CapFeed, CapMessage, CapPublisher
from pa_server.services import alerts

router = APIRouter(tags=["alerts"])
protected = APIRouter(tags=["alerts"], dependencies=[Depends(current_user)])


class MessagePublic(BaseModel):
    """One CAP message as received."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    id: str
    received_at: datetime
    door: str
    source: str
    verdict: str
    code: str | None
    reason: str
    identifier: str
    sender: str
    msg_type: str
    alert_id: str | None


class AlertPublic(BaseModel):
    """An alert as it stands."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    id: str
    key: str
    publisher: str
    event: str
    headline: str
    language: str
    severity: str
    urgency: str
    certainty: str
    effective: datetime
    expires: datetime | None
    level: str
    zones: list[str]
    state: str
    #: Zones whose broadcasts await approval (all of them for a draft; some for a split alert).
    waiting_zones: list[str]
    announcement_id: str | None
    schedule_id: str | None
    #: A split alert's second part: the words and schedule of the zones that needed approval.
    approval_announcement_id: str | None
    approval_schedule_id: str | None


#: Why a push was kept as refused (the `detail.message` beside its code).
_REFUSED = {
    "publisher_locked": "this publisher is locked",
    "sender_not_allowed": "this publisher may not use this CAP sender (ask an admin to add it)",
}


@router.post(
    "/alerts/cap",
    status_code=202,
    responses={200: {"model": MessagePublic}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/cap+xml": {"schema": {"type": "string"}}},
        }
    },
)
async def push(request: Request, around: SurroundingsDep) -> JSONResponse:
    """A publisher pushes one CAP 1.2 message (kept whatever the verdict)."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        # The same codes as every protected route (`pa_server.auth.errors`).
        return error_response(401, "not_authenticated", "a publisher token is required")
    publisher = alerts.publisher_for_token(around.session, token)
    if publisher is None:
        return error_response(401, "bad_credentials", "unknown publisher token")
    data = await request.body()
    row = alerts.push_cap(around.acting(alerts.publisher_actor(publisher)), data)
    body = MessagePublic.model_validate(row).model_dump(mode="json")
    if row.verdict == "refused":
        # Kept (committed with the request), and refused: the sender learns why.
        code = row.code or "publisher_locked"
        return error_response(403, code, _REFUSED.get(code, "this message is refused"))
    if row.verdict == "invalid":
        return error_response(422, row.code or "cap_invalid", f"CAP message refused: {row.reason}")
    return JSONResponse(body, status_code=202 if row.verdict == "accepted" else 200)


@protected.get("/alerts", response_model=list[AlertPublic])
def list_alerts(session: SessionDep) -> list[CapAlert]:
    """Alerts, newest first."""
    return alerts.list_alerts(session)


@protected.get("/alerts/messages", response_model=list[MessagePublic])
def list_messages(session: SessionDep) -> list[CapMessage]:
    """CAP messages received, newest first, with their verdicts."""
    return alerts.list_messages(session)


@protected.post("/alerts/{alert_id}/approve", response_model=AlertPublic)
def approve(alert_id: str, uc: UseCaseDep) -> CapAlert:
    """Approve an alert's draft: its repeats start."""
    return alerts.approve_alert(uc, alert_id)


class PublisherCreate(BaseModel):
    """A new CAP publisher and the zones its alerts may reach."""

    model_config = ConfigDict(extra="forbid")

    name: str
    zones: list[str]
    #: The CAP `<sender>` values its pushes and feeds may carry (at least one).
    senders: list[str]


class PublisherCreated(BaseModel):
    """The publisher, with its push token (shown this once)."""

    id: int
    name: str
    zones: list[str]
    senders: list[str]
    token: str


def _created(pub: CapPublisher, token: str) -> PublisherCreated:
    """The answer that carries a publisher's new token (the only time it is shown)."""
    return PublisherCreated(
        id=pub.id, name=pub.name, zones=pub.zones, senders=pub.senders, token=token
    )


class PublisherSenders(BaseModel):
    """The CAP senders a publisher may use, replacing the ones it had."""

    model_config = ConfigDict(extra="forbid")

    senders: list[str]


class PublisherPublic(BaseModel):
    """A publisher as it stands (never its token)."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    id: int
    name: str
    zones: list[str]
    senders: list[str]
    active: bool
    locked_at: datetime | None
    locked_by: str | None
    token_rotated_at: datetime | None
    created_at: datetime


class GeocodeSet(BaseModel):
    """One row of the geocode table: (valueName, value) is this zone."""

    model_config = ConfigDict(extra="forbid")

    value_name: str
    value: str
    zone: str


class ZonePoint(BaseModel):
    """A zone's point for CAP polygons and circles (both None: cleared)."""

    model_config = ConfigDict(extra="forbid")

    zone: str
    latitude: float | None
    longitude: float | None


class FeedCreate(BaseModel):
    """A feed URL polled for a publisher's CAP."""

    model_config = ConfigDict(extra="forbid")

    publisher_id: int
    url: str
    interval_s: int = 300


class FeedPublic(BaseModel):
    """A feed and its health."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    id: int
    url: str
    publisher_id: int
    interval_s: int
    last_status: str
    failures: int
    last_error: str | None
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    next_poll_at: datetime | None


@protected.post("/alerts/publishers", status_code=201, response_model=PublisherCreated)
def create_publisher(data: PublisherCreate, uc: UseCaseDep) -> PublisherCreated:
    """A new publisher (admins); its push token is in this answer only."""
    return _created(*alerts.create_publisher(uc, data.name, data.zones, data.senders))


@protected.get("/alerts/publishers", response_model=list[PublisherPublic])
def list_publishers(session: SessionDep) -> list[CapPublisher]:
    """Every publisher, locked or not."""
    return alerts.list_publishers(session)


@protected.post("/alerts/publishers/{publisher_id}/lock", response_model=PublisherPublic)
def lock_publisher(publisher_id: RowId, uc: UseCaseDep) -> CapPublisher:
    """Lock a publisher (admins): its pushes are refused with 403 and kept as refused."""
    return alerts.lock_publisher(uc, publisher_id)


@protected.post("/alerts/publishers/{publisher_id}/unlock", response_model=PublisherPublic)
def unlock_publisher(publisher_id: RowId, uc: UseCaseDep) -> CapPublisher:
    """Unlock a publisher (admins)."""
    return alerts.unlock_publisher(uc, publisher_id)


@protected.post("/alerts/publishers/{publisher_id}/token", response_model=PublisherCreated)
def rotate_token(publisher_id: RowId, uc: UseCaseDep) -> PublisherCreated:
    """A new push token (admins), in this answer only; the old one is refused at once."""
    return _created(*alerts.rotate_publisher_token(uc, publisher_id))


@protected.post("/alerts/publishers/{publisher_id}/senders", response_model=PublisherPublic)
def set_senders(publisher_id: RowId, data: PublisherSenders, uc: UseCaseDep) -> CapPublisher:
    """Replace the CAP senders a publisher may use (admins); others' pushes are refused (403)."""
    return alerts.set_publisher_senders(uc, publisher_id, data.senders)


@protected.post("/alerts/geocodes", status_code=201)
def set_geocode(data: GeocodeSet, uc: UseCaseDep) -> dict[str, str | int]:
    """Map a CAP geocode to a zone (admins)."""
    row = alerts.set_geocode(uc, data.value_name, data.value, data.zone)
    return {"id": row.id, "value_name": row.value_name, "value": row.value, "zone": row.zone_path}


@protected.post("/alerts/zone-points")
def set_zone_point(data: ZonePoint, uc: UseCaseDep) -> ZonePoint:
    """Set a zone's point for polygons and circles (admins)."""
    zone = alerts.set_zone_point(uc, data.zone, data.latitude, data.longitude)
    return ZonePoint(zone=zone.path, latitude=zone.latitude, longitude=zone.longitude)


@protected.post("/alerts/feeds", status_code=201, response_model=FeedPublic)
def add_feed(data: FeedCreate, uc: UseCaseDep) -> CapFeed:
    """Poll a feed URL for a publisher's CAP (admins)."""
    return alerts.add_feed(uc, data.publisher_id, data.url, data.interval_s)


@protected.get("/alerts/feeds", response_model=list[FeedPublic])
def list_feeds(session: SessionDep) -> list[CapFeed]:
    """Every feed with its health."""
    return alerts.list_feeds(session)
