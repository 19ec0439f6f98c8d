"""The energy balance of a transformer district: what its total meter measured against what
its customers' meters billed.

Theory of operation. A district is one terminal's network: a *total meter* at the transformer
(every kWh the customers draw passes it) and the customers' meters. :class:`EnergyBalance`
hears every batch of readings the station stores (``Station.on_readings``) and keeps, per
meter, the cumulative forward energy of the 15-minute curve at each freeze time (quantity
``50020200/00100201``: the freeze times are the same quarter hours on every meter, unlike
real-time reads, which a terminal takes one meter after the other). For each period of
``period`` seconds that ends on a multiple of ``period``, once the total meter and every
customer meter have a value at both ends::

    supplied = total(end) - total(start)
    billed   = sum of (customer(end) - customer(start))
    loss     = supplied - billed,   share = loss / supplied

Technical losses of a low-voltage district are a few percent (lines, connections, the meters'
own consumption). A loss above ``tolerance`` of what was supplied, and above ``floor`` kWh,
means energy leaves the network without passing a customer's meter: a bypass (energy theft),
a faulty or tampered meter, or an unregistered connection. It is recorded as a TAMPER security
event of the district, which the station's monitor alerts on. A meter's own local monitor only
sees a bypass that leaves its phase and neutral currents unequal; a bypass of both conductors,
or a tampered meter, shows only here.

Each checked period is kept in :attr:`EnergyBalance.results`. Values older than a few periods
are forgotten, so the memory stays bounded however long the station runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.station.ingest import Reading

__all__ = ["CURVE_ENERGY", "Balance", "EnergyBalance"]

#: Total forward active energy in the 15-minute curve (kWh, at each freeze time).
CURVE_ENERGY = "50020200/00100201"
#: Periods of values kept per meter beyond the last checked one.
_KEEP_PERIODS = 4


@dataclass(frozen=True, slots=True)
class Balance:
    """One district over one period."""

    terminal: str
    start: int
    end: int
    supplied: float  # kWh through the total meter
    billed: float  # kWh on the customers' meters

    @property
    def loss(self) -> float:
        return self.supplied - self.billed

    @property
    def share(self) -> float:
        return self.loss / self.supplied if self.supplied > 0 else 0.0


@dataclass
class _District:
    total: str
    customers: set[str]
    checked: int = 0  # the end of the last period checked


@dataclass
class EnergyBalance:
    """Checks each transformer district's energy balance on its meters' 15-minute freezes, and
    records a TAMPER event when the loss is above both ``tolerance`` and ``floor``."""

    events: EventSink | None = None
    period: int = 3600
    tolerance: float = 0.08
    floor: float = 0.2  # kWh
    results: list[Balance] = field(default_factory=list)
    _districts: dict[str, _District] = field(default_factory=dict)
    _energy: dict[str, dict[int, float]] = field(default_factory=dict)
    _district_of: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.period <= 0 or self.period % 900:
            raise ConfigError("the balance period is a positive multiple of 15 minutes")
        if not 0 < self.tolerance < 1 or self.floor < 0:
            raise ConfigError("the balance tolerance is a share in (0, 1), the floor >= 0 kWh")

    def add_district(self, terminal: str, total: str, customers: Iterable[str]) -> None:
        """The district of ``terminal``: its total meter and its customers' meters (addresses,
        12 hex digits). Calling it again replaces the district (a meter added or removed)."""
        members = set(customers) - {total}
        if not members:
            raise ConfigError(f"district {terminal} needs at least one customer meter")
        checked = self._districts[terminal].checked if terminal in self._districts else 0
        self._districts[terminal] = _District(total, members, checked)
        for meter in (total, *members):
            self._district_of[meter] = terminal

    def on_readings(self, readings: list[Reading]) -> None:
        """Take a batch of stored readings; check each district that it completes."""
        touched = set()
        for reading in readings:
            terminal = self._district_of.get(reading.meter)
            if terminal is None or reading.quantity != CURVE_ENERGY:
                continue
            self._energy.setdefault(reading.meter, {})[reading.time] = reading.value
            touched.add(terminal)
        for terminal in sorted(touched):
            self._check(terminal)

    def _check(self, terminal: str) -> None:
        district = self._districts[terminal]
        totals = self._energy.get(district.total, {})
        ends = sorted(t for t in totals if t % self.period == 0 and t > district.checked)
        for end in ends:
            balance = self._balance(terminal, district, end)
            if balance is None:
                continue
            district.checked = end
            self.results.append(balance)
            if balance.share > self.tolerance and balance.loss > self.floor:
                self._record(balance)
        self._forget(district)

    def _balance(self, terminal: str, district: _District, end: int) -> Balance | None:
        start = end - self.period
        meters = [district.total, *sorted(district.customers)]
        values = [self._energy.get(m, {}) for m in meters]
        if any(start not in v or end not in v for v in values):
            return None  # not every meter has both ends yet
        deltas = [v[end] - v[start] for v in values]
        return Balance(terminal, start, end, deltas[0], sum(deltas[1:]))

    def _record(self, balance: Balance) -> None:
        if self.events is None:
            return
        detail = (
            f"energy balance {balance.start}-{balance.end}: {balance.supplied:.2f} kWh supplied, "
            f"{balance.billed:.2f} kWh on the customers' meters, {balance.loss:.2f} kWh "
            f"({balance.share:.0%}) unaccounted"
        )
        self.events.record(
            SecurityEvent(
                EventKind.TAMPER, f"station/balance {balance.terminal}", detail, balance.end
            )
        )

    def _forget(self, district: _District) -> None:
        horizon = district.checked - _KEEP_PERIODS * self.period
        for meter in (district.total, *district.customers):
            values = self._energy.get(meter)
            if values:
                for t in [t for t in values if t < horizon]:
                    del values[t]
