"""Scenario 14, by the customer's own hand: ``power-cycle-after-trip``.

The station trips a customer's meter (unpaid bills, or a prepaid credit run out). The customer
switches off the main breaker upstream of the meter, or pulls the meter's fuse, and switches it
on again: every module of the meter restarts. No frame is forged, replayed or altered.

Protected, the management module keeps the relay's state in its non-volatile store at every
change (:func:`~wattguard.meter.management.persistence.restore_relay`), as a latching relay
stays where it was: the meter wakes up tripped and the load stays cut until the station closes
it. Unprotected, the relay's state lives only in RAM (a store that does not keep it): the
meter wakes up closed and the customer has the supply back without paying.

Not a detection scenario: the meter logs the power cycle as a power-down (3011) like any
outage, and an outage on the grid looks the same, so it raises no security event; what
protects is that the trip holds.
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import ADDRESS, T0
from wattguard.esam.client import EsamClient
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.esam_store import StoredEsam
from wattguard.meter.management.storage import MemoryStore
from wattguard.protocol import OMD, Data, DataType
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.security import Protection as Wrapping
from wattguard.testing.esam import DEVICE_KEY, make_esam, rig
from wattguard.testing.meter import Line, new_meter

#: A trip at once (8000 method 129; no parameters: the meter's defaults).
_TRIP = Data(DataType.NULL, None)


class _RamRelayStore(MemoryStore):
    """Non-volatile memory of a meter whose firmware keeps the relay's state only in RAM."""

    def put(self, key: str, value: bytes) -> None:
        if key != "relay":
            super().put(key, value)


def _boot(store: MemoryStore) -> Meter:
    client = EsamClient(StoredEsam.open(store, DEVICE_KEY, lambda: make_esam(ADDRESS)))
    return new_meter(ADDRESS, esam=client, wallet=client, store=store, config=MeterConfig())


@scenario(
    14,
    "power-cycle-after-trip",
    "a customer whose meter the station tripped switches the supply off and on again",
    (Protection.DATA,),
    detectable=False,
)
def power_cycle_after_trip(protected: bool) -> Outcome:
    store = MemoryStore() if protected else _RamRelayStore()
    meter = _boot(store)
    meter.power_up(T0)
    station = rig().station
    station.register(ADDRESS, key_version=1)
    now = T0 + 3600
    trip = station.wrap(
        ADDRESS, ActionRequest(3, OMD(0x8000, 129, 0), _TRIP), protection=Wrapping.CIPHERTEXT
    )
    Line(meter).exchange(trip, now)
    if meter.management.relay.supplying:
        return Outcome(False, "the station's trip did not open the relay: nothing to undo")
    meter.mains_lost(now + 60)  # the breaker off
    reborn = _boot(store)  # every module restarts; RAM is lost, the store kept
    reborn.mains_lost(now + 60)
    reborn.mains_restored(now + 120)  # the breaker on
    reborn.management.handle_timer(now + 180)
    state = reborn.management.relay.state
    return Outcome(
        reborn.management.relay.supplying,
        f"relay {state.value} after the supply was switched off and on again",
        evidence=[f"relay before the power cycle: {meter.management.relay.state.value}"],
    )
