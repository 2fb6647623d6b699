"""Real processes for the end-to-end tests: a private Mosquitto, `pa-server run`, `pa-device run`.

Everything runs as a subprocess in its own process group (killed as a group at teardown), logs
to a file in the test's directory, and is waited for by polling with a bounded deadline.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import tomli_w
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.protocol import Topics, utc_now
from tests.devices.support import TcpProxy, free_port

MOSQUITTO = Path(os.environ.get("PA_TEST_MOSQUITTO", "/usr/sbin/mosquitto"))
BIN = Path(sys.executable).parent
WAIT_S = 30.0  # upper bound on any wait (a loaded machine); never an assertion of speed
LOG_TAIL = 40


def wait_for(cond: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `cond` until truthy (return it), or fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])


class Proc:
    """One subprocess in its own process group, output to `log`; restartable."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        log: Path,
        env: Mapping[str, str],
        cwd: Path,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = dict(env)
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert not self.running, f"{self.name} already running"
        with self.log.open("ab") as out:
            out.write(f"--- start {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: killed whole at teardown
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int, *, wait: bool = True) -> int | None:
        """Send `sig` to the process group; with `wait`, reap it (SIGKILL after WAIT_S)."""
        if self.popen is None:
            return None
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        if not wait:
            return None
        try:
            return self.popen.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            return self.popen.wait(WAIT_S)

    def stop(self) -> int | None:
        """SIGTERM (a clean stop) and wait."""
        return self.signal(signal.SIGTERM) if self.running else None

    def kill(self) -> int | None:
        """SIGKILL (power cut) and wait."""
        return self.signal(signal.SIGKILL) if self.popen is not None else None

    def cleanup(self) -> None:
        """Kill whatever is left of the group (children included)."""
        if self.popen is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)

    def tail(self) -> str:
        return tail(self.log)


class Mosquitto:
    """A private Mosquitto on its own port (so a test may stop and restart it)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        conf = self.dir / "mosquitto.conf"
        self.conf = conf
        self.configure(persistence=True)
        self.proc = Proc(
            "mosquitto",
            [str(MOSQUITTO), "-c", str(conf)],
            log=self.dir / "mosquitto.log",
            env=os.environ,
            cwd=self.dir,
        )

    def configure(self, *, persistence: bool) -> None:
        """Write the config (read at the next start); without persistence a restart loses
        every retained message, as a broker restarted with no disk does."""
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"persistence {'true' if persistence else 'false'}\n"
            f"persistence_location {self.dir}/\n"
            # Started as root it would switch to user `mosquitto`, who cannot write here.
            f"user {getpass.getuser()}\n"
            "log_dest stdout\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )

    def start(self) -> None:
        self.proc.start()
        wait_for(lambda: port_open(self.port) or self._died(), "mosquitto to listen")
        assert self.proc.running, f"mosquitto exited:\n{self.proc.tail()}"

    def _died(self) -> bool:
        return not self.proc.running

    def stop(self) -> None:
        """A clean stop (retained messages saved to disk) and wait until the port is closed."""
        self.proc.stop()
        wait_for(lambda: not port_open(self.port), "mosquitto's port to close")


class Api:
    """The server's HTTP API; signs in (an admin API token from the CLI) once it answers 401."""

    def __init__(self, base_url: str, sign_in: Callable[[], str]) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url + "/api/v1", timeout=WAIT_S)
        self._sign_in = sign_in

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        response = self.client.request(method, url, **kw)
        if response.status_code == 401 and "authorization" not in self.client.headers:
            # Accounts are on (branch `web`): every /api/v1 route but /keys wants a token.
            self.client.headers["authorization"] = f"Bearer {self._sign_in()}"
            response = self.client.request(method, url, **kw)
        return response

    def ok(self, method: str, url: str, status: int = 200, **kw: Any) -> Any:
        response = self.request(method, url, **kw)
        assert response.status_code == status, f"{method} {url}: {response.text}"
        return response.json() if response.content else None

    def close(self) -> None:
        self.client.close()


@dataclass
class AgentProc:
    """One `pa-device run` with its config, state dir and file-player output."""

    device_id: str
    zone: str
    home: Path
    config_path: Path
    proc: Proc

    @property
    def out_dir(self) -> Path:
        return self.home / "played"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    def plays(self) -> list[dict[str, Any]]:
        """The lines of the file player's `plays.jsonl` (every start, with its instant)."""
        path = self.out_dir / "plays.jsonl"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def plays_of(self, occurrence_id: str) -> list[dict[str, Any]]:
        return [p for p in self.plays() if p.get("occurrence_id") == occurrence_id]

    def config(self) -> dict[str, Any]:
        return tomllib.loads(self.config_path.read_text(encoding="utf-8"))

    def set_broker(self, url: str) -> None:
        """Point the agent at another broker address (takes effect at the next start)."""
        self.edit(mqtt={"url": url})

    def set_server(self, url: str) -> None:
        self.edit(server={"url": url})

    def edit(self, **sections: Mapping[str, Any]) -> None:
        data = self.config()
        for name, values in sections.items():
            data[name] = {**data.get(name, {}), **values}
        self.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")

    def start(self) -> None:
        self.proc.start()

    def restart(self) -> None:
        self.proc.stop()
        self.proc.start()


class StateWatch:
    """A plain MQTT client on the private broker watching agents' retained state and receipts."""

    def __init__(self, url: str, topics: Topics) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.topics = topics
        self.states: dict[str, dict[str, Any]] = {}
        self.receipts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"e2e-watch-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect_async(host, int(port), 10)
        self.client.loop_start()

    def _on_connect(self, c: mqtt.Client, *_a: Any) -> None:
        c.subscribe([(f"{self.topics.prefix}/state/+", 1), (f"{self.topics.prefix}/event/+", 1)])

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            return
        with self._lock:
            if "/state/" in msg.topic:
                self.states[msg.topic.rsplit("/", 1)[1]] = payload
            else:
                self.receipts.append(payload)

    def state(self, device_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.states.get(device_id, {}))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class System:
    """A whole installation: broker, server, agents; built by `system()`."""

    root: Path
    broker: Mosquitto
    server: Proc
    api: Api
    topics: Topics
    server_env: dict[str, str]
    agents: dict[str, AgentProc] = field(default_factory=dict)
    proxies: list[TcpProxy] = field(default_factory=list)
    zone_top: str = "e2e"

    # ----------------------------------------------------------------- set-up

    def add_zone(self, path: str) -> None:
        """Create a zone (and its parents) with quiet hours far from now, whatever the hour."""
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if self.api.request("GET", f"/zones/{sub}").status_code == 200:
                continue
            body: dict[str, Any] = {"path": sub, "name": sub}
            if i == 1:
                # The default quiet hours (21:30–05:00) would defer a test run in the evening.
                far = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=12)
                body["quiet_start"] = far.strftime("%H:%M")
                body["quiet_end"] = (far + timedelta(minutes=1)).strftime("%H:%M")
            self.api.ok("POST", "/zones", 201, json=body)

    def provision(
        self, zone: str, *device_ids: str, broker_url: str | None = None
    ) -> list[AgentProc]:
        """`pa-server device add … -o cfg.toml` for each (run side by side), then the test's
        adjustments to each config: file player, state folder of its own, quick retries, and
        `broker_url` (e.g. a cuttable proxy) instead of the broker's own address."""
        runs = []
        for device_id in device_ids:
            home = self.root / device_id
            home.mkdir(parents=True)
            cfg = home / "config.toml"
            argv = ["device", "add", device_id, "--zone", zone, "-o", str(cfg)]
            runs.append((device_id, home, cfg, self._cli(argv)))
        agents = []
        for device_id, home, cfg, run in runs:
            _, err = run.communicate(timeout=WAIT_S * 2)
            assert run.returncode == 0, f"device add {device_id} failed: {err}"
            agent = AgentProc(
                device_id,
                zone,
                home,
                cfg,
                Proc(
                    device_id,
                    [str(BIN / "pa-device"), "run", "--config", str(cfg)],
                    log=home / "agent.log",
                    env=_agent_env(),
                    cwd=home,
                ),
            )
            agent.edit(
                mqtt={"keepalive": 5, **({"url": broker_url} if broker_url else {})},
                paths={"state_dir": str(agent.state_dir)},
                player={"kind": "file", "output_dir": str(agent.out_dir)},
                fetch={"spread_s": 0, "margin_s": 0, "backoff_initial_s": 0.2, "backoff_max_s": 1},
                clock={"check_interval_s": 60},
            )
            self.agents[device_id] = agent
            agents.append(agent)
        return agents

    def _cli(self, argv: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN / "pa-server"), *argv],
            env=self.server_env,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def proxy(self) -> TcpProxy:
        """A TCP relay to the broker that a test can cut and restore."""
        proxy = TcpProxy(self.broker.url)
        self.proxies.append(proxy)
        return proxy

    def http_proxy(self) -> TcpProxy:
        """A TCP relay to the server's HTTP port (its `url` is http://…), to cut and restore."""
        proxy = TcpProxy(self.api.base_url.replace("http://", "mqtt://"))
        proxy.url = f"http://127.0.0.1:{proxy.port}"
        self.proxies.append(proxy)
        return proxy

    def start_agents(self, watch: StateWatch) -> None:
        for agent in self.agents.values():
            agent.start()
        for agent in self.agents.values():
            wait_for(
                lambda a=agent: (
                    watch.state(a.device_id).get("online")  # type: ignore[misc]
                    or _exited(a.proc)
                ),
                f"{agent.device_id} online",
            )
            assert agent.proc.running, f"{agent.device_id} exited:\n{agent.proc.tail()}"

    # ----------------------------------------------------------------- content

    def announcement(self, text: str = "Thông báo thử nghiệm.") -> dict[str, Any]:
        """A short approved announcement, rendered offline (espeak-ng)."""
        ann = self.api.ok("POST", "/announcements", 201, json={"title": "E2E", "text": text})
        self.api.ok(
            "POST",
            f"/announcements/{ann['id']}/render",
            json={"engine": "espeak", "repeat": 1, "chime": False, "outro": False, "gap_s": 0},
        )
        return self.approve(ann["id"])

    def approve(self, announcement_id: str) -> dict[str, Any]:
        """Approve an announcement (a second admin when the author may not: four eyes)."""
        url = f"/announcements/{announcement_id}/approve"
        response = self.api.request("POST", url)
        if _code(response) == "own_announcement":
            # Accounts on: an author may not approve their own announcement (four eyes).
            approver = Api(self.api.base_url, lambda: _admin_token(self.server_env, self.root, 2))
            try:
                response = approver.request("POST", url)
            finally:
                approver.close()
        assert response.status_code == 200, f"POST {url}: {response.text}"
        approved: dict[str, Any] = response.json()
        return approved

    def person(self, name: str, role: str, *zones: str, full_name: str = "") -> str:
        """An account that signs in on the pages (`PASSWORD`), made as an administrator
        would (`pa-server user add`); its user name."""
        args = ["add", name, "--role", role, "--password-stdin"]
        args += [a for z in zones for a in ("--zone", z)]
        args += ["--full-name", full_name] if full_name else []
        _user_cli(self.server_env, self.root, *args, stdin=PASSWORD + "\n")
        return name

    def broadcast(self, occurrence_id: str) -> dict[str, Any]:
        detail: dict[str, Any] = self.api.ok("GET", f"/broadcasts/{occurrence_id}")
        return detail

    def occurrences_at(self, play_at: datetime) -> list[dict[str, Any]]:
        """Broadcasts planned for exactly `play_at` (what a schedule produced)."""
        page = self.api.ok(
            "GET",
            "/broadcasts",
            params={
                "from": (play_at - timedelta(seconds=1)).isoformat(),
                "to": (play_at + timedelta(seconds=1)).isoformat(),
            },
        )
        return [b for b in page["items"] if _instant(b["play_at"]) == play_at]

    # ----------------------------------------------------------------- diagnostics

    def logs(self) -> str:
        parts = [f"===== {p.name} ({p.log}) =====\n{p.tail()}" for p in self.processes()]
        return "\n".join(parts)

    def processes(self) -> list[Proc]:
        return [self.broker.proc, self.server, *(a.proc for a in self.agents.values())]


def _exited(proc: Proc) -> bool:
    return not proc.running


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _agent_env() -> dict[str, str]:
    # Nothing from the test's environment may override the agent's config file.
    return {k: v for k, v in os.environ.items() if not k.startswith("PA_")}


@contextmanager
def _database(pg_url: str | None, root: Path) -> Iterator[str]:
    """A PostgreSQL database of the system's own (dropped after), or a SQLite file."""
    if not pg_url:
        yield f"sqlite:///{root / 'pa.db'}"
        return
    from pa_server.db.engine import scratch_database

    with scratch_database(pg_url) as url:
        yield url


@contextmanager
def system(
    root: Path, *, pg_url: str | None, env: Mapping[str, str] | None = None
) -> Iterator[System]:
    """Broker + server running (not yet any agent); everything killed on exit.

    `env`: settings of the server's own for this test (e.g. `PA_SNAPSERVER_*`)."""
    broker = Mosquitto(root / "mosquitto")
    broker.start()
    procs: list[Proc] = [broker.proc]
    sys_: System | None = None
    try:
        with _database(pg_url, root) as db_url:
            port = free_port()
            topics = Topics(prefix=f"pa-e2e/{uuid.uuid4().hex[:8]}")
            server_env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PA_")},
                "PA_DATA_DIR": str(root / "server"),
                "PA_DATABASE_URL": db_url,
                "PA_MQTT_URL": broker.url,
                "PA_HOST": "127.0.0.1",
                "PA_PORT": str(port),
                "PA_TOPIC_PREFIX": topics.prefix,
                "PA_TTS_ENGINE": "espeak",
                "PA_PLANNER_INTERVAL_S": "2",
                **(env or {}),
            }
            server = Proc(
                "pa-server",
                [str(BIN / "pa-server"), "run"],
                log=root / "server.log",
                env=server_env,
                cwd=root,  # no stray .env file is read from the repository
            )
            procs.append(server)
            server.start()
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _healthy(base) or _exited(server), "pa-server /healthz")
            assert server.running, f"pa-server exited:\n{server.tail()}"
            api = Api(base, lambda: _admin_token(server_env, root))
            sys_ = System(root, broker, server, api, topics, server_env)
            try:
                yield sys_
            finally:
                api.close()
                for proxy in sys_.proxies:
                    proxy.close()
                for agent in sys_.agents.values():
                    agent.proc.stop()
                    agent.proc.cleanup()
                server.stop()
                server.cleanup()
    finally:
        for proc in procs:
            proc.cleanup()


def _code(response: httpx.Response) -> str | None:
    """The error code of an API error response (`detail.code`), if any."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return None
    return detail.get("code") if isinstance(detail, dict) else None


#: Every account the harness makes has this password.
PASSWORD = "e2e-Passw0rd-long-enough"


def _user_cli(env: Mapping[str, str], cwd: Path, *args: str, stdin: str | None = None) -> str:
    """`pa-server user …` against the system's database; its standard output."""
    done = subprocess.run(
        [str(BIN / "pa-server"), "user", *args],
        env=dict(env),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WAIT_S * 2,
    )
    assert done.returncode == 0, f"pa-server user {args[0]} failed: {done.stderr}"
    return done.stdout


def _admin_token(env: Mapping[str, str], cwd: Path, n: int = 1) -> str:
    """Admin account number `n` and an API token for it, made with `pa-server user …`."""
    name = f"e2e-admin-{n}"
    _user_cli(env, cwd, "add", name, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    return _user_cli(env, cwd, "token", name).strip().splitlines()[-1].strip()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


#: Start error allowed in these tests (a loaded CI machine); the tight figure is `bench/sync.py`'s.
LATE_MS = 200


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def starts(e2e: System, occurrence_id: str) -> dict[str, float]:
    """Each agent's start − play_at in ms, from its file player's log (one play each)."""
    out: dict[str, float] = {}
    for agent in e2e.agents.values():
        plays = agent.plays_of(occurrence_id)
        assert len(plays) == 1, f"{agent.device_id} played {occurrence_id} {len(plays)} times"
        play_at = instant(plays[0]["play_at"]).timestamp()
        out[agent.device_id] = (plays[0]["started_at_us"] / 1e6 - play_at) * 1000
    return out


def report(label: str, late: dict[str, float]) -> None:
    """Print each agent's start error and the spread (shown with `-s`)."""
    spread = max(late.values()) - min(late.values())
    figures = ", ".join(f"{d} {ms:+.2f} ms" for d, ms in sorted(late.items()))
    print(f"\n{label}: start − play_at: {figures}; spread {spread:.2f} ms")


def now_plus(seconds: float) -> datetime:
    """An instant `seconds` from now, whole milliseconds (as the wire carries them)."""
    t = utc_now() + timedelta(seconds=seconds)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def receipts_done(detail: Mapping[str, Any], types: tuple[str, ...]) -> bool:
    """Every device row of a broadcast's status has each receipt type in `types`."""
    rows = detail["devices"]
    return bool(rows) and all(all(r[t] for t in types) for r in rows)
