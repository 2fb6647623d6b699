"""`pa-server zone add/list/rename/remove`: the zone tree, named in Vietnamese.

`pa-server zone add "Xã Tân Tiến" --parent vinh-tuong` derives the slug path
(`vinh-tuong/xa-tan-tien`) from the name and prints it: scripts use paths, people use names.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

from devices.protocol import utc_now
from pa_server.cli import CommandError, console_sessions
from pa_server.config import get_settings
from pa_server.schemas.zones import ZoneCreate, ZoneUpdate
from pa_server.services import zones
from pa_server.services.context import UseCase, cli_actor
from pa_server.services.errors import ServiceError

T = TypeVar("T")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("zone", help="manage the zone tree")
    zsub = p.add_subparsers(dest="zone_command", required=True, metavar="ACTION")
    add = zsub.add_parser("add", help="add a zone by its Vietnamese name; prints its path")
    add.add_argument("name", help='Vietnamese name, e.g. "Xã Tân Tiến"')
    add.add_argument("--parent", default="", help="parent zone path (none: a top-level zone)")
    add.set_defaults(func=add_zone)
    ls = zsub.add_parser("list", help="print every zone: path, then name")
    ls.set_defaults(func=list_zones)
    ren = zsub.add_parser("rename", help="give a zone a new name (its path stays)")
    ren.add_argument("path")
    ren.add_argument("name")
    ren.set_defaults(func=rename_zone)
    rm = zsub.add_parser("remove", help="remove an empty zone")
    rm.add_argument("path")
    rm.set_defaults(func=remove_zone)


def _run(work: Callable[[UseCase], T]) -> T:
    """Run one use case as the person at the console, committed if it succeeds."""
    with console_sessions()() as db:
        try:
            result = work(UseCase(db, cli_actor(), utc_now(), get_settings()))
        except ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        db.commit()
        return result


def add_zone(args: argparse.Namespace) -> int:
    path = _run(
        lambda uc: zones.create_zone(uc, ZoneCreate(parent=args.parent, name=args.name)).path
    )
    print(path)
    return 0


def list_zones(args: argparse.Namespace) -> int:
    with console_sessions()() as db:
        for zone in zones.list_zones(db):
            print(f"{zone.path}\t{zone.name}")
    return 0


def rename_zone(args: argparse.Namespace) -> int:
    _run(lambda uc: zones.update_zone(uc, args.path, ZoneUpdate(name=args.name)))
    return 0


def remove_zone(args: argparse.Namespace) -> int:
    _run(lambda uc: zones.delete_zone(uc, args.path))
    return 0
