"""Local monitoring in the expansion module: alarms it raises from the readings the
management module shares, without the station."""

from __future__ import annotations

from dataclasses import dataclass

from wattguard.meter.links.uart import Alarm

__all__ = ["LocalMonitor"]


@dataclass
class LocalMonitor:
    """Local monitoring: over-current, reverse energy on a meter without generation, and a
    suspected bypass (phase and neutral current disagree)."""

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
