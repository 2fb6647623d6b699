"""`pa-server device add` and the demo district."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pa_server import cli
from pa_server.config import Settings, get_settings
from pa_server.db.models import Device, Schedule
from pa_server.messaging.broker_acl import verify_password
from pa_server.services import provisioning
from pa_server.services.demo import seed
from tests.pa_server.server_fixtures import NOW, FakeRenderer

KEYS = [{"kid": "k1", "alg": "Ed25519", "public_key": "QUJD"}]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Settings]:
    monkeypatch.setenv("PA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PA_DATABASE_URL", db_url)
    monkeypatch.setenv("PA_PUBLIC_URL", "http://pa.example:8000")
    monkeypatch.setattr(provisioning, "server_public_keys", lambda _settings: KEYS)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_device_add_registers_and_prints_agent_toml(
    env: Settings, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sessions, env, renderer=None, now=NOW)
    code = cli.main(["device", "add", "loa-moi", "--zone", "vinh-tuong/tan-tien/thon-1"])
    assert code == 0
    config = tomllib.loads(capsys.readouterr().out)
    assert config["device"] == {"id": "loa-moi", "zone": "vinh-tuong/tan-tien/thon-1"}
    assert config["mqtt"]["username"] == "loa-moi"
    assert config["server"] == {"url": "http://pa.example:8000", "public_keys": {"k1": "QUJD"}}
    assert config["topic_prefix"] == "pa/v2"
    with sessions() as s:
        stored = s.get(Device, "loa-moi")
        assert stored is not None
        assert verify_password(config["mqtt"]["password"], stored.credential_hash)


def test_device_add_refuses_unknown_zone(
    env: Settings, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["device", "add", "loa-x", "--zone", "nowhere"]) == 2
    assert "unknown_zone" in capsys.readouterr().err
    with sessions() as s:
        assert s.get(Device, "loa-x") is None


def test_demo_seeds_a_living_district_once(
    sessions: sessionmaker[Session], tmp_path: Path, db_url: str
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=db_url)
    renderer = FakeRenderer(tmp_path / "media")
    assert seed(sessions, settings, renderer=renderer, now=NOW)
    assert not seed(sessions, settings, renderer=renderer, now=NOW)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Device)) == 9
        assert s.scalar(select(func.count()).select_from(Schedule)) == 4
    assert any("Tân Tiến" in (r.text or "") for r in renderer.requests)


def test_run_refuses_a_taken_port_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("PA_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("PA_BROKER_PORT", str(port))
        get_settings.cache_clear()
        try:
            assert cli.main(["run", "--port", str(free)]) == 2
        finally:
            get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "PA_BROKER_PORT" in err and "Traceback" not in err
