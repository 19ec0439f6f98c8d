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
  suspected bypass (phase and neutral current disagree);
* load distribution: the household's contracted power shared among the pile and the user's
  device ports by priority each metering step, also while the station is unreachable
  (``distribution.py``); each curtailment is an ALARM the management module logs and reports.

It talks to the management module only over the UART channel, and everything it asks there is
checked on the other side: it cannot operate the relay, change keys or write parameters on its
own.

Sans-IO, with the shape of :class:`wattguard.sansio.Core` on its primary port, the power line:
``receive_data(data, now)`` takes bytes from the modem and ``data_to_send()`` gives the bytes
for it. Its UART port is named: ``receive_uart(message, now)`` takes one MAC'd message and
``uart_to_send()`` gives the messages for the management module, each whole (the in-memory
link between the chips carries messages, and its ``manipulate`` hook sees each one). Its local
functions run on what arrives, so it has no timers; what it notices (alarms) goes to the
management module over the UART, so it has no events of its own for the host.
"""

from __future__ import annotations

from collections.abc import Callable

from wattguard.errors import DecodeError, SecurityError
from wattguard.events import EventSink
from wattguard.meter.expansion.cost_control import CostControl
from wattguard.meter.expansion.distribution import Curtailment, LoadDistributor, Priority
from wattguard.meter.expansion.monitoring import LocalMonitor
from wattguard.meter.expansion.pile import ChargingPile
from wattguard.meter.links.uart import Alarm, UartMessage, UartReceiver, UartSender
from wattguard.protocol import Data, DataType
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import encode_data, read_data

__all__ = ["ExpansionModule", "Handler"]


Handler = Callable[[UartMessage, bytes, float], None]
#: The charging pile's name among the ports the load distribution shares power between.
PILE = "pile"


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
        contracted_w: float = 0.0,
    ) -> None:
        self.name = name
        self.uart_out = UartSender(uart_up)
        self.uart_in = UartReceiver(
            uart_down, events, f"{name} expansion/UART", protected=protected
        )
        self.cost = cost
        self.pile = ChargingPile()
        self.monitor = LocalMonitor()
        self.distributor = LoadDistributor(contracted_w, {PILE: Priority.PILE})
        #: The device ports: what each asks and what it drew last (W).
        self.port_requests: dict[str, float] = {}
        self.port_drawn: dict[str, float] = {}
        self.relay_state = 0
        self.alarms: list[tuple[float, Alarm, int]] = []
        self._raised: set[Alarm] = set()
        self._pile_alarm = False
        self._pile_reported = -1  # the pile's power (W) the management module last heard
        self._credit_alarm = False
        self.curtailments: list[Curtailment] = []
        self._to_management: list[bytes] = []
        self._to_hplc: list[bytes] = []

    def power_up(self, epoch: bytes) -> None:
        """After power-up: the UART RESTART message, carrying ``epoch`` (8 fresh random bytes)."""
        self._to_management.append(self.uart_out.restart(epoch))
        self.pile.power_up()
        self._pile_reported = -1  # the first report goes out, even of nothing

    # the power line (the primary port)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the power line (the modem's output): forwarded to the management
        module, which owns the DL/T 698.45 server. ``b""`` (the line went quiet) is nothing
        to forward."""
        if data:
            self.send(UartMessage.FRAME, data)

    def next_event(self) -> None:
        """Nothing: what the expansion module notices reaches the host through the management
        module (UART ALARM messages, checked and logged there)."""
        return None

    def data_to_send(self) -> bytes:
        """The bytes for the power line (the management module's 698 frames), cleared once
        taken."""
        out = b"".join(self._to_hplc)
        self._to_hplc.clear()
        return out

    def get_timer(self) -> None:
        """None: the expansion module acts only on what arrives."""
        return None

    def handle_timer(self, now: float) -> None:
        """Nothing is ever due (see :meth:`get_timer`)."""

    # the UART (the management module)

    def uart_to_send(self) -> list[bytes]:
        """The UART messages for the management module, oldest first, each one whole
        (cleared once taken)."""
        out, self._to_management = self._to_management, []
        return out

    def receive_uart(self, message: bytes, now: float) -> None:
        """One MAC'd message from the management module (refusals are recorded by the
        channel and change nothing)."""
        try:
            kind, payload = self.uart_in.receive(message, now)
            if kind == UartMessage.FRAME:
                self._to_hplc.append(payload)
            elif kind == UartMessage.READINGS:
                self._readings(read_data(Reader(payload)), now)
            elif kind == UartMessage.BALANCE and self.cost is not None:
                self.cost.balance = int(read_data(Reader(payload)).value)
                for request in self.cost.requests():
                    self.send(UartMessage.LOCAL_RELAY, encode_data(Data(DataType.ENUM, request)))
                self._credit_check(now)
            elif kind == UartMessage.POWER_LIMIT:
                self.pile.limit = int(read_data(Reader(payload)).value)
            elif kind == UartMessage.RELAY_STATE:
                self.relay_state = int(read_data(Reader(payload)).value)
            elif kind == UartMessage.ALARM_LEVELS and self.cost is not None:
                first, second = (int(f.value) for f in read_data(Reader(payload)).value)
                self.cost.alarm_levels = (first, second)
                self._credit_check(now)
            elif kind == UartMessage.OVER_CURRENT:
                self.monitor.max_current = int(read_data(Reader(payload)).value) / 1000
            elif kind == UartMessage.MAY_EXPORT:
                self.monitor.generation_allowed = bool(read_data(Reader(payload)).value)
            elif kind == UartMessage.OVERDRAFT and self.cost is not None:
                self.cost.overdraft = int(read_data(Reader(payload)).value)
            elif kind == UartMessage.PRICES and self.cost is not None:
                prices = [int(v.value) for v in read_data(Reader(payload)).value]
                self.cost.set_prices(prices)
        except (SecurityError, DecodeError):
            return  # refused and recorded by the channel

    def pile_drawn(self, watts: float, now: float) -> None:
        """The charging pile reports what it has drawn since its last report (W): the energy
        goes to the management module (PILE_ENERGY, kept as FF13); over its limit, a
        PILE_OVER_LIMIT alarm (when it starts; again only after the pile came back within
        its limit)."""
        self._pile_energy(watts, now)
        self.pile.drawn = watts
        over = self.pile.over_limit
        if over and not self._pile_alarm:
            self._alarm(Alarm.PILE_OVER_LIMIT, round(watts), now)
        self._pile_alarm = over

    def _pile_energy(self, watts: float, now: float) -> None:
        delta = self.pile.meter(watts, now)
        if delta or round(watts) != self._pile_reported:
            self._pile_reported = round(max(watts, 0.0))
            self.send(UartMessage.PILE_ENERGY, encode_data(_pair(delta, self._pile_reported)))

    # the user-device ports and the load distribution

    def add_port(self, name: str, priority: Priority = Priority.DEVICE) -> None:
        """A switchable device port ``name`` (curtailed before the pile by default)."""
        if name == PILE:
            raise ValueError(f"{PILE!r} is the charging pile's port")
        self.distributor.ports[name] = priority
        self.port_requests.setdefault(name, 0.0)
        self.port_drawn.setdefault(name, 0.0)

    def port_request(self, name: str, watts: float, drawn: float | None = None) -> None:
        """Device port ``name`` asks for ``watts`` (and drew ``drawn`` since the last step)."""
        self.port_requests[name] = max(0.0, watts)
        if drawn is not None:
            self.port_drawn[name] = max(0.0, drawn)

    def granted(self, name: str) -> float:
        """What port ``name`` (or the pile) may draw now (W)."""
        if name == PILE:
            return self.pile.setpoint
        return self.distributor.grants.get(name, self.port_requests.get(name, 0.0))

    def _distribute(self, household_w: float, now: float) -> None:
        drawn = {**self.port_drawn, PILE: self.pile.drawn}
        requested = {**self.port_requests, PILE: self.pile.requested}
        caps = {PILE: float(self.pile.limit)} if self.pile.limit else {}
        for cut in self.distributor.step(household_w, drawn, requested, caps, now):
            self._curtailed(cut)
        active = self.distributor.contracted_w > 0
        self.pile.local = self.distributor.grants.get(PILE) if active else None

    def _curtailed(self, cut: Curtailment) -> None:
        self.curtailments.append(cut)
        alarm = Alarm.PILE_CURTAILED if cut.name == PILE else Alarm.DEVICE_CURTAILED
        self._alarm(alarm, round(cut.curtailed), cut.at)

    def _credit_check(self, now: float) -> None:
        """CREDIT_LOW when the credit falls to the first alarm level (once until a top-up
        lifts it above)."""
        if self.cost is None or self.cost.balance is None:
            return
        low = self.cost.balance <= self.cost.alarm_levels[0]
        if low and not self._credit_alarm:
            self._alarm(Alarm.CREDIT_LOW, self.cost.balance, now)
        self._credit_alarm = low

    def _alarm(self, alarm: Alarm, amount: int, now: float) -> None:
        self.alarms.append((now, alarm, amount))
        self.send(UartMessage.ALARM, encode_data(_pair(alarm, amount, signed=True)))

    def _readings(self, value: Data, now: float) -> None:
        _, forward_wh, power, current, neutral = (item.value for item in value.value[:5])
        tariff = int(value.value[5].value) if len(value.value) > 5 else None
        if self.cost is not None:
            deduction = self.cost.on_energy(forward_wh, now, tariff)
            if deduction is not None:
                fen, wh = deduction
                self.send(UartMessage.DEDUCT, encode_data(_pair(fen, wh)))
        self._distribute(power / 10, now)
        raised = self.monitor.check(power / 10, current / 1000, neutral / 1000)
        for alarm, amount in raised:
            if alarm not in self._raised:  # an alarm is reported when it starts
                self._alarm(alarm, amount, now)
        self._raised = {alarm for alarm, _ in raised}

    def send(self, kind: UartMessage, payload: bytes) -> None:
        """Queue one UART message to the management module (what a compromised expansion
        module can do too: the attack harness and tests call this directly)."""
        self._to_management.append(self.uart_out.encode(kind, payload))


def _pair(a: int, b: int, signed: bool = False) -> Data:
    first = DataType.ENUM if signed else DataType.DOUBLE_LONG_UNSIGNED
    second = DataType.DOUBLE_LONG if signed else DataType.DOUBLE_LONG_UNSIGNED
    return Data.structure(Data(first, int(a)), Data(second, int(b)))
