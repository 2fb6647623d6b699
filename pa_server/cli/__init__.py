"""`pa-server` command line. Each sub-command lives in its own module with a `register()`."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker


def command_modules() -> list[str]:
    """Every module of this package that adds sub-commands (it defines `register(subparsers)`)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 2, no traceback."""


def console_sessions() -> sessionmaker[Session]:
    """Sessions on the configured database (migrated), audited as the person at the console."""
    from pa_server.auth.audit import INFO_ACTOR, audited
    from pa_server.config import get_settings
    from pa_server.db.engine import make_engine, session_factory, upgrade
    from pa_server.services.context import cli_actor

    engine = make_engine(get_settings().resolved_database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    sessions.configure(info={INFO_ACTOR: cli_actor()})
    return audited(sessions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pa-server", description="Commune public-address server (Vietnamese announcements)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in command_modules():
        importlib.import_module(f"pa_server.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"pa-server {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
