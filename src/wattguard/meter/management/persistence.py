"""What of the management module survives a power loss, and how it comes back.

The non-volatile store holds the power module's state with the calendar offset the RTC stands
for (key ``power``, written by the power-fail hook), each freeze object (``freeze/5002``
and so on, written as each freeze is taken and at power fail) and the parameters the station
set (``parameters``, written at each change: a tariff table or a threshold outlives a power
loss) and the relay (``relay``, written at each change: a tripped meter stays tripped through
a power cycle). A module built on a store that
holds them carries on from there; what cannot be read back is logged and started afresh.
"""

from __future__ import annotations

import logging

from wattguard.errors import DecodeError
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.freeze import Freezer, Reader_
from wattguard.meter.management.parameters import MeterParameters
from wattguard.meter.management.power import PowerHost, PowerModule
from wattguard.meter.management.relay import Relay, RelayState
from wattguard.meter.management.storage import Store
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import encode_data, read_data

__all__ = [
    "restore_freezer",
    "restore_parameters",
    "restore_power",
    "restore_relay",
    "save",
    "save_parameters",
]

log = logging.getLogger(__name__)


def save(store: Store, power: PowerModule, freezer: Freezer) -> None:
    """Write what must survive a power loss."""
    store.put("power", power.to_bytes())
    for kind, table in freezer.tables.items():
        store.put(f"freeze/{int(kind):04X}", table.to_bytes())


def restore_power(store: Store, host: PowerHost, now: float) -> PowerModule:
    """The saved power module (its clock offset back on ``host``), or a new one; an
    unreadable state is logged on ``host`` as a clock fault at ``now``."""
    saved = store.get("power")
    if saved is not None:
        try:
            return PowerModule.from_bytes(saved, host)
        except DecodeError as exc:
            host.log.add(MeterEventKind.CLOCK_FAULT, now, f"power state lost: {exc}")
    return PowerModule(host)


def restore_relay(store: Store, name: str) -> Relay:
    """The relay as it stood before the power loss (then saved at each change), or a closed
    one on a new meter. An unreadable state is logged and the relay comes back *tripped*:
    a meter that cannot tell whether it was cut off does not hand the supply back on its
    own (the station or the customer's button, after a close allowed, restores it)."""
    saved = store.get("relay")
    if saved is None:
        relay = Relay()
    else:
        try:
            relay = Relay.from_bytes(saved)
        except DecodeError as exc:
            log.warning("%s: the stored relay state is unreadable (%s): staying tripped", name, exc)
            relay = Relay(RelayState.TRIPPED)
    relay.persist = lambda blob: store.put("relay", blob)
    return relay


def restore_freezer(store: Store, read: Reader_, name: str) -> Freezer:
    """The saved freeze objects (each freeze then saved as it is taken), or the default
    associations of a new meter; an unreadable object is logged and left empty."""
    saved = list(store.items("freeze/"))
    if not saved:
        return Freezer(read, persist=store.put)
    freezer = Freezer(read, associations={}, persist=store.put)
    for key, blob in saved:
        try:
            freezer.load_object(blob)
        except DecodeError as exc:
            log.warning("%s: stored %s is unreadable: %s", name, key, exc)
    return freezer


def save_parameters(store: Store, parameters: MeterParameters) -> None:
    """Write the parameters the station set (at each change)."""
    store.put("parameters", encode_data(parameters.to_data()))


def restore_parameters(store: Store, parameters: MeterParameters, name: str) -> None:
    """Take back the saved parameters, if any; unreadable ones are logged and the factory's
    kept."""
    saved = store.get("parameters")
    if saved is None:
        return
    try:
        parameters.load(read_data(Reader(saved)))
    except (DecodeError, ValueError, TypeError, IndexError) as exc:
        log.warning("%s: the stored parameters are unreadable: %s", name, exc)
