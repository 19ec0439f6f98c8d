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

from collections.abc import Callable

from wattguard.errors import DecodeError, SecurityError
from wattguard.events import EventSink
from wattguard.meter.expansion.cost_control import CostControl
from wattguard.meter.expansion.monitoring import LocalMonitor
from wattguard.meter.expansion.pile import ChargingPile
from wattguard.meter.links.uart import Alarm, UartMessage, UartReceiver, UartSender
from wattguard.protocol import Data, DataType
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import encode_data, read_data

__all__ = ["ExpansionModule", "Handler"]


Handler = Callable[[UartMessage, bytes, float], None]


class ExpansionModule:
    """The expansion module: the HPLC modem side, cost control, the charging pile and local
    monitoring. It reaches the management module only over the MAC'd UART channel."""

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
