"""A charging pile on the expansion module's user-device port: its setpoint never exceeds the
power limit the station set (through the management module, after the ESAM verified the
command), and a pile that draws more than its limit anyway is over its limit (an alarm).

The port meters the pile: each report of what it drew since the last one (W) adds that power
over the time between them to the energy not yet passed on, which :meth:`ChargingPile.meter`
hands over in whole mWh (the remainder waits for the next report)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ChargingPile"]


@dataclass
class ChargingPile:
    """A charging pile on the user-device port: it asks for power, we grant at most the
    limit (W; 0 = no limit)."""

    requested: float = 0.0
    limit: int = 0
    #: W the meter's own load distribution grants it this step (None: no local restriction).
    local: float | None = None
    drawn: float = 0.0  #: W, what the pile reports it draws
    #: The share above the limit a pile may draw before it counts as over it (metering and
    #: control tolerance).
    tolerance: float = 0.05
    _metered_at: float | None = field(default=None, repr=False)
    _pending_mwh: float = field(default=0.0, repr=False)

    def meter(self, watts: float, now: float) -> int:
        """The pile drew ``watts`` since its last report: the whole mWh to pass on."""
        if self._metered_at is not None and now > self._metered_at:
            self._pending_mwh += max(watts, 0.0) * (now - self._metered_at) / 3.6
        self._metered_at = now if self._metered_at is None else max(self._metered_at, now)
        whole = int(self._pending_mwh + 1e-6)  # a sum of thirds lands a hair short
        self._pending_mwh -= whole
        return whole

    def power_up(self) -> None:
        """After a restart: metering starts again from the next report (what was not passed
        on is lost with the module's RAM)."""
        self._metered_at, self._pending_mwh = None, 0.0

    @property
    def over_limit(self) -> bool:
        """Whether the pile draws more than its limit allows (never without a limit)."""
        return bool(self.limit) and self.drawn > self.limit * (1 + self.tolerance)

    @property
    def setpoint(self) -> float:
        """What the pile may draw now: its request within the station's limit and within
        what the meter's load distribution granted it."""
        granted = self.requested if not self.limit else min(self.requested, float(self.limit))
        return granted if self.local is None else min(granted, self.local)
