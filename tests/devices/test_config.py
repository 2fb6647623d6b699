"""The agent's config file: what it accepts and how it names what is wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from devices.cli import main
from devices.config import config_from_mapping, load_config
from devices.errors import ConfigError
from tests.devices.support import Signer

REPO = Path(__file__).resolve().parents[2]

GOOD = """
topic_prefix = "pa/v1"
[device]
id = "loa-01"
zone = "vinh-tuong/tan-tien"
[mqtt]
url = "mqtts://broker.example:8883"
username = "loa-01"
password = "s3cret"
[server]
url = "https://pa.example/"
public_keys = {{ k1 = "{key}" }}
[paths]
state_dir = "/var/lib/pa-device"
[player]
kind = "null"
[relay]
pin = 17
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_loads_with_defaults_filled_in(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD.format(key=Signer().public_b64)), env={})
    assert cfg.device.zone == "vinh-tuong/tan-tien"
    assert cfg.server.url == "https://pa.example"
    assert cfg.relay.pre_roll_s == 3.0
    assert cfg.mqtt.keepalive == 30
    assert set(cfg.public_keys()) == {"k1"}


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda t: t.replace('zone = "vinh-tuong/tan-tien"\n', ""), "device.zone: missing"),
        (lambda t: t.replace('id = "loa-01"', 'id = "Loa 01"'), "device.id"),
        (lambda t: t.replace("mqtts://", "tcp://"), "mqtt.url"),
        (lambda t: t.replace('kind = "null"', 'kind = "sonos"'), "player.kind"),
        (lambda t: t.replace("pin = 17", "pin = 17\npre_rol_s = 2"), "relay.pre_rol_s: unknown"),
        (lambda t: t.replace("https://pa.example/", "ftp://pa.example"), "server.url"),
    ],
)
def test_a_bad_field_is_named(tmp_path: Path, edit: object, named: str) -> None:
    text = edit(GOOD.format(key=Signer().public_b64))  # type: ignore[operator]
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(write(tmp_path, text), env={})


def test_a_bad_public_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.public_keys"):
        load_config(write(tmp_path, GOOD.format(key="bm90IGEga2V5")), env={})


def test_env_overrides_one_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.format(key=Signer().public_b64))
    cfg = load_config(path, env={"PA_DEVICE_MQTT__PASSWORD": "from-env", "OTHER": "x"})
    assert cfg.mqtt.password == "from-env"


def test_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[device\n"), env={})


def test_run_with_a_bad_config_exits_non_zero_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.format(key=Signer().public_b64).replace('url = "https', 'url = "x'))
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "server.url" in err
    assert "Traceback" not in err


def test_the_example_config_loads_once_a_key_is_filled_in() -> None:
    example = REPO / "deploy" / "config.example.toml"
    text = example.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server\.public_keys"):  # no unsafe default key
        load_config(example, env={})
    filled = text.replace("REPLACE-WITH-THE-SERVER-PUBLIC-KEY-BASE64", Signer().public_b64)
    cfg = config_from_mapping(tomllib.loads(filled), env={})
    assert cfg.relay.pin == 17 and cfg.relay.pre_roll_s == 3


def test_the_systemd_unit_runs_unprivileged_and_restarts() -> None:
    unit = (REPO / "deploy" / "pa-device.service").read_text(encoding="utf-8")
    for line in (
        "User=pa-device",
        "SupplementaryGroups=audio gpio",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "pa-device run --config /etc/pa-device/config.toml",
    ):
        assert line in unit
