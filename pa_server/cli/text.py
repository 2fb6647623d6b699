"""`pa-server normalize` and `pa-server scripts`: the spoken form of a text, the script library."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from announcements.abbreviations import Abbreviations, load_abbreviations
from announcements.errors import AnnouncementError
from announcements.library import fill, get_script, list_scripts
from announcements.normalize import check_text, split_sentences
from pa_server.cli import CommandError

#: An operator's extra abbreviation table (TSV, same format as announcements/abbreviations.tsv).
ABBREVIATIONS_ENV = "PA_ABBREVIATIONS_FILE"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "normalize", help="print the spoken form of a Vietnamese text"
    )
    p.add_argument("text", help="the text to normalise")
    p.add_argument(
        "--abbreviations",
        type=Path,
        default=None,
        help=f"extra abbreviation table (TSV; default ${ABBREVIATIONS_ENV} if set)",
    )
    p.add_argument("--pieces", action="store_true", help="print one TTS piece per line")
    p.set_defaults(func=run_normalize)

    s: argparse.ArgumentParser = sub.add_parser("scripts", help="list or show library scripts")
    s.add_argument("name", nargs="?", help="show this script (filled with --set values)")
    s.add_argument(
        "--set",
        dest="values",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="placeholder value, e.g. commune='Tân Tiến' (repeatable)",
    )
    s.set_defaults(func=run_scripts)


def _abbreviations(path: Path | None) -> Abbreviations | None:
    """The extra table from --abbreviations or the environment, merged onto the built-in one."""
    chosen = path or (
        Path(os.environ[ABBREVIATIONS_ENV]) if os.environ.get(ABBREVIATIONS_ENV) else None
    )
    if chosen is None:
        return None
    try:
        return load_abbreviations(chosen)
    except AnnouncementError as exc:
        raise CommandError(str(exc)) from exc


def run_normalize(args: argparse.Namespace) -> int:
    table = _abbreviations(args.abbreviations)
    try:
        spoken = check_text(args.text, abbreviations=table)
    except AnnouncementError as exc:
        raise CommandError(str(exc)) from exc
    print("\n".join(split_sentences(spoken)) if args.pieces else spoken)
    return 0


def _parse_values(pairs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--set expects KEY=VALUE, got {pair!r}")
        values[key.strip()] = value
    return values


def run_scripts(args: argparse.Namespace) -> int:
    try:
        if args.name is None:
            if args.values:
                raise CommandError("--set needs a script name")
            for script in list_scripts():
                holes = ", ".join(f"{{{p}}}" for p in script.placeholders) or "-"
                print(
                    f"{script.name:<20} {script.title}\n{'':<20} placeholders: {holes}; "
                    f"repeats: {script.repeats}; level: {script.level}"
                )
            return 0
        script = get_script(args.name)
        header = f"# {script.title} ({script.level}, repeats {script.repeats})"
        if not args.values:
            print(f"{header}\n{script.text}")
            return 0
        text = fill(script, _parse_values(args.values))
        spoken = check_text(text)
        print(f"{header}\n{text}\n\n# spoken form\n{spoken}")
    except AnnouncementError as exc:
        raise CommandError(str(exc)) from exc
    return 0
