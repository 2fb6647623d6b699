"""/media/{sha256}.{ext}: content-addressed audio, cacheable forever."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from audio.store import MediaStore
from pa_server.api.deps import SettingsDep
from pa_server.config import Settings
from pa_server.services.errors import NotFound

router = APIRouter(tags=["media"])

_NAME_RE = re.compile(r"^(?P<sha>[0-9a-f]{64})\.(?P<ext>[a-z0-9]{2,5})$")
_MIME = {"mp3": "audio/mpeg", "opus": "audio/ogg", "ogg": "audio/ogg", "wav": "audio/wav"}
_OTHER = "application/octet-stream"
#: The bytes behind a URL never change (the name is their hash).
IMMUTABLE = "public, max-age=31536000, immutable"


def media_file(settings: Settings, sha256: str, ext: str) -> Path:
    """Where the media store keeps a file."""
    return MediaStore(settings.media_dir).path(sha256, ext)


@router.api_route(
    "/media/{name}",
    methods=["GET", "HEAD"],
    response_class=Response,
    responses={200: {"content": {m: {} for m in sorted({*_MIME.values(), _OTHER})}}},
)
def get_media(name: str, request: Request, settings: SettingsDep) -> Response:
    """The file, with a strong ETag (its hash), Range support and immutable caching."""
    match = _NAME_RE.match(name)
    path = media_file(settings, match["sha"], match["ext"]) if match else None
    if match is None or path is None or not path.is_file():
        raise NotFound("media_not_found", f"no media {name!r}")
    etag = f'"{match["sha"]}"'
    headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=_MIME.get(match["ext"], _OTHER), headers=headers)
