"""Scenario 14: energy theft by bypass, caught by the district's energy balance.

``bypass-theft``: a customer puts jumpers across their meter's terminals, on the phase and
on the neutral both, so that most of their load flows around the meter. The meter sees a
smaller current, equal on both conductors: its local monitor (which flags a phase current
unlike the neutral's) has nothing to see, and every frame it sends is genuine and verifies.
The energy still passes the transformer. Protected, the district has a total meter and the
station checks the energy balance every hour (:class:`~wattguard.station.balance.EnergyBalance`):
what the total meter measured against what the customers' meters billed; the share
unaccounted jumps past the technical losses, and the monitor raises a tamper alert naming the
district. Unprotected (no balance check), the theft goes unnoticed.

The district is households and shops: the balance compares forward energies, which holds
where the district imports (with rooftop PV exporting, the reverse energies belong in the
balance too; docs in :mod:`wattguard.station.balance`).
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.deployed import StationView, fresh_deployment
from wattguard.events import EventKind
from wattguard.meter.device import Meter
from wattguard.runtime.deployment import Deployment
from wattguard.runtime.district import District
from wattguard.runtime.factory import factory_meter
from wattguard.simulation.profile import LoadClass, LoadModel

__all__ = ["with_total_meter"]

#: The share of the thief's load that flows around the meter.
BYPASSED = 0.8


def with_total_meter(deployment: Deployment) -> District:
    """Give the deployment's first district a total meter at the transformer (read like any
    meter), registered as such: the station's energy balance (on by default) checks it."""
    net = deployment.nets[0]
    address = bytes(6)  # the transformer's meter: 000000000000
    total = factory_meter(address, deployment.hsm, active_reports=True)
    district = District(net, total)
    deployment.station.register_total_meter(address, net.terminal.address)
    return district


@scenario(
    14,
    "bypass-theft",
    "energy theft by a bypass of both conductors around the meter (the meter and its frames "
    "stay genuine)",
    (Protection.MONITORING,),
)
def bypass_theft(protected: bool) -> Outcome:
    deployment = fresh_deployment(
        protected, meters=4, per_terminal=4, warm_up=0, start=T0 + 16 * 3600
    )
    net = deployment.nets[0]
    model = LoadModel.mixed(
        4, seed=14, mix={LoadClass.HOUSEHOLD: 0.75, LoadClass.SHOP: 0.25}
    )  # fmt: skip
    net.fleet.load = model.load
    if not protected:
        deployment.station.balance = None  # the station without its energy balance
    balance = deployment.station.balance
    district = with_total_meter(deployment)
    deployment.run_virtual(3 * 3600)  # honest hours: the balance holds within the losses
    thief = max(district.customers, key=_kwh)  # the biggest load has the most to gain
    metered_before = _kwh(thief)
    supplied_before = district.supplied_kwh
    billed_before = sum(_kwh(m) for m in district.customers)
    view = StationView(deployment)
    began = int(deployment.clock.time())
    district.bypass(thief.address, BYPASSED)
    deployment.run_virtual(3 * 3600)
    supplied = district.supplied_kwh - supplied_before
    billed = sum(_kwh(m) for m in district.customers) - billed_before
    stolen = supplied * (1 - district.losses) - billed
    alerted = [e for e in view.events() if e.kind == EventKind.TAMPER and "balance" in e.source]
    checked = balance.results if balance is not None else []
    honest = [f"{b.share:.1%}" for b in checked if b.end <= began]
    outcome = Outcome(
        stolen > 1.0 and not alerted,
        f"in three hours of theft the thief's meter registered "
        f"{_kwh(thief) - metered_before:.2f} kWh, about {stolen:.2f} kWh went around it; "
        + (
            f"the balance showed {', '.join(honest)} unaccounted in the honest hours and "
            f"flagged {len(alerted)} of the theft's hours"
            if balance is not None
            else "no balance is checked"
        ),
        evidence=[e.detail for e in alerted[:3]],
    )
    return view.into(outcome)


def _kwh(meter: Meter) -> float:
    return meter.management.registers.forward_active[0] / 3.6e6
