"""Scenario 17, charging piles under OCPP 1.6J: forged charging profiles and forged charge
points, over real websockets on loopback.

``ocpp-forged-charging-profile``: the adversary redirects a charge point's connection to its
own central system (DNS or ARP spoofing on the site's network) and sends it a
``SetChargingProfile`` that lifts its limit to the charger's maximum during the evening peak,
where the station's plan allowed :data:`PLANNED_W`. It succeeds if the charge point obeys
(draws more than the plan allowed). Protected, the charge point speaks OCPP security profile
2: TLS that trusts only the station's CA, so the impostor (whose certificate another CA
signed) is refused before any OCPP message, with a security event. Unprotected (``ws://``,
profile 0), the charge point boots with whoever answers and obeys.

``ocpp-unknown-charge-point``: the adversary dials the station's central system as a charge
point it does not hold the AuthorizationKey of and reports MeterValues that hide what the
real pile draws. It succeeds if the station records them. Protected (profile 1, Basic
authentication checked against the station's key hashes), it is refused with 401 and a
security event; unprotected, the station takes its word.
"""

from __future__ import annotations

import asyncio
import os

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.clock import VirtualClock
from wattguard.events import EventLog
from wattguard.runtime.ocpp_charger import OcppRefused, charge_point
from wattguard.runtime.ocpp_server import CentralSystem, wait_for
from wattguard.simulation.charger import ChargerModel
from wattguard.station.chargepoints import ChargePointRegistry, iso
from wattguard.testing.ocpp import ocpp_tls

__all__: list[str] = []

#: The limit the station's plan set for the evening peak, and the charger's maximum (W).
PLANNED_W = 3700.0
MAXIMUM_W = 11000.0
STEP = 900
KEY = "genuine-key-0123456789"
PEAK = T0 + 18 * 3600.0


async def _obeys_impostor(protected: bool) -> tuple[float, list[str], EventLog]:
    """The charge point, dialling where it thinks the station is (the impostor), and then
    charging for a quarter: the power it drew, the profiles it took, its events."""
    clock, events = VirtualClock(PEAK), EventLog()
    genuine, forged = ocpp_tls("station CA", PEAK), ocpp_tls("station CA", PEAK)
    model = ChargerModel(max_w=MAXIMUM_W, transaction=None)
    model.set_profile(_planned(), PEAK)  # the station's plan, delivered before the redirect
    registry = ChargePointRegistry(EventLog(), protected=False)  # the impostor takes anyone
    server_ctx = forged.server_context() if protected else None
    async with CentralSystem(registry, clock, ssl_context=server_ctx) as impostor:
        try:
            async with charge_point(
                impostor.url, "CP-1", KEY, model, clock, events,
                ssl_context=genuine.client_context() if protected else None,
            ) as device:  # fmt: skip
                await device.boot()
                await device.plug_in()
                await wait_for(lambda: "CP-1" in impostor.sessions)
                await impostor.deliver("CP-1", [MAXIMUM_W] * 4, STEP, PEAK)
                clock.advance(STEP)
                drawn = await device.step(MAXIMUM_W, STEP)
                return drawn, [status for status, _ in device.received], events
        except OcppRefused:
            model.transaction = 1  # it charges on, offline, under the plan it holds
            clock.advance(STEP)
            return model.step(MAXIMUM_W, STEP, clock.time()), [], events


def _planned() -> dict[str, object]:
    return {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "W", "duration": 4 * STEP,
            "startSchedule": iso(PEAK),
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": PLANNED_W}],
        },
    }  # fmt: skip


@scenario(
    17,
    "ocpp-forged-charging-profile",
    "an impostor central system lifts a charge point's limit with a forged SetChargingProfile",
    (Protection.IDENTITY, Protection.BOUNDARY),
)
def forged_charging_profile(protected: bool) -> Outcome:
    drawn, taken, events = asyncio.run(_obeys_impostor(protected))
    succeeded = drawn > PLANNED_W
    outcome = Outcome(
        succeeded,
        f"the charge point drew {drawn / 1000:.1f} kW at the evening peak (the plan allowed "
        f"{PLANNED_W / 1000:.1f} kW); profiles from the impostor: {taken or 'none'}",
        [f"over {'wss:// (security profile 2)' if protected else 'ws:// (no TLS)'}"],
    )
    return outcome.saw(events.events)


async def _forged_meter_values(protected: bool) -> tuple[int, EventLog]:
    """An adversary posing as charge point CP-1 with a guessed key reports 0 W; how many of
    its samples the station kept, and the station's events."""
    clock, events = VirtualClock(PEAK), EventLog()
    registry = ChargePointRegistry(events, protected=protected)
    registry.enrol("CP-1", KEY, salt=os.urandom(16))
    async with CentralSystem(registry, clock) as central:
        try:
            async with charge_point(
                central.url, "CP-1", "guessed-key-000000", ChargerModel(MAXIMUM_W), clock,
                EventLog(),
            ) as device:  # fmt: skip
                await device.boot()
                await device.plug_in()
                clock.advance(STEP)
                await device.step(0.0, STEP)
        except OcppRefused:
            pass
    return len(registry.states["CP-1"].samples), events


@scenario(
    17,
    "ocpp-unknown-charge-point",
    "a forged charge point reports false MeterValues to the station's central system",
    (Protection.IDENTITY, Protection.MONITORING),
)
def unknown_charge_point(protected: bool) -> Outcome:
    kept, events = asyncio.run(_forged_meter_values(protected))
    outcome = Outcome(
        kept > 0,
        f"the station kept {kept} forged MeterValues sample(s) from a charge point with a "
        "guessed key",
    )
    return outcome.saw(events.events)
