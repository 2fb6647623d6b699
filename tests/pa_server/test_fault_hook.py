"""PA_TEST_KILL_AFTER_PLAN: inert by default; when set, dies after the commit, before dispatch."""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import func, select

from pa_server import runtime
from pa_server.db.models import Occurrence
from tests.pa_server.api.support import V1, approved, schedule_body, seed_zones
from tests.pa_server.server_fixtures import Api, FakeDispatcher


class Killed(Exception):
    pass


def test_kill_after_plan_hook(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_zones(api)
    ann = approved(api)
    api.ok("POST", f"{V1}/schedules", 201, json=schedule_body(ann["id"]))
    sessions = api.client.app.state.sessions  # type: ignore[attr-defined]
    kills: list[int] = []

    def fake_kill(pid: int, sig: int) -> None:
        kills.append(sig)
        raise Killed

    monkeypatch.setattr("pa_server.runtime.os.kill", fake_kill)
    dispatcher = FakeDispatcher()
    armed = api.settings.model_copy(update={"test_kill_after_plan": True})
    with pytest.raises(Killed):
        runtime.plan_and_publish(sessions, dispatcher, armed, now=api.clock.now)
    assert kills == [signal.SIGKILL] and dispatcher.syncs == []  # nothing published
    with sessions() as s:
        planned = s.scalar(select(func.count()).select_from(Occurrence))
    assert planned  # ... but the plan was committed
    # The restarted server (hook off): same occurrences, no new ones, timelines published.
    result, _ = runtime.plan_and_publish(sessions, dispatcher, api.settings, now=api.clock.now)
    assert result.created == 0 and dispatcher.syncs
    # Armed again, a replan that creates nothing does not kill.
    runtime.plan_and_publish(sessions, dispatcher, armed, now=api.clock.now)
    assert kills == [signal.SIGKILL]
