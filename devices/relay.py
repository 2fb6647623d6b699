"""The amplifier's power relay on a GPIO pin (gpiozero), or nothing when none is wired."""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from devices.config import RelaySection
from devices.errors import DeviceError

log = logging.getLogger(__name__)


class Relay(Protocol):
    """Switches the amplifier."""

    @property
    def is_on(self) -> bool: ...

    def set(self, on: bool) -> None: ...

    def close(self) -> None: ...


class NullRelay:
    """No relay wired: remembers the wish only."""

    def __init__(self) -> None:
        self.is_on = False

    def set(self, on: bool) -> None:
        self.is_on = on

    def close(self) -> None:
        pass


class GpioRelay:
    """`gpiozero.OutputDevice` on the configured pin (tests set gpiozero's `MockFactory`)."""

    def __init__(self, pin: int | str, *, active_high: bool = True) -> None:
        from gpiozero import GPIOZeroError, OutputDevice

        try:
            self._dev: Any = OutputDevice(pin, active_high=active_high, initial_value=False)
        except GPIOZeroError as exc:
            raise DeviceError(f"cannot use GPIO pin {pin!r} for the relay: {exc}") from exc
        self._lock = threading.Lock()

    @property
    def is_on(self) -> bool:
        return bool(self._dev.value)

    def set(self, on: bool) -> None:
        with self._lock:
            if bool(self._dev.value) != on:
                log.info("amplifier relay %s", "on" if on else "off")
                if on:
                    self._dev.on()
                else:
                    self._dev.off()

    def close(self) -> None:
        with self._lock:
            self._dev.off()
            self._dev.close()


def make_relay(settings: RelaySection) -> Relay:
    """The relay the config names (`[relay] pin`), or a `NullRelay` without one."""
    if settings.pin is None:
        return NullRelay()
    return GpioRelay(settings.pin, active_high=settings.active_high)
