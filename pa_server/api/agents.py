"""/api/v1/agents/{device_id}/timelines: an agent pulls its current signed timelines.

Open without log-in, like `/media/` and `/api/v1/keys`: every envelope is signed by the server
and what it says (which announcement plays where and when) is public. The same envelopes are
retained on the broker; pulling them lets an agent recover when the broker lost them or holds
an old one (protocol v2, `docs/protocol.md`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from pa_server.api.deps import NowDep, SessionDep
from pa_server.services.timelines import agent_timelines

router = APIRouter(tags=["agents"])

#: The protocol's device id grammar (`devices.protocol.DEVICE_ID_RE`).
DEVICE_ID_PATTERN = r"^[a-z0-9-]{1,64}$"


@router.get(
    "/agents/{device_id}/timelines",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "Signed envelopes"}},
)
def timelines(
    device_id: Annotated[str, Path(pattern=DEVICE_ID_PATTERN, max_length=64)],
    session: SessionDep,
    now: NowDep,
) -> Response:
    """A JSON list of the current signed timeline envelopes the agent listens to.

    One per target with a current timeline: the agent's zone and each ancestor (root first),
    then the device itself. The envelopes are the exact bytes that were signed and published.
    """
    envelopes = agent_timelines(session, device_id, now=now)
    # Joined as bytes, not re-serialised: a client may verify them as they are.
    body = b"[" + b",".join(envelopes) + b"]"
    return Response(
        content=body, media_type="application/json", headers={"Cache-Control": "no-store"}
    )
