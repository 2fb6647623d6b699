"""Broker security: Mosquitto hashes, password file and ACL, proved against a real Mosquitto."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from sqlalchemy.orm import Session, sessionmaker

from devices.protocol import Topics
from pa_server.cli import main
from pa_server.cli.mqtt_acl import load_devices_file
from pa_server.config import Settings, get_settings
from pa_server.messaging import broker_acl as ma
from pa_server.schemas.devices import DeviceCreate
from pa_server.services import devices
from pa_server.services.context import UseCase, cli_actor
from tests.pa_server.messaging.mqtt_clients import WAIT_S, Client
from tests.pa_server.server_fixtures import NOW, add_zone

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


# --------------------------------------------------------------------------- hashes


def test_hash_has_mosquitto_form_and_verifies() -> None:
    hashed = ma.hash_password("bí mật")
    iterations, salt, digest = ma.parse_hash(hashed)
    assert hashed.startswith("$7$101$")
    assert (iterations, len(salt), len(digest)) == (101, 12, 64)
    assert ma.verify_password("bí mật", hashed)
    assert not ma.verify_password("bi mat", hashed)
    assert ma.hash_password("x") != ma.hash_password("x")  # fresh salt each time


def test_known_vector_from_mosquitto_passwd() -> None:
    # Written by mosquitto_passwd 2.0.11 for user alice, password "secret".
    hashed = (
        "$7$101$rUhBajADFGAyemPN$OM1ND6eWvPMPMiy7ssul7U7zP6IMNOY4LEyRBrijOShcTsdMcpGyUOLTfRuvnPhk"
        "I5d5D+Fr+SMEGv6JyI3IGg=="
    )
    assert ma.verify_password("secret", hashed)
    assert not ma.verify_password("Secret", hashed)
    _, salt, _ = ma.parse_hash(hashed)
    assert ma.hash_password("secret", salt=salt) == hashed


@pytest.mark.skipif(MOSQUITTO_PASSWD is None, reason="mosquitto_passwd not installed")
def test_verifies_a_hash_the_real_mosquitto_passwd_writes(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    assert MOSQUITTO_PASSWD is not None
    subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", str(f), "loa-01", "mật khẩu"], check=True)
    user, hashed = f.read_text().strip().split(":", 1)
    assert user == "loa-01"
    assert ma.verify_password("mật khẩu", hashed)
    assert not ma.verify_password("mat khau", hashed)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "secret",
        "$6$101$abc$def",
        "$7$101$!!!$" + "A" * 88,
        "$7$0$" + "QUJD" + "$" + "A" * 88,
        "$7$101$QUJD$QUJD",  # digest too short
        "$7$101$$" + "A" * 88,
    ],
)
def test_bad_hashes_are_refused_and_never_verify(bad: str) -> None:
    with pytest.raises(ma.InvalidHash):
        ma.parse_hash(bad)
    assert not ma.verify_password("secret", bad)


def test_new_device_password_gives_a_matching_pair() -> None:
    password, hashed = ma.new_device_password()
    assert len(password) >= 32
    assert ma.verify_password(password, hashed)


# --------------------------------------------------------------------------- files


def test_password_file_is_0600_and_atomic(tmp_path: Path) -> None:
    f = tmp_path / "passwd"
    f.write_text("old:content\n")
    h = ma.hash_password("pw")
    ma.write_password_file(f, [("pa-server", h), ("loa-01", h)])
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert f.read_text() == f"pa-server:{h}\nloa-01:{h}\n"
    with pytest.raises(ma.InvalidName):
        ma.write_password_file(f, [("loa-01", h), ("loa-01", h)])
    with pytest.raises(ma.InvalidHash):
        ma.write_password_file(f, [("loa-01", "plaintext")])
    for evil in ("evil:x\nroot", "loa-01\n"):
        with pytest.raises(ma.InvalidName):
            ma.write_password_file(f, [(evil, h)])
    # A refused write leaves the previous file whole and no temporary file behind.
    assert f.read_text() == f"pa-server:{h}\nloa-01:{h}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


def test_acl_grants_per_device_zone_reads_and_patterns_once(tmp_path: Path) -> None:
    f = tmp_path / "acl"
    ma.write_acl(
        f, prefix="pa/v1", server_user="pa-server", devices=[("loa-01", "vt/tt"), ("loa-02", "vt")]
    )
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    lines = [ln for ln in f.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines == [
        "pattern read pa/v1/cmd/device/%u",
        "pattern read pa/v1/timeline/device/%u",
        "pattern write pa/v1/state/%u",
        "pattern write pa/v1/event/%u",
        "user pa-server",
        "topic read pa/v1/state/+",
        "topic read pa/v1/event/+",
        "topic write pa/v1/cmd/#",
        "topic write pa/v1/timeline/#",
        "topic read pa/v1/timeline/#",
        "user loa-01",
        "topic read pa/v1/cmd/zone/vt",
        "topic read pa/v1/timeline/zone/vt",
        "topic read pa/v1/cmd/zone/vt/tt",
        "topic read pa/v1/timeline/zone/vt/tt",
        "user loa-02",
        "topic read pa/v1/cmd/zone/vt",
        "topic read pa/v1/timeline/zone/vt",
    ]


def test_one_rule_set_gives_each_login_its_rights() -> None:
    rules = ma.topic_rules(
        prefix="pa/v2", server_user="pa-server", devices=[("loa-01", "vt/tt"), ("loa-02", "vt")]
    )
    assert rules.grants_for("loa-01") == (
        ma.Grant("read", "pa/v2/cmd/device/loa-01"),
        ma.Grant("read", "pa/v2/timeline/device/loa-01"),
        ma.Grant("write", "pa/v2/state/loa-01"),
        ma.Grant("write", "pa/v2/event/loa-01"),
        ma.Grant("read", "pa/v2/cmd/zone/vt"),
        ma.Grant("read", "pa/v2/timeline/zone/vt"),
        ma.Grant("read", "pa/v2/cmd/zone/vt/tt"),
        ma.Grant("read", "pa/v2/timeline/zone/vt/tt"),
    )
    assert rules.grants_for("pa-server") == (
        ma.Grant("read", "pa/v2/state/+"),
        ma.Grant("read", "pa/v2/event/+"),
        ma.Grant("write", "pa/v2/cmd/#"),
        ma.Grant("write", "pa/v2/timeline/#"),
        ma.Grant("read", "pa/v2/timeline/#"),
    )
    assert rules.grants_for("loa-03") is None
    # Mosquitto's ACL is these same rules rendered, not a second hand-written copy.
    assert ma.render_mosquitto_acl(rules) == ma.acl_text(
        prefix="pa/v2", server_user="pa-server", devices=[("loa-02", "vt"), ("loa-01", "vt/tt")]
    )


@pytest.mark.parametrize(
    ("granted", "requested", "covered"),
    [
        ("p/state/a", "p/state/a", True),
        ("p/state/a", "p/state/b", False),
        ("p/state/a", "p/state/+", False),  # a literal never covers a wildcard
        ("p/state/a", "p/state/#", False),
        ("p/state/a", "p/state", False),
        ("p/state/a", "p/state/a/x", False),
        ("p/state/+", "p/state/a", True),
        ("p/state/+", "p/state/+", True),
        ("p/state/+", "p/state/#", False),  # `#` also reaches p/state/a/x
        ("p/state/+", "p/state/a/x", False),
        ("p/cmd/#", "p/cmd/zone/a/b", True),
        ("p/cmd/#", "p/cmd/#", True),
        ("p/cmd/#", "p/cmd", True),  # MQTT's `p/cmd/#` matches `p/cmd` itself
        ("p/cmd/#", "p/#", False),
        ("p/cmd/#", "p/timeline/zone/a", False),
    ],
)
def test_filter_covers(granted: str, requested: str, covered: bool) -> None:
    assert ma.filter_covers(granted, requested) is covered


@pytest.mark.parametrize(
    ("prefix", "server_user", "devices"),
    [
        ("pa/#", "pa-server", []),
        ("pa/%u", "pa-server", []),
        ("pa//v1", "pa-server", []),
        ("$SYS", "pa-server", []),
        ("pa v1", "pa-server", []),
        ("pa/v1", "pa server", []),
        ("pa/v1", "pa-server\nuser x", []),
        ("pa/v1", "pa-server\n", []),  # `$` would have let a trailing newline through
        ("pa/v1\n", "pa-server", []),
        ("pa/v1", "pa-server", [("loa-01\n", "vt")]),
        ("pa/v1", "loa-01", [("loa-01", "vt")]),  # a device posing as the server
        ("pa/v1", "pa-server", [("loa-01", "vt"), ("loa-01", "xa")]),
        ("pa/v1", "pa-server", [("LOA", "vt")]),
        ("pa/v1", "pa-server", [("loa-01", "vt/#")]),
    ],
)
def test_acl_refuses_names_that_would_widen_access(
    prefix: str, server_user: str, devices: list[tuple[str, str]]
) -> None:
    with pytest.raises(ma.InvalidName):
        ma.acl_text(prefix=prefix, server_user=server_user, devices=devices)


def test_devices_file_csv_and_toml(tmp_path: Path) -> None:
    h = ma.hash_password("pw")
    csv_file = tmp_path / "d.csv"
    csv_file.write_text(f"id,zone,password_hash\nloa-01,vt/tt,{h}\n")
    toml_file = tmp_path / "d.toml"
    toml_file.write_text(f'[[devices]]\nid = "loa-01"\nzone = "vt/tt"\npassword_hash = "{h}"\n')
    expected = [ma.DeviceCredential("loa-01", "vt/tt", h)]
    assert load_devices_file(csv_file) == expected
    assert load_devices_file(toml_file) == expected


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("d.csv", "id,zone\nloa-01,vt\n", "header"),
        ("d.csv", "id,zone,password_hash\nloa-01,vt\n", "line 2: missing password_hash"),
        ("d.csv", "id,zone,password_hash\nloa-01,vt,{h},x\n", "line 2: unknown field"),
        ("d.csv", "id,zone,password_hash\nloa-01,VT,{h}\n", "line 2: invalid zone"),
        ("d.csv", "id,zone,password_hash\nloa-01,vt,plain\n", "line 2: not a Mosquitto"),
        ("d.toml", "[[devices]]\nid = 'loa-01'\n", "device #1: missing zone, password_hash"),
        ("d.toml", "devices = 3\n", "expected only [[devices]]"),
        ("d.toml", "[[devices]\n", "not TOML"),
    ],
)
def test_bad_devices_files_name_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, message: str
) -> None:
    f = tmp_path / name
    f.write_text(content.replace("{h}", ma.hash_password("pw")))
    out = tmp_path / "out"
    assert main(["mqtt-acl", "--out", str(out), "--devices", str(f)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not (out / "passwd").exists()  # nothing half-written


def test_cli_reads_the_devices_from_the_servers_database(
    tmp_path: Path,
    db_url: str,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sessions() as s:
        for path in ("vt", "vt/tt"):
            add_zone(s, path, path, timezone="UTC")
        uc = UseCase(s, cli_actor(), NOW, Settings(data_dir=tmp_path / "data"))
        _device, password = devices.create_device(uc, DeviceCreate(id="loa-01", zone="vt/tt"))
        s.commit()
    monkeypatch.setenv("PA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PA_DATABASE_URL", db_url)
    monkeypatch.setenv("PA_MQTT_PASSWORD", "server-secret")
    get_settings.cache_clear()
    try:
        assert main(["mqtt-acl", "--out", str(tmp_path / "out"), "--prefix", "pa/v2"]) == 0
    finally:
        get_settings.cache_clear()
    assert "1 agent(s)" in capsys.readouterr().out
    users = dict(
        line.split(":", 1) for line in (tmp_path / "out" / "passwd").read_text().splitlines()
    )
    assert ma.verify_password(password, users["loa-01"])  # what `device add` printed works
    assert ma.verify_password("server-secret", users["pa-server"])
    assert "user loa-01\ntopic read pa/v2/cmd/zone/vt\n" in (tmp_path / "out" / "acl").read_text()


# --------------------------------------------------------------------------- real Mosquitto


@dataclass(frozen=True)
class Fleet:
    """A running Mosquitto configured by `pa-server mqtt-acl`, and who may log in to it."""

    port: int
    prefix: str
    server_user: str
    server_password: str
    passwords: dict[str, str]  # device id → plaintext (the test provisioned them)
    zones: dict[str, str]  # device id → zone path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Generate the files with the CLI, start a private Mosquitto on a free port, stop it after."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("Mosquitto is not installed (apt-get install mosquitto)")
    root = tmp_path_factory.mktemp("mosquitto")
    prefix = f"pa-test-{uuid.uuid4().hex[:8]}/v1"
    zones = {"loa-a": "vt/tan-tien/thon-1", "loa-b": "vt/tan-tien/thon-2", "loa-c": "vt/xa-khac"}
    passwords = {d: f"pw-{d}-{uuid.uuid4().hex}" for d in zones}
    devices = root / "devices.csv"
    devices.write_text(
        "id,zone,password_hash\n"
        + "".join(f"{d},{z},{ma.hash_password(passwords[d])}\n" for d, z in zones.items())
    )
    server_password = f"srv-{uuid.uuid4().hex}"
    (root / "server.secret").write_text(server_password)
    out = root / "broker"
    rc = main(
        [
            *("mqtt-acl", "--out", str(out), "--devices", str(devices), "--prefix", prefix),
            *("--server-user", "pa-server", "--server-password-file", str(root / "server.secret")),
        ]
    )
    assert rc == 0
    log = root / "mosquitto.log"
    proc: subprocess.Popen[bytes] | None = None
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        conf = root / "mosquitto.conf"
        conf.write_text(
            (out / "mosquitto-pa.conf").read_text()
            + f"listener {port} 127.0.0.1\npersistence false\nlog_dest stdout\n"
            # Root Mosquitto drops to user `mosquitto`, which cannot enter pytest's 0700 tmp.
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        with log.open("wb") as log_fh:
            proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log_fh, stderr=log_fh)
        if _wait_listening(proc, port):
            break
        proc.kill()
        proc.wait()
        proc = None
    if proc is None:
        pytest.fail(f"Mosquitto did not start:\n{log.read_text()}")
    try:
        yield Fleet(port, prefix, "pa-server", server_password, passwords, zones)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Connect(Protocol):
    """`connect(user)` → a `Client` logged in as that device (or the server), asserted accepted."""

    def __call__(
        self, user: str, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311
    ) -> Client: ...


@pytest.fixture
def connect(fleet: Fleet) -> Iterator[Connect]:
    """Log clients in with the credentials the fleet was provisioned with; close them after."""
    clients: list[Client] = []

    def _connect(user: str, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311) -> Client:
        password = fleet.server_password if user == fleet.server_user else fleet.passwords[user]
        client = Client(fleet.port, user, password, protocol)
        clients.append(client)
        rc = client.connect()
        assert not rc.is_failure, f"{user} refused: {rc}"
        return client

    yield _connect
    for c in clients:
        c.close()


def t(fleet: Fleet, *levels: str) -> str:
    return "/".join((fleet.prefix, *levels))


@pytest.mark.network
def test_anonymous_and_wrong_passwords_are_refused(fleet: Fleet) -> None:
    for user, password in [(None, None), ("loa-a", "wrong"), ("nobody", "x"), ("loa-a", "")]:
        c = Client(fleet.port, user, password)
        try:
            rc = c.connect()
        finally:
            c.close()
        assert rc.is_failure, (user, password)
        assert rc.value in (4, 5, 0x86, 0x87), rc  # bad credentials / not authorised


@pytest.mark.network
def test_device_with_its_hash_generated_password_connects(fleet: Fleet, connect: Connect) -> None:
    connect("loa-a")  # asserts CONNACK success: Mosquitto accepted our $7$ hash
    connect(fleet.server_user)


@pytest.mark.network
def test_device_cannot_publish_other_state_or_any_command(fleet: Fleet, connect: Connect) -> None:
    server = connect(fleet.server_user)
    assert not server.subscribe(t(fleet, "state", "+"))[0].is_failure
    assert not server.subscribe(t(fleet, "event", "+"))[0].is_failure
    b = connect("loa-b")
    for sub in ["cmd/device/loa-b", "timeline/device/loa-b", "cmd/zone/vt", "timeline/zone/vt"]:
        assert not b.subscribe(t(fleet, *sub.split("/")))[0].is_failure

    a = connect("loa-a")
    forged = [
        t(fleet, "state", "loa-b"),
        t(fleet, "event", "loa-b"),
        t(fleet, "cmd", "device", "loa-b"),
        t(fleet, "timeline", "device", "loa-b"),
        t(fleet, "cmd", "zone", "vt"),
        t(fleet, "timeline", "zone", "vt"),
    ]
    for topic in forged:
        a.publish(topic, b"forged by loa-a")  # MQTT 3.1.1: acked, then silently dropped
    a.publish(t(fleet, "state", "loa-b"), b"forged retained", retain=True)

    # Positive control: A's own state and receipt do reach the server, after the forgeries.
    own_state = (t(fleet, "state", "loa-a"), b'{"device_id":"loa-a","online":true}')
    a.publish(*own_state)
    own_event = (t(fleet, "event", "loa-a"), b"receipt")
    a.publish(*own_event)
    got = server.collect_until(own_event)
    assert got == [own_state, own_event]

    # B's control: the server's command on B's topic arrives; nothing forged came before it.
    barrier = (t(fleet, "cmd", "device", "loa-b"), b"from the server")
    server.publish(*barrier)
    assert b.collect_until(barrier) == [barrier]


@pytest.mark.network
def test_mqtt5_device_is_told_its_forged_publish_is_not_authorised(
    fleet: Fleet, connect: Connect
) -> None:
    a = connect("loa-a", MQTTProtocolVersion.MQTTv5)
    assert a.publish(t(fleet, "cmd", "zone", "vt"), b"forged").value == 0x87
    assert a.publish(t(fleet, "state", "loa-b"), b"forged").value == 0x87
    assert not a.publish(t(fleet, "state", "loa-a"), b"{}").is_failure


@pytest.mark.network
def test_device_cannot_read_another_devices_or_zones_topics(fleet: Fleet, connect: Connect) -> None:
    server = connect(fleet.server_user)
    # A retained timeline for B's village exists before A subscribes.
    server.publish(t(fleet, "timeline", "zone", "vt", "tan-tien", "thon-2"), b"b", retain=True)
    a = connect("loa-a")
    # Mosquitto 2.0 grants the SUBACK and filters on delivery (a later version may say 0x80):
    # either way nothing of B's may arrive.
    for topic in [
        t(fleet, "cmd", "device", "loa-b"),
        t(fleet, "timeline", "zone", "vt", "tan-tien", "thon-2"),
        t(fleet, "state", "+"),
        t(fleet, "#"),
    ]:
        a.subscribe(topic)
    b = connect("loa-b")
    b.publish(t(fleet, "state", "loa-b"), b"b's state")
    server.publish(t(fleet, "cmd", "device", "loa-b"), b"for b only")
    server.publish(t(fleet, "cmd", "zone", "vt", "xa-khac"), b"for another commune")
    barrier = (t(fleet, "cmd", "device", "loa-a"), b"for a")
    server.publish(*barrier)
    got = a.collect_until(barrier)
    assert barrier in got
    leaked = {b"b", b"b's state", b"for b only", b"for another commune"} & {p for _, p in got}
    assert leaked == set()


@pytest.mark.network
def test_server_commands_and_zone_timelines_reach_the_device(
    fleet: Fleet, connect: Connect
) -> None:
    server = connect(fleet.server_user)
    retained = (t(fleet, "timeline", "zone", "vt"), b"district timeline")
    server.publish(*retained, retain=True)
    a = connect("loa-a")
    for topic in Topics(fleet.prefix).agent_subscriptions("loa-a", fleet.zones["loa-a"]):
        assert not a.subscribe(topic)[0].is_failure
    sent = [
        (t(fleet, "cmd", "zone", "vt", "tan-tien"), b"commune command"),
        (t(fleet, "timeline", "device", "loa-a"), b"own timeline"),
        (t(fleet, "cmd", "device", "loa-a"), b"own command"),
    ]
    for msg in sent:
        assert not server.publish(*msg).is_failure
    assert a.collect_until(sent[-1]) == [retained, *sent]


def test_cli_creates_the_server_password_once_and_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PA_MQTT_PASSWORD", raising=False)
    devices = tmp_path / "d.csv"
    devices.write_text(f"id,zone,password_hash\nloa-01,vt,{ma.hash_password('pw')}\n")
    out = tmp_path / "out"
    args = ["mqtt-acl", "--out", str(out), "--devices", str(devices)]
    assert main(args) == 0
    secret = (out / "server-password").read_text().strip()
    assert stat.S_IMODE((out / "server-password").stat().st_mode) == 0o600
    assert main(args) == 0
    assert (out / "server-password").read_text().strip() == secret
    server_line = (out / "passwd").read_text().splitlines()[0]
    assert ma.verify_password(secret, server_line.removeprefix("pa-server:"))
    assert main([*args, "--owner", "no-such-user-here"]) == 2
    assert "no such user" in capsys.readouterr().err
