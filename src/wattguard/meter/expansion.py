"""The expansion module: the meter's communication and local-control side, and its least
trusted part.

Theory of operation. The expansion module carries the HPLC modem (DL/T 698.45 frames to and
from the collection terminal), the user-device port (a charging pile, a home display) and the
local functions that do not need legal metrology:

* cost control: time-of-use pricing (peak, flat, valley) of the energy the management module
  reports, deductions from the ESAM wallet, alarm levels as the credit runs low, and a trip
  request at zero credit;
* load control of a charging pile: the pile's setpoint never exceeds the power limit the
  station set (through the management module, after the ESAM verified the command);
* local monitoring: over-current, reverse energy on a meter without generation, and a
  suspected bypass (phase and neutral current disagree).

It talks to the management module only over the UART channel, and everything it asks there is
checked on the other side: it cannot operate the relay, change keys or write parameters on its
own. Sans-IO: ``receive_hplc`` / ``receive_uart`` / ``step`` take ``now``; what it sends goes
to :attr:`to_management` and :attr:`to_hplc`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.errors import ConfigError, DecodeError, SecurityError
from wattguard.events import EventSink
from wattguard.meter.uart import Alarm, LocalRelay, UartMessage, UartReceiver, UartSender
from wattguard.protocol import Data, DataType
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import encode_data, read_data

__all__ = ["ChargingPile", "CostControl", "ExpansionModule", "LocalMonitor", "TariffSchedule"]


@dataclass(frozen=True, slots=True)
class TariffSchedule:
    """Time-of-use prices: ``periods`` maps each hour of the day to a tariff number (1 peak,
    2 flat, 3 valley, as the meter's tariff registers count them) and ``prices`` gives fen per
    kWh for each tariff. The default is a common Chinese residential TOU split."""

    periods: tuple[int, ...] = (3,) * 8 + (2,) * 2 + (1,) * 2 + (2,) * 6 + (1,) * 4 + (2,) * 2
    prices: dict[int, int] = field(default_factory=lambda: {1: 68, 2: 53, 3: 31})

    def __post_init__(self) -> None:
        if len(self.periods) != 24 or any(p not in self.prices for p in self.periods):
            raise ConfigError("a tariff schedule names a priced tariff for each of 24 hours")

    def tariff(self, posix: float) -> int:
        return self.periods[dt.datetime.fromtimestamp(posix, dt.UTC).hour]


@dataclass
class CostControl:
    """Prepayment: price energy as it is used, deduct, warn, and ask for a trip at zero."""

    schedule: TariffSchedule = field(default_factory=TariffSchedule)
    alarm_levels: tuple[int, int] = (2000, 500)  # fen: first and second warning
    balance: int | None = None
    _last_wh: int | None = None
    _carry: float = 0.0  # fractions of a fen not yet deducted

    def on_energy(self, forward_wh: int, now: float) -> tuple[int, int] | None:
        """A deduction (fen, Wh) to request for the energy since the last reading, if any."""
        if self._last_wh is None or forward_wh < self._last_wh:
            self._last_wh = forward_wh
            return None
        used = forward_wh - self._last_wh
        cost = used * self.schedule.prices[self.schedule.tariff(now)] / 1000 + self._carry
        fen = int(cost)
        if fen == 0:
            return None
        self._carry = cost - fen
        self._last_wh = forward_wh
        return fen, used

    def requests(self) -> list[LocalRelay]:
        """What the credit calls for: an alarm below the levels, a trip at zero."""
        if self.balance is None:
            return []
        if self.balance <= 0:
            return [LocalRelay.TRIP]
        if self.balance <= self.alarm_levels[0]:
            return [LocalRelay.ALARM_ON]
        return []


@dataclass
class ChargingPile:
    """A charging pile on the user-device port: it asks for power, we grant at most the
    limit (W; 0 = no limit)."""

    requested: float = 0.0
    limit: int = 0

    @property
    def setpoint(self) -> float:
        return self.requested if not self.limit else min(self.requested, float(self.limit))


@dataclass
class LocalMonitor:
    max_current: float = 60.0
    generation_allowed: bool = False
    bypass_ratio: float = 0.2  # neutral and phase currents differ by more than this share
    bypass_floor: float = 0.5  # A, below which no decision is taken

    def check(self, power_w: float, current: float, neutral: float) -> list[tuple[Alarm, int]]:
        alarms = []
        if current > self.max_current:
            alarms.append((Alarm.OVER_CURRENT, round(current * 1000)))
        if power_w < 0 and not self.generation_allowed:
            alarms.append((Alarm.REVERSE_ENERGY, round(power_w)))
        big = max(current, neutral)
        if big > self.bypass_floor and abs(current - neutral) > self.bypass_ratio * big:
            alarms.append((Alarm.BYPASS_SUSPECTED, round((neutral - current) * 1000)))
        return alarms


Handler = Callable[[UartMessage, bytes, float], None]


class ExpansionModule:
    def __init__(
        self,
        uart_up: bytes,
        uart_down: bytes,
        events: EventSink,
        name: str = "meter",
        *,
        cost: CostControl | None = None,
        protected: bool = True,
    ) -> None:
        self.name = name
        self.uart_out = UartSender(uart_up)
        self.uart_in = UartReceiver(
            uart_down, events, f"{name} expansion/UART", protected=protected
        )
        self.cost = cost
        self.pile = ChargingPile()
        self.monitor = LocalMonitor()
        self.to_management: list[bytes] = []
        self.to_hplc: list[bytes] = []
        self.relay_state = 0
        self.alarms: list[tuple[float, Alarm, int]] = []
        self._raised: set[Alarm] = set()

    def power_up(self) -> None:
        self.to_management.append(self.uart_out.restart())

    def receive_hplc(self, data: bytes) -> None:
        """Bytes from the power line (the modem's output): forwarded to the management
        module, which owns the DL/T 698.45 server."""
        if data:
            self.send(UartMessage.FRAME, data)

    def receive_uart(self, message: bytes, now: float) -> None:
        try:
            kind, payload = self.uart_in.receive(message, now)
            if kind == UartMessage.FRAME:
                self.to_hplc.append(payload)
            elif kind == UartMessage.READINGS:
                self._readings(read_data(Reader(payload)), now)
            elif kind == UartMessage.BALANCE and self.cost is not None:
                self.cost.balance = int(read_data(Reader(payload)).value)
                for request in self.cost.requests():
                    self.send(UartMessage.LOCAL_RELAY, encode_data(Data(DataType.ENUM, request)))
            elif kind == UartMessage.POWER_LIMIT:
                self.pile.limit = int(read_data(Reader(payload)).value)
            elif kind == UartMessage.RELAY_STATE:
                self.relay_state = int(read_data(Reader(payload)).value)
        except (SecurityError, DecodeError):
            return  # refused and recorded by the channel

    def _readings(self, value: Data, now: float) -> None:
        _, forward_wh, power, current, neutral = (item.value for item in value.value)
        if self.cost is not None:
            deduction = self.cost.on_energy(forward_wh, now)
            if deduction is not None:
                fen, wh = deduction
                self.send(UartMessage.DEDUCT, encode_data(_pair(fen, wh)))
        raised = self.monitor.check(power / 10, current / 1000, neutral / 1000)
        for alarm, amount in raised:
            if alarm not in self._raised:  # an alarm is reported when it starts
                self.alarms.append((now, alarm, amount))
                self.send(UartMessage.ALARM, encode_data(_pair(alarm, amount, signed=True)))
        self._raised = {alarm for alarm, _ in raised}

    def send(self, kind: UartMessage, payload: bytes) -> None:
        self.to_management.append(self.uart_out.encode(kind, payload))


def _pair(a: int, b: int, signed: bool = False) -> Data:
    first = DataType.ENUM if signed else DataType.DOUBLE_LONG_UNSIGNED
    second = DataType.DOUBLE_LONG if signed else DataType.DOUBLE_LONG_UNSIGNED
    return Data.structure(Data(first, int(a)), Data(second, int(b)))
