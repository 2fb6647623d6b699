"""/api/v1/live: live sessions (start a relay or a microphone, stop, list) and the microphone.

`router` holds the REST routes (in `api_router`, behind sign-in); `mic_router` the WebSocket
`/api/v1/live/{session_id}/mic`, mounted by `install(app, registry)`: the first message is the
session's microphone token (text); then every binary message is 16-bit little-endian mono
PCM at 48 kHz (the page's AudioContext rate), pushed as it comes; the text message "end"
ends the session's source (outcome `finished`).
"""

from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect, status

from pa_server.api.deps import ConfirmEmergency, Limit, LiveDep, Offset, SessionDep, UseCaseDep
from pa_server.live.errors import BadAudio
from pa_server.live.sources import MicRegistry
from pa_server.schemas.announcements import AnnouncementPublic
from pa_server.schemas.common import DEFAULT_LIMIT, Page
from pa_server.schemas.live import (
    LiveCreate,
    LiveSessionDetail,
    LiveSessionPublic,
    MicSessionPublic,
    RelayCreate,
)
from pa_server.services import live

log = logging.getLogger(__name__)

router = APIRouter(prefix="/live", tags=["live"])
mic_router = APIRouter()


def mic_path(session_id: str) -> str:
    """The WebSocket a session's microphone streams into."""
    return f"/api/v1/live/{session_id}/mic"


@router.get("", response_model=Page[LiveSessionPublic])
def list_sessions(
    session: SessionDep, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> Page[LiveSessionPublic]:
    """Live sessions, newest first, with their outcome and recording."""
    rows, total = live.list_sessions(session, limit=limit, offset=offset)
    items = [LiveSessionPublic.model_validate(r) for r in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/relay", response_model=LiveSessionPublic, status_code=status.HTTP_201_CREATED)
def start_relay(
    data: LiveCreate, uc: UseCaseDep, hub: LiveDep, confirm_emergency: ConfirmEmergency = False
) -> LiveSessionPublic:
    """Relay an internet radio stream (`url`) on zones and/or devices now, for `minutes`."""
    row = live.start_relay(uc, hub, data, confirmed=confirm_emergency)
    return LiveSessionPublic.model_validate(row)


@router.post("/mic", response_model=MicSessionPublic, status_code=status.HTTP_201_CREATED)
def start_mic(
    data: LiveCreate, uc: UseCaseDep, hub: LiveDep, confirm_emergency: ConfirmEmergency = False
) -> MicSessionPublic:
    """Open a microphone session; stream into `mic_path` with `mic_token` as first message."""
    row, token = live.start_mic(uc, hub, data, confirmed=confirm_emergency)
    public = LiveSessionPublic.model_validate(row).model_dump()
    return MicSessionPublic(**public, mic_path=mic_path(row.id), mic_token=token)


@router.post("/relays", response_model=AnnouncementPublic, status_code=status.HTTP_201_CREATED)
def create_relay(data: RelayCreate, uc: UseCaseDep) -> AnnouncementPublic:
    """A relay to schedule: a draft announcement (kind `relay`), approved and scheduled as any."""
    ann = live.create_relay(
        uc, title=data.title, url=data.url, minutes=data.minutes, level=data.level
    )
    return AnnouncementPublic.model_validate(ann)


@router.get("/{session_id}", response_model=LiveSessionDetail)
def get_session(session_id: str, session: SessionDep, hub: LiveDep) -> LiveSessionDetail:
    """One live session, with the loudspeakers connected to it now."""
    row = live.get_session(session, session_id)
    reached = hub.reached(row.device_ids) if row.ended_at is None else []
    return LiveSessionDetail(**LiveSessionPublic.model_validate(row).model_dump(), reached=reached)


@router.post("/{session_id}/stop", response_model=LiveSessionPublic)
def stop_session(session_id: str, uc: UseCaseDep, hub: LiveDep) -> LiveSessionPublic:
    """End a live session now: its loudspeakers fall silent, its outcome is `stopped`."""
    return LiveSessionPublic.model_validate(live.stop_session(uc, hub, session_id))


#: Close codes (RFC 6455 private range) the page shows in Vietnamese.
CLOSE_REFUSED = 4403
CLOSE_BAD_AUDIO = 4400
#: Largest chunk accepted: 1 s of 48 kHz mono s16 (a page sends ~20-100 ms at a time).
MAX_CHUNK = 96_000


def install(app: FastAPI, registry: MicRegistry) -> None:
    """Mount the microphone WebSocket and keep `registry` on `app.state.live_mics`."""
    app.state.live_mics = registry
    app.include_router(mic_router)


@mic_router.websocket("/api/v1/live/{session_id}/mic")
async def live_mic(websocket: WebSocket, session_id: str) -> None:
    """Take a microphone's PCM for one live session (token first, then binary chunks)."""
    registry: MicRegistry = websocket.app.state.live_mics
    await websocket.accept()
    try:
        token = await websocket.receive_text()
        mic = registry.claim(session_id, token.strip())
    except (PermissionError, WebSocketDisconnect, KeyError) as exc:
        await _close(websocket, CLOSE_REFUSED, "refused")
        log.info("live mic for %s refused: %s", session_id, exc)
        return
    try:
        while True:
            msg = await websocket.receive()
            if msg["type"] == "websocket.disconnect":
                break
            data = msg.get("bytes")
            if data is not None:
                if len(data) > MAX_CHUNK:
                    raise BadAudio(f"chunk of {len(data)} bytes is over {MAX_CHUNK}")
                mic.push(data)
            elif msg.get("text") == "end":
                mic.end()
                await _close(websocket, 1000, "ended")
                break
    except BadAudio as exc:
        await _close(websocket, CLOSE_BAD_AUDIO, "bad audio")
        log.warning("live mic for %s: %s", session_id, exc)
    except WebSocketDisconnect:
        pass
    finally:
        registry.release(session_id)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(RuntimeError):  # already closed by the other side
        await websocket.close(code, reason)
