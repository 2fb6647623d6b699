"""`pa-server device add ID --zone PATH`: register a loudspeaker agent, print its config.

`pa-server device add-sim --count N --zone PATH -o FILE` registers the ids `pa-device
simulate` uses and writes their broker passwords for its `--credentials FILE`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import tomli_w

from devices.protocol import utc_now
from devices.simulate import simulated_device_id
from pa_server.auth.audit import audited
from pa_server.cli import CommandError
from pa_server.config import Settings, get_settings
from pa_server.db.engine import make_engine, session_factory, upgrade
from pa_server.messaging.broker_acl import DEFAULT_SERVER_USER
from pa_server.schemas.devices import DeviceCreate
from pa_server.services import devices
from pa_server.services.context import UseCase, cli_actor
from pa_server.services.errors import NotFound, ServiceError
from pa_server.services.provisioning import broker_url, device_config_toml

#: More simulated agents than this belong in several `add-sim` runs (and several machines).
MAX_SIMULATED = 10_000


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("device", help="manage loudspeaker agents")
    dsub = p.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    add = dsub.add_parser("add", help="register a device and print its agent config (TOML)")
    add.add_argument("id", help="device id, [a-z0-9-]{1,64}")
    add.add_argument("--zone", required=True, help="zone path, e.g. vinh-tuong/tan-tien/thon-1")
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--location", default="", help="where it hangs")
    add.add_argument("-o", "--output", type=Path, help="write the config here (mode 0600)")
    add.set_defaults(func=add_device)
    sim = dsub.add_parser(
        "add-sim",
        help="register the agents `pa-device simulate` runs and write their broker passwords",
    )
    sim.add_argument("--count", type=int, required=True, help="number of simulated agents")
    sim.add_argument("--zone", required=True, help="zone path of every simulated agent")
    sim.add_argument("--id-prefix", default="sim", help="device ids are <id-prefix>-<n>")
    sim.add_argument("--first", type=int, default=0, help="number of the first agent")
    sim.add_argument(
        "-o", "--output", type=Path, required=True, help="credentials file to write (mode 0600)"
    )
    sim.set_defaults(func=add_simulated)


def _refuse_server_username(settings: Settings, device_ids: list[str]) -> None:
    """A device may not take the server's broker username: it could never log in."""
    server_user = settings.mqtt_username or DEFAULT_SERVER_USER
    if server_user in device_ids:
        raise CommandError(f"{server_user!r} is the server's broker username: pick another id")


def _mosquitto_note(settings: Settings) -> None:
    if settings.mqtt_url is not None:  # the embedded broker reads the database at each login
        print(
            "note: PA_MQTT_URL is set: run `pa-server mqtt-acl --out DIR` and reload the broker "
            "(systemctl reload mosquitto) before these credentials work there",
            file=sys.stderr,
        )


def add_device(args: argparse.Namespace) -> int:
    settings = get_settings()
    _refuse_server_username(settings, [args.id])
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        with audited(session_factory(engine))() as session:
            data = DeviceCreate(id=args.id, zone=args.zone, name=args.name, location=args.location)
            uc = UseCase(session, cli_actor(), utc_now(), settings)
            device, password = devices.create_device(uc, data)
            # The same text the Thiết bị page offers for download.
            text = device_config_toml(device, password, settings)
            session.commit()
    except ServiceError as exc:
        raise CommandError(f"{exc.code}: {exc.message}") from exc
    finally:
        engine.dispose()
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_secret(args.output, text)
        print(f"device {device.id} registered; config written to {args.output}", file=sys.stderr)
    _mosquitto_note(settings)
    return 0


def add_simulated(args: argparse.Namespace) -> int:
    """Register (or give new passwords to) `<id-prefix>-<n>` and write their passwords."""
    if not 1 <= args.count <= MAX_SIMULATED:
        raise CommandError(f"--count must be 1..{MAX_SIMULATED}")
    if args.first < 0:
        raise CommandError("--first must be 0 or more")
    settings = get_settings()
    ids = [
        simulated_device_id(args.id_prefix, n) for n in range(args.first, args.first + args.count)
    ]
    _refuse_server_username(settings, ids)
    passwords: dict[str, str] = {}
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        with audited(session_factory(engine))() as session:
            uc = UseCase(session, cli_actor(), utc_now(), settings)
            for device_id in ids:
                try:
                    existing = devices.get_device(session, device_id)
                except NotFound:
                    data = DeviceCreate(id=device_id, zone=args.zone, name="Loa mô phỏng")
                    _device, passwords[device_id] = devices.create_device(uc, data)
                    continue
                if existing.zone_path != args.zone:
                    raise CommandError(
                        f"device {device_id} exists in zone {existing.zone_path}, not {args.zone}"
                    )
                passwords[device_id] = devices.reset_password(uc, device_id)
            session.commit()
    except ServiceError as exc:
        raise CommandError(f"{exc.code}: {exc.message}") from exc
    finally:
        engine.dispose()
    header = (
        "# Broker logins for `pa-device simulate --credentials` (from `pa-server device "
        "add-sim`).\n# Keep it mode 0600: it holds passwords.\n\n"
    )
    _write_secret(args.output, header + tomli_w.dumps({"passwords": passwords}))
    print(
        f"{len(ids)} simulated agents registered in {args.zone}; passwords in {args.output}. "
        f"Run: pa-device simulate --count {args.count} --first {args.first} --id-prefix "
        f"{args.id_prefix} --zone {args.zone} --prefix {settings.topic_prefix} --server "
        f"{settings.resolved_public_url} --broker {broker_url(settings)} "
        f"--credentials {args.output}",
        file=sys.stderr,
    )
    _mosquitto_note(settings)
    return 0


def _write_secret(path: Path, text: str) -> None:
    """Write `text` to `path`, mode 0600 from the first byte (it holds passwords)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: tighten it
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
