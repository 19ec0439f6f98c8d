"""Cost control in the expansion module: time-of-use prices (peak, flat, valley) of the energy
the management module reports, deductions from the ESAM wallet, alarm levels as the credit runs
low, and a trip request at zero credit. The request is only a request: the management module
decides, under its own rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from wattguard.errors import ConfigError
from wattguard.meter.links.uart import LocalRelay

__all__ = ["CostControl", "TariffSchedule"]


@dataclass(frozen=True, slots=True)
class TariffSchedule:
    """Time-of-use prices: ``periods`` maps each hour of the day to a tariff number (1 peak,
    2 flat, 3 valley, as the meter's tariff registers count them) and ``prices`` gives fen per
    kWh for each tariff. The default is a common Chinese residential TOU split."""

    periods: tuple[int, ...] = (3,) * 8 + (2,) * 2 + (1,) * 2 + (2,) * 6 + (1,) * 4 + (2,) * 2
    prices: dict[int, float] = field(default_factory=lambda: {1: 68, 2: 53, 3: 31})

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
    balance: int | None = None  # the credit, fen: negative in overdraft
    overdraft: int = 0  # fen the credit may go below zero (401F), told by the management module
    _last_wh: int | None = None
    _carry: float = 0.0  # fractions of a fen not yet deducted

    def set_prices(self, prices: list[int]) -> None:
        """The station's prices (4018: 0.0001 yuan/kWh, tariff 1 first) replace the schedule's;
        a tariff without a price keeps its old one."""
        table = dict(self.schedule.prices)
        table.update({tariff: price / 100 for tariff, price in enumerate(prices, start=1)})
        self.schedule = replace(self.schedule, prices=table)

    def on_energy(
        self, forward_wh: int, now: float, tariff: int | None = None
    ) -> tuple[int, int] | None:
        """A deduction (fen, Wh) to request for the energy since the last reading, if any, at
        ``tariff`` (None: the schedule's tariff at ``now``)."""
        if self._last_wh is None or forward_wh < self._last_wh:
            self._last_wh = forward_wh
            return None
        used = forward_wh - self._last_wh
        tariff = self.schedule.tariff(now) if tariff is None else tariff
        price = self.schedule.prices.get(tariff, max(self.schedule.prices.values()))
        cost = used * price / 1000 + self._carry
        fen = int(cost)
        if fen == 0:
            return None
        self._carry = cost - fen
        self._last_wh = forward_wh
        return fen, used

    def requests(self) -> list[LocalRelay]:
        """What the credit calls for: an alarm below the levels, a trip at zero (at minus the
        overdraft limit when the station allows an overdraft)."""
        if self.balance is None:
            return []
        if self.balance <= -self.overdraft:
            return [LocalRelay.TRIP]
        if self.balance <= self.alarm_levels[0]:
            return [LocalRelay.ALARM_ON]
        return []
