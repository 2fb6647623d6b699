"""Without credentials every /api/v1 route answers 401, except the public ones.

Public: the server's keys, and the agents' signed timelines (every envelope is signed and
what it says is public, like /media/).

The routes come from the app's own spec, so a route added later is covered by itself.
"""

from __future__ import annotations

import re

import pytest

from pa_server.api import deps
from tests.pa_server.server_fixtures import Api

PUBLIC = {"/api/v1/keys", "/api/v1/agents/{device_id}/timelines"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_api_route_refuses_an_anonymous_request(api: Api) -> None:
    # The fixture stands a test person in for `current_user`; here nobody is signed in.
    api.client.app.dependency_overrides.pop(deps.current_user)  # type: ignore[attr-defined]
    assert api.client.get("/api/v1/zones").status_code == 401
    # The spec the app generates from its route table (FastAPI includes routers lazily, so
    # `app.routes` no longer lists them one by one).
    paths = api.client.get("/openapi.json").json()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1/") and path not in PUBLIC
        for method in operations
    ]
    assert len(routes) > 30
    open_routes = []
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "x", path)
        response = api.client.request(method, url, json={})
        if response.status_code != 401:
            open_routes.append(f"{method} {path}: {response.status_code}")
    assert not open_routes
