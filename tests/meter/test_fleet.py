"""A fleet of assembled meters steps through virtual time and accounts each meter's load."""

from __future__ import annotations

import numpy as np
import pytest

from wattguard.meter.device import MeterConfig
from wattguard.protocol import OAD
from wattguard.simulation.fleet import MeterFleet
from wattguard.testing import T0
from wattguard.testing.meter import Line, new_meter


def flat_load(n: int):  # type: ignore[no-untyped-def]
    powers = np.arange(1, n + 1, dtype=np.float64) * 100.0  # meter i draws 100 i W

    def load(now: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        return powers, powers * 0.2

    return load


def test_an_hour_of_a_fleet_accounts_each_meters_load() -> None:
    meters = [
        new_meter(i.to_bytes(6, "big"), config=MeterConfig(protected=False)) for i in (1, 2, 3)
    ]
    fleet = MeterFleet(meters, flat_load(3))
    fleet.power_up(T0)
    ticks: list[float] = []
    fleet.run_until(T0 + 3600, ticks.append)
    assert len(ticks) == 60 and fleet.now == T0 + 3600
    for i, meter in enumerate(meters, start=1):
        # 100 i W for an hour = 0.1 i kWh = 10 i in 0.01 kWh
        assert Line(meter).get(OAD(0x0010, 2)).value[0].value == 10 * i
        measurement = meter.management.measurement
        assert measurement is not None
        assert measurement.current == pytest.approx(
            np.hypot(100 * i, 20 * i) / measurement.voltage, rel=1e-3
        )


def test_a_load_source_of_the_wrong_size_is_refused() -> None:
    fleet = MeterFleet([new_meter(bytes(6))], flat_load(2))
    with pytest.raises(RuntimeError, match="power the fleet up"):
        fleet.step()
    fleet.power_up(T0)
    with pytest.raises(ValueError, match="1 powers"):
        fleet.step()
