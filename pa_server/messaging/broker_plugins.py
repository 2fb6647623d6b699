"""amqtt plugins that hand logins and topic checks to a `BrokerAccess`, and an amqtt `Broker`
that checks a login before it touches any session (see `broker.py`).

A module of its own because it imports amqtt at the top, which `broker.py` does only when a
broker starts; amqtt loads the plugins by their dotted path from the broker's config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, ListenerConfig
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from amqtt.utils import gen_client_id

#: Marks a session whose login `AuthFirstBroker` accepted moments ago (amqtt's Session
#: objects are unhashable, so no side table).
_CHECKED = "pa_login_checked"

_ACTIONS = {Action.PUBLISH: "publish", Action.SUBSCRIBE: "subscribe", Action.RECEIVE: "receive"}


class AccessAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt is untyped
    """Admits a client only if its `BrokerAccess` knows the username and password."""

    @dataclass
    class Config:
        access: Any = None  # a BrokerAccess; `Any` because amqtt checks config types

    async def authenticate(self, *, session: Session) -> bool:
        return bool(await self.config.access.authenticate(session.username, session.password))


class AccessTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]  # amqtt is untyped
    """Lets a publish, subscribe or delivery through only if its `BrokerAccess` grants it."""

    @dataclass
    class Config:
        access: Any = None

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        check = _ACTIONS.get(action) if action is not None else None
        if session is None or check is None:
            return False
        return bool(self.config.access.allowed(session.username, check, topic))


class AuthFirstBroker(Broker):  # type: ignore[misc]  # amqtt is untyped
    """amqtt's broker, but a CONNECT's login is checked before its client id is acted on.

    amqtt 0.12 deletes the session of a connected client with the same id (clean session), or
    hands that session the newcomer's username and takes its connection over (persistent
    session), and only then authenticates: a client with no password could make any agent, or
    the server, deaf. Here a refused CONNECT gets its CONNACK and is closed first, and the
    session bookkeeping below (amqtt's own, unchanged) runs only for an accepted login.
    """

    async def _authenticate(self, session: Session, listener: ListenerConfig) -> bool:
        # A login accepted just before the session work is not looked up a second time.
        if getattr(session, _CHECKED, False):
            setattr(session, _CHECKED, False)
            return True
        return bool(await super()._authenticate(session, listener))

    async def _initialize_client_session(
        self, reader: ReaderAdapter, writer: WriterAdapter, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler, Session]:
        try:
            handler, client_session = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager
            )
        except (AMQTTError, NoDataError) as exc:
            self.logger.warning(f"{remote_address}:{remote_port}: no valid CONNECT: {exc}")
            raise AMQTTError(exc) from exc
        except MQTTError as exc:
            self.logger.warning(f"invalid connection from {remote_address}:{remote_port}")
            await writer.close()
            raise MQTTError(exc) from exc

        if not await super()._authenticate(client_session, None):
            handler.attach(client_session, reader, writer)
            await handler.mqtt_connack_authorize(False)
            await writer.close()
            raise AMQTTError(f"login refused for {remote_address}:{remote_port}")

        # From here on amqtt 0.12.1's own `_initialize_client_session`, unchanged.
        if client_session.clean_session:
            if client_session.client_id is not None and client_session.client_id != "":
                await self._delete_session(client_session.client_id)
            else:
                client_session.client_id = gen_client_id()
            client_session.parent = 0
        elif client_session.client_id in self._sessions:
            existing_client_session, _ = self._sessions[client_session.client_id]
            existing_client_session.will_flag = client_session.will_flag
            existing_client_session.will_message = client_session.will_message
            existing_client_session.will_topic = client_session.will_topic
            existing_client_session.will_qos = client_session.will_qos
            existing_client_session.keep_alive = client_session.keep_alive
            existing_client_session.username = client_session.username
            existing_client_session.password = client_session.password
            client_session = existing_client_session
            client_session.parent = 1
        else:
            client_session.parent = 0
        setattr(client_session, _CHECKED, True)

        timeout_disconnect_delay = self.config.get("timeout-disconnect-delay", 0)
        if client_session.keep_alive > 0 and isinstance(timeout_disconnect_delay, int):
            client_session.keep_alive += timeout_disconnect_delay
        return handler, client_session
