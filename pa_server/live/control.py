"""A small synchronous JSON-RPC client for snapserver's TCP control port.

Why not the `snapcast` PyPI package: it is asyncio-only and owns an event loop, while the
live engine (like the rest of `pa_server`'s runtime) runs in plain threads and needs exactly
four calls (`Server.GetStatus`, `Group.SetStream`, `Group.SetClients` and the
`Client.OnConnect`/`OnDisconnect` notifications). Newline-delimited JSON over one TCP socket,
with a reader thread matching answers to ids, is less code than bridging two loops.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pa_server.live.errors import SnapcastError

log = logging.getLogger(__name__)

#: Notifications that change who is connected: the engine reassigns groups on each.
CONNECT_EVENTS = frozenset(
    {"Client.OnConnect", "Client.OnDisconnect", "Server.OnUpdate", "Group.OnStreamChanged"}
)


def parse_control_url(url: str) -> tuple[str, int]:
    """(host, port) of `tcp://<loopback>:<port>`; ValueError for anything else.

    snapserver 0.26's control API has no authentication, so it must never be reached over a
    network: only a loopback address is accepted.
    """
    parts = urlsplit(url)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        raise ValueError(f"snapserver control URL must be tcp://127.0.0.1:<port>, not {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"snapserver control must be on a loopback address (it has no authentication): "
                f"{url!r}"
            )
    return host, parts.port


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """One snapclient as the server knows it."""

    id: str
    connected: bool
    group_id: str
    stream_id: str


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """One snapserver group: its clients all play `stream_id`."""

    id: str
    stream_id: str
    client_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What `Server.GetStatus` says, reduced to what the engine uses."""

    groups: tuple[GroupInfo, ...]
    streams: dict[str, str]  # stream id -> status ("idle", "playing")
    version: str
    connected: frozenset[str]  # ids of the clients connected now

    @property
    def clients(self) -> dict[str, ClientInfo]:
        """Every known client by id (connected or not)."""
        return {
            cid: ClientInfo(cid, cid in self.connected, g.id, g.stream_id)
            for g in self.groups
            for cid in g.client_ids
        }

    @classmethod
    def parse(cls, result: dict[str, Any]) -> ServerStatus:
        """From the `result` of `Server.GetStatus`."""
        try:
            server = result["server"]
            groups = []
            connected = set()
            for g in server["groups"]:
                ids = []
                for c in g["clients"]:
                    ids.append(str(c["id"]))
                    if c.get("connected"):
                        connected.add(str(c["id"]))
                groups.append(GroupInfo(str(g["id"]), str(g["stream_id"]), tuple(ids)))
            streams = {str(s["id"]): str(s.get("status", "")) for s in server["streams"]}
            version = str(server["server"]["snapserver"]["version"])
        except (KeyError, TypeError) as exc:
            raise SnapcastError(f"unexpected Server.GetStatus answer: {exc!r}") from exc
        return cls(tuple(groups), streams, version, frozenset(connected))


class SnapcastControl:
    """One JSON-RPC connection to a snapserver; thread-safe; `on_event` gets notifications."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def connected(self) -> bool:
        """True while the socket is open and its reader runs."""
        return self._sock is not None and self._reader is not None and self._reader.is_alive()

    def connect(self) -> None:
        """Open the connection (SnapcastError if the server does not answer)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as exc:
            raise SnapcastError(f"snapserver control {self.host}:{self.port}: {exc}") from exc
        sock.settimeout(None)  # the reader blocks; calls time out on their own events
        self._sock = sock
        self._closed.clear()
        self._reader = threading.Thread(
            target=self._read_loop, args=(sock,), name="snapcast-control", daemon=True
        )
        self._reader.start()

    def close(self) -> None:
        """Close the connection; pending calls fail."""
        self._closed.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=2)
        self._fail_pending()

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one request and return its `result` (SnapcastError on error or timeout)."""
        sock = self._sock
        if sock is None:
            raise SnapcastError("snapserver control is not connected")
        rid = next(self._ids)
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        done = threading.Event()
        slot: list[dict[str, Any]] = []
        with self._lock:
            self._pending[rid] = (done, slot)
        try:
            try:
                sock.sendall((json.dumps(msg) + "\r\n").encode())
            except OSError as exc:
                raise SnapcastError(f"snapserver control: {exc}") from exc
            if not done.wait(self.timeout_s):
                raise SnapcastError(f"snapserver did not answer {method} in {self.timeout_s} s")
        finally:
            with self._lock:
                self._pending.pop(rid, None)
        if not slot:
            raise SnapcastError(f"snapserver control closed during {method}")
        answer = slot[0]
        if "error" in answer:
            raise SnapcastError(f"{method} refused: {answer['error']}")
        return answer.get("result")

    def status(self) -> ServerStatus:
        """`Server.GetStatus`."""
        result = self.call("Server.GetStatus")
        if not isinstance(result, dict):
            raise SnapcastError("Server.GetStatus returned no object")
        return ServerStatus.parse(result)

    def set_group_stream(self, group_id: str, stream_id: str) -> None:
        """`Group.SetStream`: every client of the group plays `stream_id`."""
        self.call("Group.SetStream", {"id": group_id, "stream_id": stream_id})

    def set_group_clients(self, group_id: str, client_ids: list[str]) -> None:
        """`Group.SetClients`: clients left out move to groups of their own."""
        self.call("Group.SetClients", {"id": group_id, "clients": client_ids})

    def _read_loop(self, sock: socket.socket) -> None:
        buf = sock.makefile("rb")
        try:
            for raw in buf:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    log.warning("snapserver sent a line that is not JSON: %r", raw[:200])
                    continue
                self._dispatch(msg)
        except OSError:
            pass
        finally:
            if not self._closed.is_set():
                log.warning("snapserver control connection %s:%s lost", self.host, self.port)
            self._fail_pending()

    def _dispatch(self, msg: Any) -> None:
        messages = msg if isinstance(msg, list) else [msg]  # a batch answer is a list
        for m in messages:
            if not isinstance(m, dict):
                continue
            rid = m.get("id")
            if rid is not None:
                with self._lock:
                    waiter = self._pending.get(rid) if isinstance(rid, int) else None
                if waiter is not None:
                    waiter[1].append(m)
                    waiter[0].set()
            elif "method" in m and self._on_event is not None:
                try:
                    self._on_event(str(m["method"]), m.get("params") or {})
                except Exception:  # a callback never kills the reader
                    log.exception("snapcast notification handler failed")

    def _fail_pending(self) -> None:
        with self._lock:
            waiters = list(self._pending.values())
        for done, _slot in waiters:
            done.set()
