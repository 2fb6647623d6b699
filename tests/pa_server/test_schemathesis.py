"""schemathesis against the server's own OpenAPI spec: every operation, valid and invalid input.

The app runs in-process (TestClient, SQLite, fake renderer and dispatcher, as the API tests
use), seeded with a district so that generated ids sometimes hit real rows. Every response
must not be a 5xx, and must match the schema's status codes and bodies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pa_server.api import deps
from pa_server.live.engine import FakeLiveEngine
from pa_server.live.sources import SilentRelay
from pa_server.services.live import LiveHub
from tests.pa_server.api.support import approved, schedule_body, seed_zones
from tests.pa_server.server_fixtures import Api

#: Examples per operation and mode (about 50 operations, most in both modes).
#: PA_SCHEMATHESIS_EXAMPLES=500 for a longer, randomised hunt.
EXAMPLES = int(os.environ.get("PA_SCHEMATHESIS_EXAMPLES", "40"))
DERANDOMIZE = "PA_SCHEMATHESIS_EXAMPLES" not in os.environ
CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _seed(api: Api) -> dict[str, list[str]]:
    """A district with an approved announcement, a schedule and a broadcast; their ids by the
    path parameter names that take them. Live audio on the fake engine (as the dispatcher)."""
    app: Any = api.client.app
    hub = LiveHub(
        FakeLiveEngine(),
        mics=app.state.live_mics,
        sessions=app.state.sessions,
        dispatcher=lambda: api.dispatcher,
        relay_source=SilentRelay,
    )
    app.dependency_overrides[deps.get_live] = lambda: hub
    seed_zones(api)
    ann = approved(api)
    sched = api.ok(
        "POST",
        "/api/v1/schedules",
        201,
        json=schedule_body(ann["id"]),
    )
    broadcast = api.ok(
        "POST",
        "/api/v1/broadcasts",
        201,
        json={"announcement_id": ann["id"], "zones": ["vinh-tuong"]},
    )
    media = ann["rendition"]["url"].rsplit("/", 1)[-1]
    return {
        "path": ["vinh-tuong", "vinh-tuong/tan-tien"],
        "device_id": ["loa-01", "loa-02"],
        "announcement_id": [ann["id"]],
        "schedule_id": [sched["id"]],
        "occurrence_id": [broadcast["id"]] if "id" in broadcast else [],
        "name": ["bluezone", media],
    }


def _without_time_format(node: Any) -> Any:
    """The spec minus `format: time`: pydantic writes a wall time as "06:00:00" while JSON
    Schema's "time" is RFC 3339 full-time, which demands an offset; a quiet hour has none."""
    if isinstance(node, dict):
        return {
            k: _without_time_format(v)
            for k, v in node.items()
            if not (k == "format" and v == "time")
        }
    if isinstance(node, list):
        return [_without_time_format(v) for v in node]
    return node


def _send(api: Api, case: Any) -> httpx.Response:
    """Send a case through the app's own TestClient (requests-style kwargs, made httpx's)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    follow = kwargs.pop("allow_redirects", False)
    for unused in ("timeout", "verify", "cert", "proxies", "stream"):
        kwargs.pop(unused, None)
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)  # per-request cookies are deprecated in the TestClient
    if kwargs.get("files"):
        # requests sends any value as a form part; httpx wants bytes, text or a file.
        kwargs["files"] = [(name, _part(value)) for name, value in kwargs["files"]]
    response: httpx.Response = api.client.request(follow_redirects=follow, **kwargs)
    response.request.read()  # a multipart body is a stream; the checks read it again
    return response


def _part(value: Any) -> Any:
    if isinstance(value, tuple):
        return (value[0], _part(value[1]), *value[2:])
    return value if isinstance(value, bytes | str) or hasattr(value, "read") else str(value)


def _modes(operation: Any) -> list[GenerationMode]:
    """Both modes, but no negative one where only path strings vary (nothing to make invalid)."""
    if operation.body or operation.query or operation.headers:
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def _fuzz(
    api: Api,
    operation: Any,
    mode: GenerationMode,
    known: dict[str, list[str]],
    failures: list[str],
) -> int:
    """Run `EXAMPLES` cases of one operation in one mode; return how many calls were made."""
    calls = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        nonlocal calls
        case = data.draw(operation.as_strategy(generation_mode=mode))
        # Half the time, path parameters name rows that exist, so the route gets past its 404.
        if case.path_parameters and data.draw(st.booleans()):
            for name in case.path_parameters:
                if known.get(name):
                    case.path_parameters[name] = data.draw(st.sampled_from(known[name]))
        response = _send(api, case)
        calls += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:
            failures.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])
            raise

    before = len(failures)
    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
        pass
    except (Exception, BaseExceptionGroup) as exc:  # checks' failures are recorded already
        if len(failures) == before:
            failures.append(f"{operation.label} [{mode.value}]: {exc!r}"[:3000])
    return calls


#: The operations are dealt out to this many tests (each with its own seeded database), so
#: pytest-xdist runs them side by side instead of one worker walking the whole API alone.
SHARDS = 4


# Each shard walks a quarter of the API's operations (about 50 now), so its time grows with
# the API: the suite's 120 s per-test guard is too short for it on a loaded 2-core machine;
# 600 s still stops a hang. Not a speed check.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_operation_answers_5xx_or_off_schema(api: Api, shard: int) -> None:
    known = _seed(api)
    schema = schemathesis.openapi.from_dict(
        _without_time_format(api.client.get("/openapi.json").json())
    )
    failures: list[str] = []
    # Every operation in exactly one shard, by its place in a fixed order; deletions last in
    # each, so the rows the others aim at exist while they run.
    every = sorted((op.ok() for op in schema.get_all_operations()), key=lambda op: op.label)
    operations = sorted(every[shard::SHARDS], key=lambda op: op.method == "delete")
    assert operations, f"shard {shard} of {SHARDS} has no operation"
    calls = sum(
        _fuzz(api, operation, mode, known, failures)
        for operation in operations
        for mode in _modes(operation)
    )
    print(f"schemathesis shard {shard}: {len(operations)}/{len(every)} operations, {calls} calls")
    assert not failures, "\n\n".join(dict.fromkeys(failures))
