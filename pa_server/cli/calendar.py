"""`pa-server calendar`: Vietnamese public holidays and lunar dates, day by day, to check a
lunar or holiday schedule against (reads no database, changes nothing)."""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lunar_vn import can_chi

from pa_server.cli import CommandError

MAX_DAYS = 3660


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "calendar", help="Vietnamese public holidays and lunar dates, day by day"
    )
    p.add_argument("start", nargs="?", help="first day, YYYY-MM-DD (default: today)")
    p.add_argument("--days", type=int, default=60, help="how many days (default 60)")
    p.add_argument("--all", action="store_true", help="every day, not only days with notes")
    p.set_defaults(func=run_calendar)


def calendar_lines(start: date, days: int, *, every_day: bool = False) -> list[str]:
    """One line per day: civil date, lunar date and year name, the day's notes."""
    from pa_server import planning
    from pa_server.web.calendar import day_notes

    lines = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        notes = day_notes(day)
        if not notes and not every_day:
            continue
        lunar = planning.lunar_day(day)
        said = "-"
        if lunar is not None:
            leap = " nhuận" if lunar.leap else ""
            said = f"{lunar.day}/{lunar.month}{leap} {can_chi.get_year_can_chi(lunar.year)}"
        lines.append("  ".join([day.isoformat(), said, "; ".join(notes)]).rstrip())
    return lines


def run_calendar(args: argparse.Namespace) -> int:
    from pa_server.config import get_settings

    if not 1 <= args.days <= MAX_DAYS:
        raise CommandError(f"--days must be between 1 and {MAX_DAYS}")
    if args.start:
        try:
            start = date.fromisoformat(args.start)
        except ValueError as exc:
            raise CommandError(f"not a date (YYYY-MM-DD): {args.start!r}") from exc
    else:
        start = datetime.now(ZoneInfo(get_settings().timezone)).date()
    for line in calendar_lines(start, args.days, every_day=args.all):
        print(line)
    return 0
