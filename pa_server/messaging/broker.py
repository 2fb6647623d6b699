"""The embedded MQTT broker (amqtt) the server starts when no external broker is configured.

amqtt runs in its own thread with its own asyncio event loop, so it works the same under
FastAPI's loop, a CLI or a test. It speaks MQTT 3.1.1 only (it answers a v5 CONNECT with
"unacceptable protocol version"), keeps retained messages in memory only (a restart loses
them: see `Dispatcher.forget_published`), and by default lets anyone connect: the stance is
that it is a development / single-machine broker bound to 127.0.0.1 (it warns when bound to a
network interface without a login). Give `password_file`
(lines `user:<argon2 hash>`) to require a login; for many agents on a real network use
Mosquitto with per-device credentials and ACLs (`PA_MQTT_URL`).

Errors: `BrokerStartError` (a `pa_server.messaging.bus.BusError`), e.g. when the port is taken.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import ipaddress
import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from pa_server.config import DEFAULT_EMBEDDED_BROKER_PORT
from pa_server.messaging.bus import BusError

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 15.0


class BrokerStartError(BusError):
    """The embedded broker could not start (port taken, bad password file, …)."""


class EmbeddedBroker:
    """amqtt on `host:port` in a thread of its own; `port=0` picks a free port (see `.port`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_EMBEDDED_BROKER_PORT,
        *,
        password_file: Path | None = None,
    ) -> None:
        self.host = host
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
        if self._password_file is None and not _is_loopback(self.host):
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
        from amqtt.broker import Broker
        from amqtt.errors import BrokerError as AmqttBrokerError

        try:
            self._broker = Broker(self._config())
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
        if self._password_file is None:
            auth: dict[str, Any] = {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            }
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
            # Only auth: amqtt's packet/event loggers and $SYS publisher cost CPU per message.
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
