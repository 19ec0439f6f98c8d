"""Scenario 2, across a restart: ``replay-after-restart``.

An adversary on the power line records the station's remote trip of a meter (ciphertext +
SID_MAC, accepted once). The utility closes the relay again. Then the meter restarts (an
outage, which the adversary can also cause by pulling the supply upstream) and the adversary
sends the recorded trip again.

Protected, the meter keeps its soft ESAM's state sealed in its non-volatile store
(:class:`~wattguard.meter.management.esam_store.StoredEsam`): the command counter comes back
with it, the replay is refused (DAR 22) and recorded as a REPLAY. Unprotected, the ESAM's
state lives only in RAM and the chip comes back as provisioned, its counter at zero: the old
frame is fresh again and the relay trips (what every meter did before its state was kept).
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import ADDRESS, T0
from wattguard.esam.client import EsamClient
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.esam_store import StoredEsam
from wattguard.meter.management.relay import RelayState
from wattguard.meter.management.storage import MemoryStore
from wattguard.protocol import OAD, OMD, Data, DataType
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.security import Protection as Wrapping
from wattguard.protocol.apdu.security import SecurityRequest
from wattguard.testing.esam import DEVICE_KEY, make_esam, rig
from wattguard.testing.meter import Line, new_meter

_RELAY = Data(DataType.OAD, OAD(0xF205, 2, 1))
_TRIP = Data.array(
    Data.structure(
        _RELAY,
        Data(DataType.UNSIGNED, 0),
        Data(DataType.LONG_UNSIGNED, 0),
        Data(DataType.BOOL, False),
    )
)
_CLOSE = Data.array(Data.structure(_RELAY, Data(DataType.ENUM, 1)))


def _boot(store: MemoryStore, protected: bool) -> Meter:
    """The meter as it starts on ``store``: its ESAM from the store (protected) or as the
    factory provisioned it (unprotected: the state was only in RAM)."""
    if protected:
        client = EsamClient(StoredEsam.open(store, DEVICE_KEY, lambda: make_esam(ADDRESS)))
    else:
        client = EsamClient(make_esam(ADDRESS))
    return new_meter(ADDRESS, esam=client, wallet=client, store=store, config=MeterConfig())


@scenario(
    2,
    "replay-after-restart",
    "a remote trip recorded before a meter restart, replayed after it",
    (Protection.IDENTITY, Protection.MONITORING),
)
def replay_after_restart(protected: bool) -> Outcome:
    store = MemoryStore()  # the meter's non-volatile memory: it outlives the restart
    meter = _boot(store, protected)
    meter.power_up(T0)
    station = rig().station
    station.register(ADDRESS, key_version=1)
    recorded: list[bytes] = []

    def send(request: SecurityRequest, target: Meter, now: float) -> None:
        line = Line(target)
        line.exchange(request, now)
        recorded.append(line.sent[-1])

    now = T0 + 3600
    trip = station.wrap(
        ADDRESS, ActionRequest(3, OMD(0x8000, 129), _TRIP), protection=Wrapping.CIPHERTEXT
    )
    send(trip, meter, now)
    close = station.wrap(
        ADDRESS, ActionRequest(4, OMD(0x8000, 130), _CLOSE), protection=Wrapping.CIPHERTEXT
    )
    send(close, meter, now + 60)
    meter.mains_lost(now + 120)
    reborn = _boot(store, protected)  # RAM lost; the store kept
    reborn.mains_lost(now + 120)
    reborn.mains_restored(now + 600)
    before = len(reborn.log.security)
    reborn.receive_data(recorded[0], now + 660)  # the recorded trip frame, byte for byte
    reborn.data_to_send()
    state = reborn.management.relay.state
    outcome = Outcome(
        state != RelayState.CLOSED,
        f"relay {state.value} after the trip recorded before the restart was sent again",
        evidence=[f"replayed frame {recorded[0].hex()[:64]}..."],
    )
    return outcome.saw(list(reborn.log.security)[before:])
