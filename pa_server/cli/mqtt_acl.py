"""`pa-server mqtt-acl`: write Mosquitto's password file, ACL and a conf snippet for the fleet."""

from __future__ import annotations

import argparse
import csv
import logging
import os
import pwd
import tomllib
from pathlib import Path
from typing import Any

from pa_server.cli import CommandError
from pa_server.messaging.broker_acl import (
    DEFAULT_SERVER_USER,
    DeviceCredential,
    MqttAuthError,
    hash_password,
    validate_username,
    write_acl,
    write_mosquitto_conf,
    write_password_file,
)

log = logging.getLogger(__name__)

SERVER_SECRET_NAME = "server-password"  # noqa: S105  (a file name, not a secret)
DEVICE_COLUMNS = ("id", "zone", "password_hash")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "mqtt-acl", help="write Mosquitto passwd, acl and mosquitto-pa.conf for every agent"
    )
    p.add_argument("--out", type=Path, required=True, help="directory to write the files into")
    p.add_argument(
        "--server-user",
        default=None,
        help="the server's broker username (default PA_MQTT_USERNAME or pa-server)",
    )
    p.add_argument(
        "--server-password-file",
        type=Path,
        default=None,
        help="file holding the server's broker password (default PA_MQTT_PASSWORD, "
        f"else OUT/{SERVER_SECRET_NAME}, created once)",
    )
    p.add_argument("--prefix", default=None, help="topic prefix (default PA_TOPIC_PREFIX)")
    p.add_argument(
        "--devices",
        type=Path,
        default=None,
        help="CSV (id,zone,password_hash) or TOML ([[devices]]) instead of the server's database",
    )
    p.add_argument("--owner", default=None, help="chown passwd and acl to this user (mosquitto)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pa_server.config import get_settings

    settings = get_settings()
    out: Path = args.out.resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create {out}: {exc.strerror}") from exc
    server_user = args.server_user or settings.mqtt_username or DEFAULT_SERVER_USER
    prefix = args.prefix or settings.topic_prefix
    devices = load_devices(args)
    owner = _owner_ids(args.owner) if args.owner else None  # refuse before writing anything
    server_password = _server_password(args, settings.mqtt_password, out)
    try:
        validate_username(server_user)
        entries = [(server_user, hash_password(server_password))]
        entries += [(d.device_id, d.password_hash) for d in devices]
        write_password_file(out / "passwd", entries)
        write_acl(
            out / "acl",
            prefix=prefix,
            server_user=server_user,
            devices=[(d.device_id, d.zone_path) for d in devices],
        )
        write_mosquitto_conf(out / "mosquitto-pa.conf", out / "passwd", out / "acl")
    except MqttAuthError as exc:
        raise CommandError(str(exc)) from exc
    if owner is not None:
        _chown(owner, out / "passwd", out / "acl")
    print(
        f"wrote {out}/passwd, acl, mosquitto-pa.conf: server user {server_user!r}, "
        f"{len(devices)} agent(s), prefix {prefix!r}"
    )
    return 0


def load_devices(args: argparse.Namespace) -> list[DeviceCredential]:
    """The agents to grant: from `--devices FILE` if given, else from the server's database."""
    if args.devices is not None:
        return load_devices_file(args.devices)
    return load_devices_from_database()


def load_devices_from_database() -> list[DeviceCredential]:
    """Every registered device with its zone and stored `$7$` hash (the server's device table)."""
    from sqlalchemy.exc import SQLAlchemyError

    from pa_server.config import get_settings
    from pa_server.db.broker_accounts import device_credentials
    from pa_server.db.engine import make_engine, session_factory, upgrade

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            return device_credentials(session)
    except SQLAlchemyError as exc:
        raise CommandError(f"cannot read the devices from the database: {exc}") from exc
    except MqttAuthError as exc:
        raise CommandError(f"a stored device login is unusable: {exc}") from exc
    finally:
        engine.dispose()


def load_devices_file(path: Path) -> list[DeviceCredential]:
    """Read agents from CSV (header id,zone,password_hash) or TOML (`[[devices]]` tables)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path} is not UTF-8") from exc
    rows = _toml_rows(path, text) if path.suffix == ".toml" else _csv_rows(path, text)
    devices = []
    for where, row in rows:
        missing = [c for c in DEVICE_COLUMNS if not isinstance(row.get(c), str) or not row[c]]
        if missing:
            raise CommandError(f"{path} {where}: missing {', '.join(missing)}")
        extra = sorted(set(row) - set(DEVICE_COLUMNS))
        if extra:
            raise CommandError(f"{path} {where}: unknown field(s) {', '.join(extra)}")
        try:
            devices.append(DeviceCredential(row["id"], row["zone"], row["password_hash"]))
        except MqttAuthError as exc:
            raise CommandError(f"{path} {where}: {exc}") from exc
    return devices


def _csv_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or set(reader.fieldnames) != set(DEVICE_COLUMNS):
        raise CommandError(f"{path}: the CSV header must be {','.join(DEVICE_COLUMNS)}")
    # A short row gives None values and a long one a None key: both reported, never dropped.
    return [
        (f"line {reader.line_num}", {k or "<extra column>": v for k, v in row.items()})
        for row in reader
    ]


def _toml_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CommandError(f"{path}: not TOML: {exc}") from exc
    tables = data.pop("devices", [])
    if data or not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise CommandError(f"{path}: expected only [[devices]] tables")
    return [(f"device #{i + 1}", t) for i, t in enumerate(tables)]


def _server_password(args: argparse.Namespace, from_settings: str | None, out: Path) -> str:
    """The server's broker password: --server-password-file, PA_MQTT_PASSWORD, or OUT's file."""
    if args.server_password_file is not None:
        return _read_secret(args.server_password_file)
    if from_settings:
        return from_settings
    path = out / SERVER_SECRET_NAME
    if path.exists():
        return _read_secret(path)
    import secrets

    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    log.warning("created %s: set PA_MQTT_PASSWORD to its content for the server", path)
    return password


def _read_secret(path: Path) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read the server password from {path}") from exc
    if not secret:
        raise CommandError(f"{path} is empty: no server password")
    return secret


def _owner_ids(owner: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(owner)
    except KeyError as exc:
        raise CommandError(f"no such user {owner!r}") from exc
    return entry.pw_uid, entry.pw_gid


def _chown(ids: tuple[int, int], *paths: Path) -> None:
    for path in paths:
        try:
            os.chown(path, *ids)
        except PermissionError as exc:
            raise CommandError(f"cannot chown {path} to uid {ids[0]}: run as root") from exc
