"""`pa-device` command line: `run` one agent, `simulate` many."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from devices.errors import DeviceError

log = logging.getLogger("devices")


def _run(args: argparse.Namespace) -> int:
    from devices.agent import Agent
    from devices.config import load_config

    config = load_config(Path(args.config))
    with Agent(config) as agent:

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            agent.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        agent.run()
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from devices.simulate import SimulateOptions, simulate

    return simulate(SimulateOptions.from_args(args))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pa-device", description="Loudspeaker agent.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the agent")
    run.add_argument("--config", default="/etc/pa-device/config.toml", help="TOML config file")
    run.set_defaults(func=_run)
    sim = sub.add_parser("simulate", help="run N simulated agents (file or null player)")
    from devices.simulate import add_arguments

    add_arguments(sim)
    sim.set_defaults(func=_simulate)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except DeviceError as exc:
        print(f"pa-device: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
