"""CAP alerts over HTTP: a publisher's push (its own token), and the alerts for signed-in people.

A push is `POST /api/v1/alerts/cap` with `Authorization: Bearer <publisher token>` and the CAP
XML as the body. Every push is kept whatever its verdict: 202 when accepted, 200 when kept but
not acted on (duplicate, unknown reference, expired…), 422 with the reason when invalid.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from pa_server.api.deps import SessionDep, SurroundingsDep, UseCaseDep, current_user
from pa_server.api.errors import error_response
from pa_server.auth.tokens import bearer_token
from pa_server.db.alerts import CapAlert, CapMessage
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
    announcement_id: str | None
    schedule_id: str | None


@router.post(
    "/alerts/cap",
    status_code=202,
    responses={200: {"model": MessagePublic}, 401: {}, 422: {}},
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
    publisher = alerts.publisher_for_token(around.session, token) if token else None
    if publisher is None:
        return error_response(401, "bad_publisher_token", "a valid publisher token is required")
    data = await request.body()
    row = alerts.push_cap(around.acting(alerts.publisher_actor(publisher)), data)
    body = MessagePublic.model_validate(row).model_dump(mode="json")
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
