"""`pa-server device add ID --zone PATH`: register a loudspeaker agent, print its config."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from devices.protocol import utc_now
from pa_server.auth.audit import audited
from pa_server.cli import CommandError
from pa_server.config import Settings, get_settings
from pa_server.db.engine import make_engine, session_factory, upgrade
from pa_server.schemas.devices import DeviceCreate
from pa_server.services import devices
from pa_server.services.context import UseCase, cli_actor
from pa_server.services.errors import ServiceError
from pa_server.services.provisioning import agent_config, agent_config_toml


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


def server_public_keys(settings: Settings) -> list[dict[str, str]]:
    """The server's public signing keys (made on first use, like at server start)."""
    from pa_server.messaging.signing import ServerKeys

    keys: list[dict[str, str]] = ServerKeys.load_or_create(settings.data_dir).public_keys()
    return keys


def add_device(args: argparse.Namespace) -> int:
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        with audited(session_factory(engine))() as session:
            data = DeviceCreate(id=args.id, zone=args.zone, name=args.name, location=args.location)
            uc = UseCase(session, cli_actor(), utc_now(), settings)
            device, password = devices.create_device(uc, data)
            keys = server_public_keys(settings)
            config = agent_config(
                device_id=device.id,
                zone=device.zone_path,
                password=password,
                settings=settings,
                public_keys=keys,
            )
            session.commit()
    except ServiceError as exc:
        raise CommandError(f"{exc.code}: {exc.message}") from exc
    finally:
        engine.dispose()
    text = agent_config_toml(config)
    if args.output is None:
        sys.stdout.write(text)
    else:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"device {device.id} registered; config written to {args.output}", file=sys.stderr)
    return 0
