"""`pa-device simulate`: options, key discovery, and a small fleet split over processes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from devices import protocol
from devices.agent import make_live_client
from devices.errors import ConfigError
from devices.live import LiveTarget, SnapclientRunner
from devices.simulate import (
    SimulateOptions,
    _child_command,
    add_arguments,
    agent_configs,
    fetch_public_keys,
)
from tests.devices.support import MediaServer, MqttPeer, Signer, item, wait_for

REPO = Path(__file__).resolve().parents[2]


def options(*argv: str) -> SimulateOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return SimulateOptions.from_args(parser.parse_args(list(argv)))


BASE = ("--zone", "a/b", "--server", "http://s.test/")


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="--output"):
        options("--count", "2", *BASE, "--player", "file")
    with pytest.raises(ConfigError, match="KID=BASE64"):
        options("--count", "2", *BASE, "--public-key", "nokey")
    with pytest.raises(ConfigError, match="at least 1"):
        options("--count", "0", *BASE)


def test_each_simulated_agent_has_its_own_id_folders_and_session(tmp_path: Path) -> None:
    key = Signer().public_b64
    opts = options(
        "--count",
        "3",
        *BASE,
        "--player",
        "file",
        "--output",
        str(tmp_path / "o"),
        "--public-key",
        f"k1={key}",
        "--first",
        "10",
    )
    cfgs = agent_configs(opts, tmp_path / "s")
    assert [c.device.id for c in cfgs] == ["sim-00010", "sim-00011", "sim-00012"]
    assert len({c.paths.state_dir for c in cfgs}) == 3
    assert len({c.player.output_dir for c in cfgs}) == 3
    # Live items: each simulated agent's snapclient writes its own file, as its id.
    runner = make_live_client(cfgs[0], lambda _state: None)
    assert isinstance(runner, SnapclientRunner)
    command = runner.command(LiveTarget("127.0.0.1", 1704, "live-1"))
    assert command[command.index("--hostID") + 1] == "sim-00010"
    assert f"file:filename={tmp_path / 'o' / 'sim-00010' / 'live.raw'},mode=a" in command
    cmd = _child_command(opts, 10, 2, tmp_path / "s")
    assert cmd[cmd.index("--count") + 1] == "2" and f"k1={key}" in cmd


def test_keys_are_fetched_from_the_server_when_not_given() -> None:
    key = Signer().public_b64

    def serve(body: object, status: int = 200) -> httpx.Client:
        return httpx.Client(
            transport=httpx.MockTransport(lambda _r: httpx.Response(status, json=body))
        )

    entry = {"kid": "k1", "alg": "Ed25519", "public_key": key}
    assert fetch_public_keys("http://s", serve([entry])) == {"k1": key}
    assert fetch_public_keys("http://s", serve({"keys": [entry]})) == {"k1": key}
    with pytest.raises(ConfigError, match="no key"):
        fetch_public_keys("http://s", serve([]))
    with pytest.raises(ConfigError, match="cannot fetch"):
        fetch_public_keys("http://s", serve({}, 500))


@pytest.mark.network
@pytest.mark.slow
def test_a_small_fleet_over_two_processes_plays_together(
    tmp_path: Path, broker_url: str, prefix: str, media_server: MediaServer, signer: Signer
) -> None:
    out = tmp_path / "out"
    peer = MqttPeer(broker_url)
    peer.subscribe(f"{prefix}/state/+")
    cmd = [
        sys.executable,
        "-m",
        "devices.cli",
        "simulate",
        "--count",
        "3",
        "--zone",
        "x/y",
        "--server",
        media_server.url,
        "--broker",
        broker_url,
        "--player",
        "file",
        "--output",
        str(out),
        "--prefix",
        prefix,
        "--per-process",
        "2",
        "--public-key",
        f"{signer.kid}={signer.public_b64}",
        "--duration",
        "30",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        wait_for(
            lambda: (
                len(
                    {
                        json.loads(p)["device_id"]
                        for p in peer.on("")
                        if json.loads(p).get("clock_synced")
                    }
                )
                == 3
            ),
            20,
            "three agents online",
        )
        media = media_server.put(b"fleet" * 200, duration_ms=100)
        it = item(media, protocol.utc_now() + timedelta(seconds=2))
        peer.publish(protocol.Topics(prefix).timeline_zone("x"), signer.timeline("zone:x", [it]))
        played = wait_for(
            lambda: len(list(out.glob("*/plays.jsonl"))) == 3 and list(out.glob("*/plays.jsonl")),
            8,
            "three plays",
        )
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
        peer.close()
    lines = [json.loads(p.read_text().splitlines()[0]) for p in played]
    assert {x["device_id"] for x in lines} == {"sim-00000", "sim-00001", "sim-00002"}
    assert all(x["occurrence_id"] == it.occurrence_id for x in lines)
    assert all(abs(x["late_ms"]) <= 200 for x in lines)
