"""The embedded broker's logins and topic rules, proved with real paho clients.

Devices come from the server's database (SQLite, and PostgreSQL when configured) and log in
with the passwords `create_device` / `pa-server device add` gave them; the server with its own
account. Every forged publish is checked two ways: nothing reaches the subscriber before a
later, allowed barrier message, and the broker recorded the refusal (amqtt, like MQTT 3.1.1,
acks a refused publish, so the refusal record is the deterministic proof).
"""

from __future__ import annotations

import argparse
import base64
import secrets
import stat
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devices.errors import ConfigError
from devices.protocol import Topics, utc_now
from devices.simulate import SimulateOptions, add_arguments, agent_configs
from pa_server import cli
from pa_server.config import Settings, get_settings
from pa_server.db.broker_accounts import DbDeviceLookup
from pa_server.db.models import DeviceState
from pa_server.messaging.broker import (
    SERVER_SECRET_FILE,
    BrokerAccess,
    EmbeddedBroker,
    Refusal,
)
from pa_server.runtime import Runtime
from pa_server.schemas.devices import DeviceCreate
from pa_server.services import devices, provisioning
from pa_server.services.context import UseCase, cli_actor
from tests.pa_server.messaging.mqtt_clients import WAIT_S, Client
from tests.pa_server.server_fixtures import add_zone
from tests.support import free_port, wait_for

ZONES = ("vt", "vt/tan-tien", "vt/tan-tien/thon-1", "vt/tan-tien/thon-2", "vt/xa-khac")
DEVICES = {"loa-a": "vt/tan-tien/thon-1", "loa-b": "vt/tan-tien/thon-2", "loa-c": "vt/xa-khac"}
SERVER = "pa-server"
SIM_KEY = base64.b64encode(bytes(32)).decode()  # the simulator only checks its shape here


@dataclass
class Fleet:
    """A running embedded broker whose logins are the test database's devices."""

    broker: EmbeddedBroker
    access: BrokerAccess
    sessions: sessionmaker[Session]
    prefix: str
    server_password: str
    passwords: dict[str, str]
    clients: list[Client] = field(default_factory=list)

    def t(self, *levels: str) -> str:
        return "/".join((self.prefix, *levels))

    def try_login(self, user: str | None, password: str | None) -> Client:
        client = Client(self.broker.port, user, password)
        self.clients.append(client)
        return client

    def login(
        self, user: str, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311
    ) -> Client:
        """A client logged in as `user` with its own password; asserts the broker accepted it."""
        password = self.server_password if user == SERVER else self.passwords[user]
        client = Client(self.broker.port, user, password, protocol)
        self.clients.append(client)
        rc = client.connect()
        assert not rc.is_failure, f"{user} refused: {rc}"
        return client

    def refused(self, user: str | None, action: str, topic: str | None) -> bool:
        return Refusal(user, action, topic) in self.access.refusals()  # type: ignore[arg-type]


def uc(session: Session) -> UseCase:
    """A use case run by the console's admin, as `pa-server device …` runs them."""
    return UseCase(session, cli_actor(), utc_now(), Settings())


def add_device(sessions: sessionmaker[Session], device_id: str, zone: str) -> str:
    """Register a device the way the API and `device add` do; return its broker password."""
    with sessions() as s:
        _device, password = devices.create_device(uc(s), DeviceCreate(id=device_id, zone=zone))
        s.commit()
    return password


@pytest.fixture
def fleet(sessions: sessionmaker[Session]) -> Iterator[Fleet]:
    with sessions() as s:
        for path in ZONES:
            add_zone(s, path, path, now=utc_now())
        s.commit()
    passwords = {d: add_device(sessions, d, z) for d, z in DEVICES.items()}
    prefix = f"pa-test-{uuid.uuid4().hex[:8]}/v2"
    server_password = secrets.token_urlsafe(16)
    access = BrokerAccess(
        prefix=prefix,
        server_user=SERVER,
        server_password=server_password,
        lookup=DbDeviceLookup(sessions),
    )
    with EmbeddedBroker("127.0.0.1", 0, access=access) as broker:
        f = Fleet(broker, access, sessions, prefix, server_password, passwords)
        try:
            yield f
        finally:
            for c in f.clients:
                c.close()


def test_anonymous_wrong_and_unknown_logins_are_refused(fleet: Fleet) -> None:
    for user, password in [
        (None, None),
        ("loa-a", "wrong"),
        ("loa-a", ""),
        ("loa-a", fleet.passwords["loa-b"]),  # another device's password
        (SERVER, "wrong"),
        (SERVER, fleet.passwords["loa-a"]),
        ("nobody", "x"),
        ("LOA-A", fleet.passwords["loa-a"]),  # not a device id at all
    ]:
        rc = fleet.try_login(user, password).connect()
        assert rc.is_failure, (user, password)
        assert rc.value in (4, 5, 0x86, 0x87), rc  # bad user name or password / not authorised
        assert fleet.refused(user or None, "connect", None)


def test_devices_and_the_server_log_in_with_their_own_passwords(fleet: Fleet) -> None:
    fleet.login("loa-a")
    fleet.login("loa-c")
    fleet.login(SERVER)


def test_agent_cannot_publish_another_agents_state_or_any_command(fleet: Fleet) -> None:
    server = fleet.login(SERVER)
    assert not server.subscribe(fleet.t("state", "+"))[0].is_failure
    assert not server.subscribe(fleet.t("event", "+"))[0].is_failure
    b = fleet.login("loa-b")
    for sub in ["cmd/device/loa-b", "timeline/device/loa-b", "cmd/zone/vt", "timeline/zone/vt"]:
        assert not b.subscribe(fleet.t(*sub.split("/")))[0].is_failure

    a = fleet.login("loa-a")
    forged = [
        fleet.t("state", "loa-b"),
        fleet.t("event", "loa-b"),
        fleet.t("cmd", "device", "loa-b"),
        fleet.t("cmd", "device", "loa-a"),  # not even its own: only the server commands
        fleet.t("timeline", "device", "loa-a"),
        fleet.t("cmd", "zone", "vt"),
        fleet.t("timeline", "zone", "vt"),
        fleet.t("timeline", "zone", "vt", "tan-tien", "thon-1"),
    ]
    for topic in forged:
        a.publish(topic, b"forged by loa-a")  # MQTT 3.1.1: acked, then dropped
    a.publish(fleet.t("state", "loa-b"), b"forged retained", retain=True)

    # Positive control: A's own state and receipt reach the server, after the forgeries.
    own_state = (fleet.t("state", "loa-a"), b'{"device_id":"loa-a","online":true}')
    a.publish(*own_state)
    own_event = (fleet.t("event", "loa-a"), b"receipt")
    a.publish(*own_event)
    assert server.collect_until(own_event) == [own_state, own_event]
    # amqtt acks a publish before it routes it, so the refusals are awaited, not assumed.
    for topic in forged:
        wait_for(lambda topic=topic: fleet.refused("loa-a", "publish", topic), topic)

    barrier = (fleet.t("cmd", "device", "loa-b"), b"from the server")
    server.publish(*barrier)
    assert b.collect_until(barrier) == [barrier]
    # Nor was the forged retained state kept for a later subscriber.
    late = fleet.login(SERVER)
    late.subscribe(fleet.t("state", "+"))
    marker = (fleet.t("state", "loa-a"), b"marker")
    a.publish(*marker)
    assert late.collect_until(marker) == [marker]


def test_agent_cannot_subscribe_to_another_devices_or_zones_topics(fleet: Fleet) -> None:
    server = fleet.login(SERVER)
    server.publish(fleet.t("timeline", "zone", "vt", "tan-tien", "thon-2"), b"b", retain=True)
    a = fleet.login("loa-a")
    forbidden = [
        fleet.t("cmd", "device", "loa-b"),
        fleet.t("timeline", "device", "loa-b"),
        fleet.t("timeline", "zone", "vt", "tan-tien", "thon-2"),
        fleet.t("cmd", "zone", "vt", "xa-khac"),
        fleet.t("cmd", "zone", "+"),
        fleet.t("cmd", "zone", "vt", "#"),
        fleet.t("state", "+"),
        fleet.t("event", "loa-b"),
        fleet.t("#"),
        "#",
        "$SYS/#",
    ]
    for topic in forbidden:
        assert a.subscribe(topic)[0].is_failure, topic
        assert fleet.refused("loa-a", "subscribe", topic), topic
    b = fleet.login("loa-b")
    b.publish(fleet.t("state", "loa-b"), b"b's state")
    server.publish(fleet.t("cmd", "device", "loa-b"), b"for b only")
    server.publish(fleet.t("cmd", "zone", "vt", "xa-khac"), b"for another commune")
    assert not a.subscribe(fleet.t("cmd", "device", "loa-a"))[0].is_failure
    barrier = (fleet.t("cmd", "device", "loa-a"), b"for a")
    server.publish(*barrier)
    assert a.collect_until(barrier) == [barrier]


def test_server_commands_and_zone_chain_timelines_reach_the_agent(fleet: Fleet) -> None:
    server = fleet.login(SERVER)
    retained = (fleet.t("timeline", "zone", "vt"), b"district timeline")
    assert not server.publish(*retained, retain=True).is_failure
    a = fleet.login("loa-a")
    for topic in Topics(fleet.prefix).agent_subscriptions("loa-a", DEVICES["loa-a"]):
        assert not a.subscribe(topic)[0].is_failure, topic
    sent = [
        (fleet.t("cmd", "zone", "vt", "tan-tien"), b"commune command"),
        (fleet.t("timeline", "zone", "vt", "tan-tien", "thon-1"), b"village timeline"),
        (fleet.t("timeline", "device", "loa-a"), b"own timeline"),
        (fleet.t("cmd", "device", "loa-a"), b"own command"),
    ]
    for msg in sent:
        assert not server.publish(*msg).is_failure
    assert a.collect_until(sent[-1]) == [retained, *sent]
    # The server may not speak for an agent either.
    server.publish(fleet.t("state", "loa-a"), b"forged by the server")
    wait_for(lambda: fleet.refused(SERVER, "publish", fleet.t("state", "loa-a")), "refusal")


@pytest.mark.parametrize("victim_clean", [True, False])
def test_a_refused_login_cannot_knock_off_the_client_whose_id_it_borrows(
    fleet: Fleet, victim_clean: bool
) -> None:
    """amqtt alone drops (or takes over) the session of a connected client id before it
    checks the newcomer's login; `AuthFirstBroker` checks first."""
    server = fleet.login(SERVER)
    victim = Client(
        fleet.broker.port,
        "loa-a",
        fleet.passwords["loa-a"],
        client_id="pa-device-loa-a",
        clean_session=victim_clean,
    )
    fleet.clients.append(victim)
    assert not victim.connect().is_failure
    assert not victim.subscribe(fleet.t("cmd", "device", "loa-a"))[0].is_failure
    for user, password, clean in [
        (None, None, True),
        ("loa-a", "wrong", False),
        (SERVER, "x", True),
    ]:
        intruder = Client(
            fleet.broker.port, user, password, client_id="pa-device-loa-a", clean_session=clean
        )
        fleet.clients.append(intruder)
        assert intruder.connect().is_failure, (user, clean)
    sent = (fleet.t("cmd", "device", "loa-a"), b"still listening")
    server.publish(*sent)
    assert victim.collect_until(sent) == [sent]
    assert victim.c.is_connected()
    if not victim_clean:
        return  # amqtt 0.12 itself loses a persistent session's deliveries on take-over
    # The owner itself may still take its id over (a half-open connection after a network cut).
    again = Client(
        fleet.broker.port,
        "loa-a",
        fleet.passwords["loa-a"],
        client_id="pa-device-loa-a",
        clean_session=victim_clean,
    )
    fleet.clients.append(again)
    assert not again.connect().is_failure
    assert not again.subscribe(fleet.t("cmd", "device", "loa-a"))[0].is_failure
    sent = (fleet.t("cmd", "device", "loa-a"), b"to the new connection")
    server.publish(*sent)
    assert sent in again.collect_until(sent)


def test_device_added_at_run_time_logs_in_at_once(fleet: Fleet) -> None:
    assert fleet.try_login("loa-new", "anything").connect().is_failure
    fleet.passwords["loa-new"] = add_device(fleet.sessions, "loa-new", "vt/xa-khac")
    fresh = fleet.login("loa-new")  # same broker, no restart
    assert not fresh.subscribe(fleet.t("cmd", "zone", "vt", "xa-khac"))[0].is_failure
    assert fresh.subscribe(fleet.t("cmd", "zone", "vt", "tan-tien"))[0].is_failure


def test_removed_device_cannot_log_in_again_and_loses_its_rights(fleet: Fleet) -> None:
    server = fleet.login(SERVER)
    server.subscribe(fleet.t("state", "+"))
    live = fleet.login("loa-c")
    with fleet.sessions() as s:
        devices.delete_device(uc(s), "loa-c")
        s.commit()
    rc = fleet.try_login("loa-c", fleet.passwords["loa-c"]).connect()
    assert rc.is_failure
    # Its still-open session lost its rights with that refused login.
    live.publish(fleet.t("state", "loa-c"), b"from beyond")
    # amqtt acks before it routes: wait for the refusal, then prove nothing got through.
    wait_for(lambda: fleet.refused("loa-c", "publish", fleet.t("state", "loa-c")), "refusal")
    barrier = (fleet.t("state", "loa-a"), b"barrier")
    fleet.login("loa-a").publish(*barrier)
    assert server.collect_until(barrier) == [barrier]


def test_new_password_and_new_zone_take_effect_at_the_next_login(fleet: Fleet) -> None:
    with fleet.sessions() as s:
        reset = devices.reset_password(uc(s), "loa-b")
        _, new_password = devices.move_device(uc(s), "loa-b", "vt/xa-khac")
        s.commit()
    # The move replaced even the password given just before it.
    assert fleet.try_login("loa-b", fleet.passwords["loa-b"]).connect().is_failure
    assert fleet.try_login("loa-b", reset).connect().is_failure
    fleet.passwords["loa-b"] = new_password
    b = fleet.login("loa-b")
    assert not b.subscribe(fleet.t("timeline", "zone", "vt", "xa-khac"))[0].is_failure
    assert b.subscribe(fleet.t("timeline", "zone", "vt", "tan-tien", "thon-2"))[0].is_failure


# --------------------------------------------------------------------------- the server's side


@pytest.fixture
def server_env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """`PA_*` for the CLI and the runtime: this test's database, data dir and a free port."""
    for key, value in {
        "PA_DATA_DIR": str(tmp_path / "data"),
        "PA_DATABASE_URL": db_url,
        "PA_BROKER_PORT": str(free_port()),
        "PA_TOPIC_PREFIX": f"pa-test-{uuid.uuid4().hex[:8]}/v2",
        "PA_PLANNER_INTERVAL_S": "3600",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("PA_MQTT_URL", "PA_MQTT_USERNAME", "PA_MQTT_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    keys = [{"kid": "k1", "alg": "Ed25519", "public_key": "QUJD"}]
    monkeypatch.setattr(provisioning, "server_public_keys", lambda _settings: keys)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_runtime_broker_admits_what_device_add_printed_and_the_server_account(
    server_env: Settings,
    sessions: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sessions() as s:
        for path in ("vt", "vt/tan-tien"):
            add_zone(s, path, path, now=utc_now())
        s.commit()
    topics = Topics(server_env.topic_prefix)
    with Runtime(server_env, sessions) as runtime:
        assert runtime.broker is not None and runtime.bus is not None
        assert runtime.bus.wait_ready(WAIT_S), "the server's bus did not log in to its broker"
        secret_file = server_env.data_dir / SERVER_SECRET_FILE
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert len(secret_file.read_text().strip()) >= 32
        assert Client(runtime.broker.port, None, None).connect().is_failure  # anonymous

        # Registered while the server runs: the printed config works at once.
        assert cli.main(["device", "add", "loa-moi", "--zone", "vt/tan-tien"]) == 0
        config = tomllib.loads(capsys.readouterr().out)
        assert config["mqtt"]["url"] == runtime.broker.url
        agent = Client(runtime.broker.port, config["mqtt"]["username"], config["mqtt"]["password"])
        try:
            assert not agent.connect().is_failure
            agent.publish(topics.state("loa-moi"), b'{"device_id":"loa-moi","online":true}')

            def stored() -> bool:
                with sessions() as s:
                    row = s.scalar(select(DeviceState).where(DeviceState.device_id == "loa-moi"))
                    return row is not None and row.online

            wait_for(stored, "the server stored the new agent's state")
        finally:
            agent.close()
    secret = secret_file.read_text()
    with Runtime(server_env, sessions) as again:  # a restart keeps the server's password
        assert again.bus is not None
        assert again.bus.wait_ready(WAIT_S), "the server did not log in again"
    assert secret_file.read_text() == secret


def test_device_add_refuses_the_servers_username(
    server_env: Settings, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    with sessions() as s:
        add_zone(s, "vt", "vt", now=utc_now())
        s.commit()
    assert cli.main(["device", "add", SERVER, "--zone", "vt"]) == 2
    assert "server's broker username" in capsys.readouterr().err


def test_add_sim_provisions_the_simulators_agents(
    server_env: Settings,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sessions() as s:
        for path in ("vt", "vt/xa"):
            add_zone(s, path, path, timezone="UTC", now=utc_now())
        s.commit()
    creds = tmp_path / "sim.toml"
    args = ["device", "add-sim", "--count", "2", "--first", "4", "--zone", "vt/xa"]
    assert cli.main([*args, "-o", str(creds)]) == 0
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert f"--credentials {creds}" in capsys.readouterr().err
    first = tomllib.loads(creds.read_text())["passwords"]
    assert cli.main([*args, "-o", str(creds)]) == 0  # again: the same ids, new passwords
    assert (
        cli.main(
            ["device", "add-sim", "--count", "1", "--first", "4", "--zone", "vt", "-o", str(creds)]
        )
        == 2
    )
    assert "exists in zone vt/xa" in capsys.readouterr().err

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    opts = SimulateOptions.from_args(
        parser.parse_args(
            [
                *("--count", "2", "--first", "4", "--zone", "vt/xa"),
                *("--server", "http://s.test", "--public-key", f"k1={SIM_KEY}"),
                *("--credentials", str(creds)),
            ]
        )
    )
    configs = agent_configs(opts, tmp_path / "state")
    assert [c.mqtt.username for c in configs] == ["sim-00004", "sim-00005"]
    access = BrokerAccess(
        prefix=server_env.topic_prefix,
        server_user=SERVER,
        server_password="unused-here",
        lookup=DbDeviceLookup(sessions),
    )
    with EmbeddedBroker("127.0.0.1", 0, access=access) as broker:
        for config in configs:
            agent = Client(broker.port, config.mqtt.username, config.mqtt.password)
            try:
                assert not agent.connect().is_failure, config.mqtt.username
            finally:
                agent.close()
        stale = Client(broker.port, "sim-00004", first["sim-00004"])
        try:
            assert stale.connect().is_failure  # add-sim again replaced the password
        finally:
            stale.close()
    with pytest.raises(ConfigError, match="no password for sim-00006"):
        agent_configs(
            SimulateOptions.from_args(
                parser.parse_args(
                    [
                        *("--count", "3", "--first", "4", "--zone", "vt/xa"),
                        *("--server", "http://s.test", "--public-key", f"k1={SIM_KEY}"),
                        *("--credentials", str(creds)),
                    ]
                )
            ),
            tmp_path / "state",
        )
