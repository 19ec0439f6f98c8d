"""The station's charging job delivering through OCPP: a district with one OCPP charge point
(a simulated one over a real websocket) and one meter's pile (a delivery callable standing for
the protected 698 pile-limit command); the charge point's power never exceeds its limit, and
what it reports feeds the job back."""

from __future__ import annotations

import asyncio
import os

import numpy as np

from wattguard.clock import VirtualClock
from wattguard.events import EventLog
from wattguard.runtime.ocpp_charger import charge_point
from wattguard.runtime.ocpp_server import CentralSystem, wait_for
from wattguard.simulation.charger import ChargerModel
from wattguard.station.chargepoints import ChargePointRegistry
from wattguard.station.charging import DistrictCharging, PileSpec

STEP = 900
STEPS = 96
T0 = 1_795_996_800.0  # a midnight (UTC)
KEY = "charge-point-key-0001"
CAPACITY = 60.0


def _base(days: int) -> np.ndarray:
    hour = (np.arange(days * STEPS) % STEPS) / 4
    return 30.0 + 20.0 * np.exp(-((hour - 19.0) ** 2) / 6.0)


async def _day() -> tuple[list[tuple[float, float]], DistrictCharging, list[tuple[str, float]]]:
    clock = VirtualClock(T0)
    registry = ChargePointRegistry(EventLog(), id_tags=["EV-0001"])
    registry.enrol("CP-1", KEY, salt=os.urandom(16))
    meter_pile: list[tuple[str, float]] = []
    obeyed: list[tuple[float, float]] = []
    async with CentralSystem(registry, clock) as central:
        job = DistrictCharging(
            "000000000001", CAPACITY, STEP, np.full(STEPS, 0.5),
            [PileSpec("CP-1", 11.0), PileSpec("000000000007", 7.0)],
            {"CP-1": central.delivery(STEP),
             "000000000007": lambda p, kw: meter_pile.append((p, kw))},
        )  # fmt: skip
        job.begin(T0, _base(5))
        model = ChargerModel(max_w=11_000.0)
        async with charge_point(central.url, "CP-1", KEY, model, clock, EventLog()) as device:
            await device.boot()
            clock.advance(64 * STEP)  # 16:00
            await device.plug_in()
            job.plug_in("CP-1", 40.0, T0 + STEPS * STEP, clock.time())
            job.plug_in("000000000007", 20.0, T0 + STEPS * STEP, clock.time())
            for t in range(64, STEPS):
                limits = job.dispatch(clock.time())
                sent_kw = next(kw for _, pile, kw in reversed(job.delivered) if pile == "CP-1")
                sent = len(device.received)
                await wait_for(lambda n=sent: len(central.answers) >= n + 1)
                clock.advance(STEP)
                power = await device.step(11_000.0, STEP)
                obeyed.append((power, sent_kw * 1000.0))
                reported = registry.states["CP-1"].samples[-1].power_w or 0.0
                job.observe(
                    clock.time(), float(_base(1)[t]),
                    {"CP-1": reported / 1000.0, "000000000007": limits["000000000007"]},
                )  # fmt: skip
    return obeyed, job, meter_pile


def test_the_job_delivers_over_ocpp_and_the_charge_point_obeys() -> None:
    obeyed, job, meter_pile = asyncio.run(_day())
    # the EV wants 11 kW throughout: it draws exactly the limit it was sent, never more
    assert [power for power, _ in obeyed] == [round(limit, 1) for _, limit in obeyed]
    assert any(limit > 0 for _, limit in obeyed) and any(limit == 0 for _, limit in obeyed)
    assert len(meter_pile) == STEPS - 64 and {p for p, _ in meter_pile} == {"000000000007"}
    delivered = {s.pile: s.delivered_kwh for s in job.sessions}
    assert abs(delivered["CP-1"] - 40.0) < 0.05 and abs(delivered["000000000007"] - 20.0) < 1e-3
