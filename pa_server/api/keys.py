"""/api/v1/keys: the server's public signing keys (open to all: agents and auditors)."""

from __future__ import annotations

from fastapi import APIRouter

from pa_server.api.deps import KeysDep
from pa_server.services.errors import Unavailable

router = APIRouter(tags=["keys"])


@router.get("/keys")
def public_keys(keys: KeysDep) -> dict[str, list[dict[str, str]]]:
    """`{"keys": [{"kid", "alg": "Ed25519", "public_key": base64}]}`, newest first."""
    if keys is None:
        raise Unavailable("keys_unavailable", "signing keys are not loaded")
    return {"keys": list(keys.public_keys())}
