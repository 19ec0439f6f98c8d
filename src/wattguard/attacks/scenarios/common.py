"""What the scenarios share: fresh systems to attack, and a household's load to drive them."""

from __future__ import annotations

import os

from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.module import LinkKeys
from wattguard.meter.metering.module import Measurement

__all__ = ["ADDRESS", "HOUSE", "T0", "fresh_meter", "household"]

ADDRESS = bytes.fromhex("000000000001")
T0 = 1_790_000_000.0 - 1_790_000_000.0 % 86400  # a midnight (UTC)
HOUSE = Measurement(voltage=229.5, current=8.7, active_power=1900.0, reactive_power=400.0)


def fresh_meter(protected: bool, **kwargs: object) -> Meter:
    """A new meter, powered up at T0; protected: F101 enforced and every link MAC-checked."""
    meter = Meter(
        ADDRESS,
        keys=LinkKeys.generate(os.urandom),
        random=os.urandom,
        config=MeterConfig(protected=protected),
        **kwargs,  # type: ignore[arg-type]
    )
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
