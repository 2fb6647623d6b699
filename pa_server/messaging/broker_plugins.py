"""amqtt plugins that hand logins and topic checks to a `BrokerAccess` (see `broker.py`).

A module of its own because it imports amqtt at the top, which `broker.py` does only when a
broker starts; amqtt loads these classes by their dotted path from the broker's config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

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
