"""Scenario 13: clock manipulation, and tamper during an attack.

* ``clock-manipulation``: a customer sets their meter's calendar eight hours back with a SET of
  4000 (date-time) on the power line. The meter stamps its 15-minute curve and its freezes with
  its calendar, so the evening peak lands in the night valley at the station, and the daily
  freeze (the billing reading) moves. Protected, F101 wants ciphertext + MAC for every SET
  (DAR 20), the refusal is reported to the station; a clock set that did pass would be logged
  and reported as a clock event. Unprotected, the calendar moves.
"""

from __future__ import annotations

import datetime as dt

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.deployed import (
    StationView,
    command_frame,
    fresh_deployment,
    hexed,
    meter_of,
    transmit,
)
from wattguard.protocol import OAD, Data, DataType, DateTimeS
from wattguard.protocol.apdu.set import SetRequestNormal

__all__ = ["clock_set"]

SHIFT = -8 * 3600.0


def clock_set(posix: float) -> SetRequestNormal:
    """SET 4000-2 (the meter's date-time) to ``posix``."""
    moment = dt.datetime.fromtimestamp(posix, dt.UTC).replace(tzinfo=None)
    return SetRequestNormal(
        4, OAD(0x4000, 2, 0), Data(DataType.DATE_TIME_S, DateTimeS.from_datetime(moment))
    )


@scenario(
    13,
    "clock-manipulation",
    "a customer sets their meter's clock eight hours back on the power line (curve and freezes "
    "stamped in the wrong tariff period)",
    (Protection.IDENTITY, Protection.MONITORING),
)
def clock_manipulation(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    view = StationView(deployment)
    now = deployment.clock.time()
    frame = command_frame(meter.address, clock_set(now + SHIFT))
    transmit(deployment, net, meter.address, frame)
    deployment.run_virtual(900)
    skew = meter.management.calendar() - deployment.clock.time()
    outcome = Outcome(
        abs(skew) >= 3600,
        f"the meter's calendar is {skew / 3600:+.1f} h off after the forged clock set",
        evidence=[f"forged SET 4000: {hexed(frame)}"],
    )
    return view.into(outcome)
