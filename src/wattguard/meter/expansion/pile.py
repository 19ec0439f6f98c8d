"""A charging pile on the expansion module's user-device port: its setpoint never exceeds the
power limit the station set (through the management module, after the ESAM verified the
command)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChargingPile"]


@dataclass
class ChargingPile:
    """A charging pile on the user-device port: it asks for power, we grant at most the
    limit (W; 0 = no limit)."""

    requested: float = 0.0
    limit: int = 0

    @property
    def setpoint(self) -> float:
        return self.requested if not self.limit else min(self.requested, float(self.limit))
