"""WebSocket `/api/v1/live/{session_id}/mic`: an operator's browser microphone into a session.

The first message is the session's microphone token (text); then every binary message is
16-bit little-endian mono PCM at 48 kHz (the page's AudioContext rate), pushed as it comes;
the text message "end" ends the session's source. Not mounted yet: `install(app, registry)`
is for the lead to call once the live service starts microphone sessions (docs/live.md).
"""

from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect

from pa_server.live.errors import BadAudio
from pa_server.live.sources import MicRegistry

log = logging.getLogger(__name__)

router = APIRouter()

#: Close codes (RFC 6455 private range) the page shows in Vietnamese.
CLOSE_REFUSED = 4403
CLOSE_BAD_AUDIO = 4400
#: Largest chunk accepted: 1 s of 48 kHz mono s16 (a page sends ~20-100 ms at a time).
MAX_CHUNK = 96_000


def install(app: FastAPI, registry: MicRegistry) -> None:
    """Mount the route and keep `registry` on `app.state.live_mics`."""
    app.state.live_mics = registry
    app.include_router(router)


@router.websocket("/api/v1/live/{session_id}/mic")
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
