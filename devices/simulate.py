"""`pa-device simulate`: many agents in one process (and, past a few hundred, several processes).

Each simulated agent is a full `Agent` with its own MQTT session, state folder and file or
null player. paho's network loop uses `select()`, which cannot watch descriptors above 1024: an
agent holds five (its MQTT socket, paho's two wake-up sockets, the HTTP keep-alive connection
and its receipt journal), so about 200 agents per process is the ceiling and larger fleets are
split over child processes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from devices import protocol
from devices.agent import Agent
from devices.config import AgentConfig, config_from_mapping
from devices.errors import ConfigError

log = logging.getLogger(__name__)

#: Agents per process: each holds five descriptors (select() stops at 1024); 250 left the
#: 205th and later agents of a process silently unconnected (measured by bench/fanout.py).
PER_PROCESS = 180


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `simulate` sub-command's options."""
    parser.add_argument("--count", type=int, required=True, help="number of agents")
    parser.add_argument("--zone", required=True, help="zone path of every agent, e.g. a/b/c")
    parser.add_argument("--server", required=True, help="server base URL (keys, clock, media)")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="MQTT broker URL")
    parser.add_argument("--player", choices=("null", "file"), default="null")
    parser.add_argument("--output", help="folder for the file player (one sub-folder per agent)")
    parser.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="KID=BASE64",
        help="server key (repeatable); fetched from GET {server}/api/v1/keys when absent",
    )
    parser.add_argument("--prefix", default=protocol.DEFAULT_PREFIX, help="topic prefix")
    parser.add_argument("--id-prefix", default="sim", help="device ids are <id-prefix>-<n>")
    parser.add_argument("--first", type=int, default=0, help="number of the first agent")
    parser.add_argument("--state-dir", help="state folders (default: a temporary folder)")
    parser.add_argument("--username", help="broker user name shared by the simulated agents")
    parser.add_argument("--password", help="broker password shared by the simulated agents")
    parser.add_argument(
        "--credentials",
        help="TOML file of each agent's broker password (`pa-server device add-sim -o FILE`)",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--per-process", type=int, default=PER_PROCESS, help=argparse.SUPPRESS)


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    """The parsed `simulate` options."""

    count: int
    zone: str
    server: str
    broker: str
    player: str
    output: Path | None
    public_keys: dict[str, str]
    prefix: str
    id_prefix: str
    first: int
    state_dir: Path | None
    username: str | None
    password: str | None
    credentials: Path | None
    duration: float | None
    per_process: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SimulateOptions:
        if args.count < 1:
            raise ConfigError("--count must be at least 1")
        if args.player == "file" and not args.output:
            raise ConfigError("--player file needs --output DIR")
        keys = {}
        for text in args.public_key:
            kid, sep, b64 = text.partition("=")
            if not sep or not kid:
                raise ConfigError(f"--public-key {text!r}: expected KID=BASE64")
            keys[kid] = b64
        return cls(
            count=args.count,
            zone=args.zone,
            server=args.server.rstrip("/"),
            broker=args.broker,
            player=args.player,
            output=Path(args.output) if args.output else None,
            public_keys=keys,
            prefix=args.prefix,
            id_prefix=args.id_prefix,
            first=args.first,
            state_dir=Path(args.state_dir) if args.state_dir else None,
            username=args.username,
            password=args.password,
            credentials=Path(args.credentials) if args.credentials else None,
            duration=args.duration,
            per_process=max(1, args.per_process),
        )


def fetch_public_keys(server: str, client: httpx.Client | None = None) -> dict[str, str]:
    """`GET {server}/api/v1/keys` → {kid: base64}; accepts a list or `{"keys": [...]}`."""
    own = client is None
    client = client or httpx.Client(timeout=10)
    try:
        resp = client.get(f"{server}/api/v1/keys")
        resp.raise_for_status()
        data: Any = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ConfigError(f"cannot fetch the server keys from {server}/api/v1/keys: {exc}") from exc
    finally:
        if own:
            client.close()
    entries = data.get("keys", []) if isinstance(data, dict) else data
    try:
        keys = {str(e["kid"]): str(e["public_key"]) for e in entries}
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"{server}/api/v1/keys: unexpected answer {data!r:.200}") from exc
    if not keys:
        raise ConfigError(f"{server}/api/v1/keys lists no key")
    return keys


def simulated_device_id(id_prefix: str, n: int) -> str:
    """The device id of simulated agent number `n` (the server's `device add-sim` uses it too)."""
    return f"{id_prefix}-{n:05d}"


def load_credentials(path: Path) -> dict[str, str]:
    """{device id: broker password} from a `pa-server device add-sim` file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the credentials file {path}: {exc}") from exc
    passwords = data.get("passwords")
    if not isinstance(passwords, dict) or not all(isinstance(v, str) for v in passwords.values()):
        raise ConfigError(f"{path}: expected a [passwords] table of device id = password")
    return passwords


def agent_configs(opts: SimulateOptions, state_root: Path) -> list[AgentConfig]:
    """One config per simulated agent."""
    configs = []
    passwords = load_credentials(opts.credentials) if opts.credentials else None
    for n in range(opts.first, opts.first + opts.count):
        device_id = simulated_device_id(opts.id_prefix, n)
        username, password = opts.username, opts.password
        if passwords is not None:
            if device_id not in passwords:
                raise ConfigError(
                    f"{opts.credentials} has no password for {device_id}: register it with "
                    "`pa-server device add-sim`"
                )
            username, password = device_id, passwords[device_id]
        # No busy-wait: hundreds of agents share one GIL; a spinning thread would hold it.
        player: dict[str, Any] = {"kind": opts.player, "spin_s": 0.0}
        if opts.output is not None:
            player["output_dir"] = str(opts.output / device_id)
        data = {
            "device": {"id": device_id, "zone": opts.zone},
            "mqtt": {"url": opts.broker, "username": username, "password": password},
            "server": {"url": opts.server, "public_keys": opts.public_keys},
            "topic_prefix": opts.prefix,
            "paths": {"state_dir": str(state_root / device_id)},
            "player": player,
            "relay": {"pin": None},
        }
        configs.append(config_from_mapping(data, env={}))
    return configs


def _child_command(opts: SimulateOptions, first: int, count: int, state_root: Path) -> list[str]:
    cmd = [sys.executable, "-m", "devices.cli", "simulate", "--count", str(count)]
    cmd += ["--first", str(first), "--zone", opts.zone, "--server", opts.server]
    cmd += ["--broker", opts.broker, "--player", opts.player, "--prefix", opts.prefix]
    cmd += ["--id-prefix", opts.id_prefix, "--state-dir", str(state_root)]
    cmd += ["--per-process", str(opts.per_process)]
    for kid, b64 in opts.public_keys.items():
        cmd += ["--public-key", f"{kid}={b64}"]
    if opts.output is not None:
        cmd += ["--output", str(opts.output)]
    if opts.username:
        cmd += ["--username", opts.username, "--password", opts.password or ""]
    if opts.credentials is not None:
        cmd += ["--credentials", str(opts.credentials)]
    if opts.duration is not None:
        cmd += ["--duration", str(opts.duration)]
    return cmd


def simulate(opts: SimulateOptions) -> int:
    """Run the fleet until SIGINT/SIGTERM or `--duration`; returns the exit status."""
    if not opts.public_keys:
        opts = _with_keys(opts, fetch_public_keys(opts.server))
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with ExitStack() as stack:
        if opts.state_dir is None:
            state_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pa-sim-")))
        else:
            state_root = opts.state_dir
        if opts.count > opts.per_process:
            return _run_children(opts, state_root, stop)
        agents = [stack.enter_context(Agent(cfg)) for cfg in agent_configs(opts, state_root)]
        log.info("%d simulated agents running in zone %s", len(agents), opts.zone)
        stop.wait(opts.duration)
    return 0


def _with_keys(opts: SimulateOptions, keys: dict[str, str]) -> SimulateOptions:
    fields = {f: getattr(opts, f) for f in opts.__dataclass_fields__}
    return SimulateOptions(**{**fields, "public_keys": keys})


def _run_children(opts: SimulateOptions, state_root: Path, stop: threading.Event) -> int:
    procs = []
    for first in range(opts.first, opts.first + opts.count, opts.per_process):
        count = min(opts.per_process, opts.first + opts.count - first)
        procs.append(subprocess.Popen(_child_command(opts, first, count, state_root)))
    log.info("%d agents in %d processes", opts.count, len(procs))
    while not stop.is_set() and any(p.poll() is None for p in procs):
        stop.wait(0.5)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
    return 0 if all(p.returncode == 0 for p in procs) else 1
