"""What the display and the object exposure see of the management module: a narrow protocol
of the state they read and the few actions they take, so that neither depends on
:class:`~wattguard.meter.management.module.ManagementModule` (which builds both)."""

from __future__ import annotations

from typing import Protocol

from wattguard.meter.links.uart import UartMessage
from wattguard.meter.management.model import ObjectModel
from wattguard.meter.management.policy import SecurityPolicy
from wattguard.meter.management.relay import Relay
from wattguard.meter.metering.module import Measurement
from wattguard.meter.metering.registers import EnergyRegisters
from wattguard.protocol import Data

__all__ = ["Credit", "MeterView"]


class Credit(Protocol):
    """A prepaid balance the display can show (fen)."""

    def balance(self) -> int: ...


class MeterView(Protocol):
    """The management module's state as the display and the 698 objects see it."""

    @property
    def model(self) -> ObjectModel: ...
    @property
    def registers(self) -> EnergyRegisters: ...
    @property
    def measurement(self) -> Measurement | None: ...
    @property
    def temperature(self) -> float: ...
    @property
    def address(self) -> bytes: ...
    @property
    def policy(self) -> SecurityPolicy: ...
    @property
    def relay(self) -> Relay: ...
    @property
    def now(self) -> float: ...
    @property
    def credit(self) -> Credit | None: ...

    power_limit: int

    def calendar(self) -> float:
        """The meter's calendar clock (POSIX seconds)."""

    def set_calendar(self, posix: float, now: float) -> None:
        """Move the calendar clock (a logged clock set)."""

    def trip(self, now: float, delay: float = 0.0, duration: float = 0.0, reason: str = "") -> None:
        """Open the relay (after ``delay`` seconds, for ``duration`` seconds if not 0)."""

    def close(self, now: float, direct: bool) -> None:
        """Close the relay, or allow the customer to close it."""

    def send_to_expansion(self, kind: UartMessage, value: Data) -> None:
        """Send one message over the UART to the expansion module."""
