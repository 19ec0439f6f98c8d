"""A charging pile on the expansion module's user-device port: its setpoint never exceeds the
power limit the station set (through the management module, after the ESAM verified the
command), and a pile that draws more than its limit anyway is over its limit (an alarm)."""

from __future__ import annotations

from dataclasses import dataclass

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
