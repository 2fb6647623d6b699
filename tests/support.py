"""Helpers every test package shares: a free port, and a bounded wait for a condition."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

#: Upper bound on any wait for a network, a subprocess or a thread on a loaded machine; never an
#: assertion of speed (speed is measured in bench/).
WAIT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    cond: Callable[[], Any], what: str = "condition", timeout: float = WAIT_S, poll: float = 0.05
) -> Any:
    """Poll `cond` until it is truthy (and return its value), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
