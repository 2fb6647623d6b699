"""`pa-device` command line (the agent)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pa-device", description="Loudspeaker agent.")
    parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
