"""`pa-server user …`: add and list accounts, make API tokens for scripts."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from pa_server.auth import accounts
from pa_server.auth.errors import AccountError
from pa_server.auth.models import User
from pa_server.auth.rights import Role
from pa_server.cli import CommandError, console_sessions
from pa_server.config import get_settings
from pa_server.services import accounts as account_cases
from pa_server.services.context import UseCase, cli_actor


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("user", help="manage accounts")
    user_sub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    add = user_sub.add_parser("add", help="add an account (asks for the password)")
    add.add_argument("name", help="user name (lower-case letters, digits, . _ -)")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument(
        "--zone", action="append", default=[], metavar="PATH", help="zone path (repeatable)"
    )
    add.add_argument("--full-name", default="", help="name shown on pages")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.set_defaults(func=add_user)

    lst = user_sub.add_parser("list", help="list accounts")
    lst.set_defaults(func=list_users)

    pw = user_sub.add_parser("passwd", help="set a new password (ends the user's open sessions)")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", help="read it from standard input")
    pw.set_defaults(func=set_password)

    tok = user_sub.add_parser("token", help="make an API token for a script (printed once)")
    tok.add_argument("name", help="user the token acts as")
    tok.add_argument("--label", default="script", help="what the token is for")
    tok.set_defaults(func=make_token)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Mật khẩu / password: ")
    if getpass.getpass("Nhập lại / again: ") != first:
        raise CommandError("the two passwords differ")
    return first


def add_user(args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    with console_sessions()() as db:
        try:
            # The admin's use case, so a zone that does not exist is refused here too.
            uc = UseCase(db, cli_actor(), datetime.now(UTC), get_settings())
            user = account_cases.add_user(
                uc,
                args.name,
                role=args.role,
                password=password,
                zones=args.zone or (),
                full_name=args.full_name,
            )
        except AccountError as exc:
            raise CommandError(f"{exc.code}: {exc.message_vi}") from exc
        db.commit()
        zones = ", ".join(user.zones) or "all zones"
        print(f"added {user.username} ({user.role}; {zones})")
    return 0


def list_users(args: argparse.Namespace) -> int:
    with console_sessions()() as db:
        for user in accounts.list_users(db):
            state = "" if user.active else " (disabled)"
            print(f"{user.username}\t{user.role}\t{','.join(user.zones) or '*'}{state}")
    return 0


def set_password(args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    with console_sessions()() as db:
        user = _find(db, args.name)
        try:
            accounts.update_user(db, user, password=password)
        except AccountError as exc:
            raise CommandError(f"{exc.code}: {exc.message_vi}") from exc
        db.commit()
    print(f"new password set for {args.name}; their open sessions are closed")
    return 0


def _find(db: DbSession, name: str) -> User:
    user = db.scalar(select(User).where(User.username == name.strip().lower()))
    if user is None:
        raise CommandError(f"no user named {name!r}")
    return user


def make_token(args: argparse.Namespace) -> int:
    with console_sessions()() as db:
        user = _find(db, args.name)
        try:
            token, _row = accounts.create_token(db, user, args.label, now=datetime.now(UTC))
        except AccountError as exc:
            raise CommandError(f"{exc.code}: {exc.message_vi}") from exc
        db.commit()
    print(token)
    return 0
