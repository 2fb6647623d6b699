"""An agent whose clock is wrong: it measures the offset, then corrects it or holds."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devices import protocol
from devices.agent import Agent
from devices.clock import (
    SERVER_TIME_HEADER,
    ClockWatch,
    CorrectedClock,
    Measurement,
    SkewedClock,
    SystemClock,
    measure_offset,
    verdict,
)
from devices.http import FakeHttp, Response
from devices.link import FakeLink
from tests.devices.support import (
    PREFIX,
    ZONE,
    FakeServer,
    RecordingPlayer,
    Signer,
    T,
    agent_config,
    item,
    wait_for,
)


class TimeServer(FakeServer):
    """The fake server, answering HEAD with the millisecond header too (as pa-server does).

    `ahead_s`: the server's clock runs that far ahead of this machine's (i.e. the agent's
    system clock is that far behind: the real clock of a Pi, not a simulated one, is off).
    """

    def __init__(self, *, precise: bool = True, ahead_s: float = 0.0) -> None:
        super().__init__()
        self.precise = precise
        self.ahead = timedelta(seconds=ahead_s)
        self.heads = 0

    def now(self) -> datetime:
        return protocol.utc_now() + self.ahead

    def handle(self, method: str, url: str) -> Response:
        if method != "HEAD":
            return super().handle(method, url)
        self.heads += 1
        headers = {"date": email.utils.format_datetime(self.now(), usegmt=True)}
        if self.precise:
            headers[SERVER_TIME_HEADER.lower()] = f"{self.now().timestamp():.3f}"
        return Response(200, headers)


class SteppedClock:
    """A fake clock: a fixed wall time, a monotonic that each read advances by `step`."""

    def __init__(self, wall: datetime, step: float) -> None:
        self.wall = wall
        self.mono = 0.0
        self.step = step

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        self.mono += self.step
        return self.mono


def test_verdict_trusts_corrects_or_holds() -> None:
    rules = {"max_offset_s": 2.0, "max_error_s": 0.05}
    # close enough and NTP keeps it: left alone
    assert verdict(Measurement(0.3, 0.01), True, **rules) == (True, 0.0)
    # close enough, no NTP, precise: corrected
    assert verdict(Measurement(0.3, 0.01), None, **rules) == (True, 0.3)
    # close enough but imprecise: trusted as it is
    assert verdict(Measurement(1.2, 1.0), None, **rules) == (True, 0.0)
    # two minutes off, precise: played by the server's time, even if the kernel says synced
    assert verdict(Measurement(-120.0, 0.01), True, **rules) == (True, -120.0)
    # two minutes off, measured to a second only: not trusted, held
    assert verdict(Measurement(-120.0, 1.0), True, **rules) == (False, 0.0)


def test_measure_offset_takes_the_shortest_round_trip() -> None:
    server_time = datetime(2026, 8, 9, 22, 0, 0, 500_000, tzinfo=UTC)
    ours = server_time - timedelta(seconds=120)
    calls: list[int] = []

    def handle(_method: str, _url: str) -> Response:
        calls.append(1)
        return Response(200, {SERVER_TIME_HEADER.lower(): f"{server_time.timestamp():.3f}"})

    client = FakeHttp(handle)
    m = measure_offset(client, "http://s", SteppedClock(ours, step=0.2), samples=3)
    assert len(calls) == 3
    # each round trip reads 0.2 s: the midpoint is 0.1 s after `ours`
    assert m.offset_s == pytest.approx(119.9, abs=0.001)
    assert m.error_s == pytest.approx(0.101, abs=0.001)


def test_date_only_server_is_measured_once_and_imprecisely() -> None:
    client = FakeHttp(lambda _m, _u: Response(200, {"date": "Sun, 09 Aug 2026 22:00:00 GMT"}))
    ours = datetime(2026, 8, 9, 21, 58, 0, tzinfo=UTC)
    m = measure_offset(client, "http://s", SteppedClock(ours, step=0.01), samples=4)
    assert m.offset_s == pytest.approx(120.5 - 0.005, abs=0.001)
    assert m.error_s >= 1.0


def test_clock_watch_corrects_the_clock_it_is_given() -> None:
    server = TimeServer()
    raw = SkewedClock(SystemClock(), 120.0)
    corrected = CorrectedClock(raw)
    watch = ClockWatch(
        clock=raw,
        client=server.client(),
        url=server.url,
        max_offset_s=2.0,
        corrected=corrected,
        kernel_check=lambda: None,
    )
    status = watch.check()
    assert status.synced
    assert status.offset_ms == pytest.approx(-120_000, abs=50)
    assert abs((corrected.now() - datetime.now(UTC)).total_seconds()) < 0.05


def config_for(tmp_path: Path, server: TimeServer, signer: Signer, skew_s: float) -> Any:
    """An agent's config against `server`, its clock skewed by `skew_s` (0: the real one)."""
    return agent_config(
        tmp_path,
        broker_url="mqtt://127.0.0.1:1",
        server_url=server.url,
        keys={signer.kid: signer.public_b64},
        prefix=PREFIX,
        zone=ZONE,
        clock={"simulate_skew_s": skew_s},
    )


def make_agent(tmp_path: Path, server: TimeServer, skew_s: float) -> tuple[Agent, FakeLink, Any]:
    signer = Signer()
    cfg = config_for(tmp_path, server, signer, skew_s)
    link, player = FakeLink(), RecordingPlayer()
    # The kernel says "synchronised": a simulated skew must override it.
    agent = Agent(cfg, link=link, player=player, http=server.client(), kernel_check=lambda: True)
    return agent, link, (player, signer)


def test_two_minutes_ahead_plays_on_the_servers_instant(tmp_path: Path) -> None:
    server = TimeServer()
    media = server.put(b"m" * 200, duration_ms=50)
    agent, link, (player, signer) = make_agent(tmp_path, server, 120.0)
    with agent:
        wait_for(lambda: agent.state().clock_synced, 5, "clock check")
        state = agent.state()
        assert state.clock_offset_ms is not None and abs(state.clock_offset_ms + 120_000) < 100
        play_at = protocol.utc_now() + timedelta(seconds=1.0)
        link.deliver(
            T.timeline_zone("huyen"),
            signer.timeline("zone:huyen", [item(media, play_at, occurrence_id="a")]),
        )
        wait_for(lambda: player.played() == ["a"], 10, "the play")
    real = player.real_starts[0]  # the real instant the player started
    assert abs((real - play_at).total_seconds()) < 0.1
    reported = player.starts[0][1]  # what the agent's (corrected) clock said
    assert abs((reported - play_at).total_seconds()) < 0.1


def test_two_minutes_off_measured_to_a_second_only_holds(tmp_path: Path) -> None:
    server = TimeServer(precise=False)
    media = server.put(b"m" * 200, duration_ms=50)
    agent, link, (player, signer) = make_agent(tmp_path, server, -120.0)
    with agent:
        wait_for(lambda: server.heads >= 1 and agent.state().clock_offset_ms is not None, 5)
        state = agent.state()
        assert state.clock_synced is False
        assert state.clock_offset_ms is not None and abs(state.clock_offset_ms - 120_000) < 2000
        play_at = protocol.utc_now() + timedelta(seconds=0.3)
        link.deliver(
            T.timeline_zone("huyen"),
            signer.timeline("zone:huyen", [item(media, play_at, occurrence_id="a")]),
        )
        wait_for(lambda: protocol.utc_now() > play_at + timedelta(seconds=0.7), 5)
        assert player.played() == []


def test_a_system_clock_two_minutes_behind_reports_its_start_by_the_corrected_clock(
    tmp_path: Path,
) -> None:
    # The machine's own clock is the wrong one here (no simulated skew): a player reading
    # the system clock would report the start two minutes early.
    server = TimeServer(ahead_s=120.0)
    media = server.put(b"m" * 200, duration_ms=3_000)
    signer = Signer()
    cfg = config_for(tmp_path, server, signer, 0.0)
    link = FakeLink()  # the config's file player: it writes plays.jsonl
    agent = Agent(cfg, link=link, http=server.client(), kernel_check=lambda: True)
    with agent:
        # (the kernel's "synchronised" makes the state synced before the first measurement)
        state = wait_for(
            lambda: (s := agent.state()).clock_offset_ms is not None and s.clock_synced and s,
            5,
            "clock check",
        )
        assert abs(state.clock_offset_ms - 120_000) < 100
        play_at = server.now() + timedelta(seconds=1.0)
        link.deliver(
            T.timeline_zone("huyen"),
            signer.timeline(
                "zone:huyen", [item(media, play_at, occurrence_id="a")], now=server.now()
            ),
        )
        playing = wait_for(lambda: agent.state().playing, 10, "the play")
        started = wait_for(
            lambda: next(
                (
                    protocol.parse_receipt(p)
                    for t, p, _ in link.published
                    if "/event/" in t and protocol.parse_receipt(p).type == "started"
                ),
                None,
            ),
            5,
            "the started receipt",
        )
    assert started.late_ms is not None and abs(started.late_ms) < 100
    assert abs((playing.started_at - play_at).total_seconds()) < 0.1
    assert cfg.player.output_dir is not None
    plays = cfg.player.output_dir / "plays.jsonl"
    line = json.loads(plays.read_text().splitlines()[0])
    assert abs(line["late_ms"]) < 100
    assert abs(line["started_at_us"] / 1e6 - play_at.timestamp()) < 0.1
