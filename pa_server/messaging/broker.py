"""The embedded MQTT broker (amqtt) the server starts when no external broker is configured.

amqtt runs in its own thread with its own asyncio event loop, so it works the same under
FastAPI's loop, a CLI or a test. It speaks MQTT 3.1.1 only (it answers a v5 CONNECT with
"unacceptable protocol version") and keeps retained messages in memory only (a restart loses
them: see `Dispatcher.forget_published`).

It requires a login: `BrokerAccess` admits the server's own account and every registered
device (username = device id, its `$7$` hash looked up at each connect, so a device added or
removed takes effect on its next connect without a restart), refuses anonymous clients, and
enforces the same `TopicRules` that `pa-server mqtt-acl` writes for Mosquitto: an agent
publishes only its own state and receipts and reads only its own and its zone chain's commands
and timelines. `password_file` (lines `user:<argon2 hash>`, no ACL) and `allow_anonymous`
(tests only) remain for tools that need a bare broker.

Errors: `BrokerStartError` (a `pa_server.messaging.bus.BusError`), e.g. when the port is taken.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import hmac
import ipaddress
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pa_server.config import DEFAULT_EMBEDDED_BROKER_PORT, Settings
from pa_server.messaging.broker_acl import (
    DEFAULT_SERVER_USER,
    DeviceCredential,
    Grant,
    MqttAuthError,
    filter_covers,
    load_or_create_secret,
    topic_rules,
    validate_prefix,
    validate_username,
    verify_password,
)
from pa_server.messaging.bus import BusError

log = logging.getLogger(__name__)

#: The server's own password for the embedded broker, made at first start (mode 0600).
SERVER_SECRET_FILE = "mqtt-server-password"  # noqa: S105  (a file name, not a secret)

_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 15.0


class BrokerStartError(BusError):
    """The embedded broker could not start (port taken, bad password file, …)."""


#: Looks up a device's login by username (= device id); None if there is no such device.
#: Called in a worker thread (it may query the database), once per connect.
DeviceLookup = Callable[[str], DeviceCredential | None]

Check = Literal["connect", "publish", "subscribe", "receive"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """One thing the embedded broker refused: who (None = anonymous), what, on which topic."""

    username: str | None
    action: Check
    topic: str | None


class BrokerAccess:
    """The embedded broker's logins and topic rights: the server's account and the devices.

    A device's rights are the `TopicRules` of its zone as of its last successful login; they
    are computed by the same function that writes Mosquitto's ACL.
    """

    #: Refusals kept for `refusals()` (tests and diagnostics); older ones are dropped.
    KEEP_REFUSALS = 1000

    def __init__(
        self, *, prefix: str, server_user: str, server_password: str, lookup: DeviceLookup
    ) -> None:
        validate_prefix(prefix)
        validate_username(server_user)
        if not server_password:
            raise MqttAuthError("the server's broker password is empty")
        self.prefix = prefix
        self.server_user = server_user
        self._server_password = server_password.encode()
        self._lookup = lookup
        self._server_grants = topic_rules(prefix=prefix, server_user=server_user, devices=[]).server
        # username → rights at its last login; read on the broker's loop only.
        self._grants: dict[str, tuple[Grant, ...]] = {}
        self._refused: deque[Refusal] = deque(maxlen=self.KEEP_REFUSALS)
        self._lock = threading.Lock()

    def refusals(self) -> list[Refusal]:
        """What was refused so far (the latest `KEEP_REFUSALS`), oldest first."""
        with self._lock:
            return list(self._refused)

    async def authenticate(self, username: str | None, password: str | None) -> bool:
        """True if `username`/`password` is the server's account or a registered device's."""
        grants = None
        if not username or not password:
            pass
        elif username == self.server_user:
            if hmac.compare_digest(password.encode(), self._server_password):
                grants = self._server_grants
        else:
            try:
                found, grants = await asyncio.to_thread(self._device_grants, username, password)
            except Exception:  # a database outage refuses the login, never stops the broker
                log.exception("embedded MQTT broker: looking up %r failed", username)
            else:
                if not found:
                    self._grants.pop(username, None)  # removed: its live sessions lose all rights
        if grants is None or username is None:
            self._refuse(username, "connect", None)
            return False
        self._grants[username] = grants
        return True

    def allowed(self, username: str | None, action: Check, topic: str | None) -> bool:
        """True if `username` (logged in) may publish on, subscribe to or receive `topic`."""
        grants = self._grants.get(username, ()) if username else ()
        need = "write" if action == "publish" else "read"
        if topic and any(g.access == need and filter_covers(g.topic, topic) for g in grants):
            return True
        self._refuse(username, action, topic)
        return False

    def _device_grants(self, username: str, password: str) -> tuple[bool, tuple[Grant, ...] | None]:
        """(device exists, its rights if the password is right); runs in a worker thread."""
        credential = self._lookup(username)
        if credential is None or credential.device_id != username:
            return False, None
        if not verify_password(password, credential.password_hash):
            return True, None
        rules = topic_rules(
            prefix=self.prefix,
            server_user=self.server_user,
            devices=[(credential.device_id, credential.zone_path)],
        )
        return True, rules.grants_for(credential.device_id)

    def _refuse(self, username: str | None, action: Check, topic: str | None) -> None:
        level = logging.INFO if action == "receive" else logging.WARNING
        where = f" on {topic}" if topic else ""
        log.log(level, "embedded MQTT broker refused %s by %r%s", action, username, where)
        with self._lock:
            self._refused.append(Refusal(username, action, topic))


def server_login(settings: Settings) -> tuple[str, str]:
    """The server's own account on the embedded broker: `PA_MQTT_USERNAME` (default
    `pa-server`) and `PA_MQTT_PASSWORD`, else a random password kept in the data dir."""
    user = settings.mqtt_username or DEFAULT_SERVER_USER
    if settings.mqtt_password:
        return user, settings.mqtt_password
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return user, load_or_create_secret(settings.data_dir / SERVER_SECRET_FILE)
    except (OSError, MqttAuthError) as exc:
        raise BrokerStartError(
            f"cannot read or create the server's broker password: {exc}"
        ) from exc


def embedded_access(settings: Settings, lookup: DeviceLookup) -> tuple[BrokerAccess, str, str]:
    """The embedded broker's `BrokerAccess` for these settings, and the server's login."""
    user, password = server_login(settings)
    try:
        access = BrokerAccess(
            prefix=settings.topic_prefix, server_user=user, server_password=password, lookup=lookup
        )
    except MqttAuthError as exc:
        raise BrokerStartError(f"embedded MQTT broker: {exc}") from exc
    return access, user, password


class EmbeddedBroker:
    """amqtt on `host:port` in a thread of its own; `port=0` picks a free port (see `.port`).

    Exactly one of `access` (the server's logins and topic rules), `password_file` (argon2
    lines, no topic rules) or `allow_anonymous=True` (tests and benchmarks only).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_EMBEDDED_BROKER_PORT,
        *,
        access: BrokerAccess | None = None,
        password_file: Path | None = None,
        allow_anonymous: bool = False,
    ) -> None:
        if sum((access is not None, password_file is not None, allow_anonymous)) != 1:
            raise BrokerStartError(
                "the embedded MQTT broker needs exactly one of: access (logins and topic rules), "
                "a password file, or allow_anonymous=True"
            )
        self.host = host
        self.access = access
        self._requested_port = port
        self._bound_port: int | None = None
        self._password_file = password_file
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None

    @property
    def port(self) -> int:
        """The port it listens on (the real one once started, also when asked for port 0)."""
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def url(self) -> str:
        """`mqtt://host:port`, the form `PahoBus` and `PA_MQTT_URL` take."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start listening; returns once connections are accepted, raises `BrokerStartError`."""
        if self._thread is not None:
            raise BrokerStartError("embedded broker already running")
        if self._password_file is not None and not self._password_file.is_file():
            raise BrokerStartError(f"MQTT password file {self._password_file} not found")
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._run, args=(loop, started), name="pa-embedded-broker", daemon=True
        )
        thread.start()
        try:
            self._bound_port = started.result(timeout=_START_TIMEOUT_S)
        except concurrent.futures.TimeoutError as exc:
            self._loop, self._thread = loop, thread
            self.stop()
            raise BrokerStartError(
                f"embedded MQTT broker did not start within {_START_TIMEOUT_S:.0f} s"
            ) from exc
        except BaseException:
            thread.join(_STOP_TIMEOUT_S)
            raise
        self._loop, self._thread = loop, thread
        log.info("embedded MQTT broker listening on %s:%s", self.host, self._bound_port)
        if self.access is None and self._password_file is None and not _is_loopback(self.host):
            log.warning(
                "embedded MQTT broker on %s:%s accepts anyone: agents' messages are signed, but "
                "anyone on this network can send fake state and receipts. Give it a password "
                "file, or use Mosquitto with per-device credentials (PA_MQTT_URL)",
                self.host,
                self._bound_port,
            )

    def stop(self) -> None:
        """Shut the broker down and join its thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():
            log.warning("embedded MQTT broker thread did not stop within %s s", _STOP_TIMEOUT_S)
        self._loop = self._thread = self._broker = None
        self._bound_port = None
        log.info("embedded MQTT broker on %s:%s stopped", self.host, self._requested_port)

    # ------------------------------------------------------------------ broker thread

    def _run(
        self, loop: asyncio.AbstractEventLoop, started: concurrent.futures.Future[int]
    ) -> None:
        asyncio.set_event_loop(loop)
        try:
            try:
                port = loop.run_until_complete(self._start_broker())
            except BaseException as exc:  # handed to the starting thread, which raises it
                started.set_exception(exc)
                return
            started.set_result(port)
            loop.run_forever()  # until stop() calls loop.stop()
            loop.run_until_complete(self._shutdown_broker())
        finally:
            _cancel_leftovers(loop)
            loop.close()

    async def _start_broker(self) -> int:
        # Imported here: amqtt is a server-only dependency and pulls in a lot.
        from amqtt.errors import BrokerError as AmqttBrokerError

        from pa_server.messaging.broker_plugins import AuthFirstBroker

        try:
            self._broker = AuthFirstBroker(self._config())
            await self._broker.start()
        except AmqttBrokerError as exc:
            raise self._explain(exc) from exc
        except Exception as exc:  # amqtt plugin errors (password file) are not BrokerErrors
            raise BrokerStartError(f"embedded MQTT broker failed to start: {exc}") from exc
        server = self._broker._servers["default"].instance
        return int(server.sockets[0].getsockname()[1])

    async def _shutdown_broker(self) -> None:
        try:
            await self._broker.shutdown()
        except Exception:
            log.exception("embedded MQTT broker did not shut down cleanly")

    def _config(self) -> dict[str, Any]:
        if self.access is not None:
            plugins = "pa_server.messaging.broker_plugins"
            auth: dict[str, Any] = {
                f"{plugins}.AccessAuthPlugin": {"access": self.access},
                f"{plugins}.AccessTopicPlugin": {"access": self.access},
            }
        elif self._password_file is None:
            auth = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        else:
            auth = {
                "amqtt.plugins.authentication.FileAuthPlugin": {
                    "password_file": str(self._password_file)
                }
            }
        return {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self.host}:{self._requested_port}"}
            },
            # Only auth and topic rules: amqtt's packet/event loggers and $SYS publisher cost
            # CPU per message.
            "plugins": auth,
        }

    def _explain(self, exc: Exception) -> BrokerStartError:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            return BrokerStartError(
                f"cannot start the embedded MQTT broker: port {self._requested_port} on "
                f"{self.host} is already in use. Set PA_BROKER_PORT to a free port, or set "
                f"PA_MQTT_URL (e.g. mqtt://127.0.0.1:1883) to use the broker already running there."
            )
        return BrokerStartError(f"embedded MQTT broker failed to start: {exc}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel tasks amqtt left behind (client handlers) so the loop closes without warnings."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
