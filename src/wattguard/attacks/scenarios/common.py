"""What the scenarios share: fresh systems to attack, and a household's load to drive them."""

from __future__ import annotations

from wattguard.meter.device import Meter, MeterConfig
from wattguard.testing import ADDRESS, HOUSE, MIDNIGHT
from wattguard.testing.meter import new_meter

__all__ = ["ADDRESS", "HOUSE", "T0", "fresh_meter", "household"]

#: The scenarios start at a midnight (UTC): whole days of freezes and readings.
T0 = MIDNIGHT


def fresh_meter(protected: bool, **kwargs: object) -> Meter:
    """A new meter, powered up at T0; protected: F101 enforced and every link MAC-checked."""
    meter = new_meter(ADDRESS, config=MeterConfig(protected=protected), **kwargs)
    meter.power_up(T0)
    return meter


def household(meter: Meter, hours: float, start: float = T0) -> float:
    """Drive ``meter`` with a household's load, minute by minute; returns the time reached."""
    now = start
    for _ in range(int(hours * 60)):
        now += 60.0
        meter.measure(HOUSE, 60.0, now)
        meter.handle_timer(now)
    return now
