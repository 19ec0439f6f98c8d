"""The soft ESAM's state across a meter restart: sealed in the meter's non-volatile store
(a crash-safe file), its command counter and wallet come back, so a command the station sent
before the restart is refused when replayed after it. A meter whose ESAM comes back as
provisioned (the state kept only in RAM, as before) accepts the replay: the control case."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattguard.errors import IntegrityError
from wattguard.esam.client import EsamClient
from wattguard.esam.station import StationSecurity
from wattguard.events import EventKind
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.esam_store import ESAM_KEY, StoredEsam
from wattguard.meter.management.relay import RelayState
from wattguard.meter.management.storage import NonVolatileStore
from wattguard.protocol import OAD, OMD, Data, DataType
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.security import Protection, SecurityRequest, SecurityResponse
from wattguard.testing import ADDRESS, T0
from wattguard.testing.esam import DEVICE_KEY, make_esam, rig
from wattguard.testing.meter import Line, new_meter

T1 = T0 + 3600
TRIP = Data.array(
    Data.structure(
        Data(DataType.OAD, OAD(0xF205, 2, 1)),
        Data(DataType.UNSIGNED, 0),
        Data(DataType.LONG_UNSIGNED, 0),
        Data(DataType.BOOL, False),
    )
)
CLOSE = Data.array(Data.structure(Data(DataType.OAD, OAD(0xF205, 2, 1)), Data(DataType.ENUM, 1)))


def station() -> StationSecurity:
    s = rig().station
    s.register(ADDRESS, key_version=1)
    return s


def boot(path: Path, persisted: bool) -> tuple[Meter, NonVolatileStore, EsamClient]:
    """The meter as it starts: on its store; its ESAM from the store (``persisted``) or as
    the factory provisioned it (the state only in RAM)."""
    store = NonVolatileStore(path)
    if persisted:
        chip = StoredEsam.open(store, DEVICE_KEY, lambda: make_esam(ADDRESS))
        client = EsamClient(chip)
    else:
        client = EsamClient(make_esam(ADDRESS))
    meter = new_meter(ADDRESS, esam=client, wallet=client, store=store, config=MeterConfig())
    return meter, store, client


def send(meter: Meter, request: SecurityRequest, now: float) -> SecurityResponse:
    answer = Line(meter).exchange(request, now)
    assert isinstance(answer, SecurityResponse)
    return answer


def trip_close_restart(tmp_path: Path, persisted: bool) -> tuple[Meter, SecurityRequest]:
    """Trip and close the meter through the ESAM, restart it (RAM lost, the store kept);
    the restarted meter and the trip frame sent before the restart."""
    path = tmp_path / "meter.nv"
    meter, store, _ = boot(path, persisted)
    meter.power_up(T0)
    s = station()
    trip = s.wrap(
        ADDRESS, ActionRequest(3, OMD(0x8000, 129), TRIP), protection=Protection.CIPHERTEXT
    )
    assert send(meter, trip, T1).payload.protection == Protection.CIPHERTEXT
    assert meter.management.relay.state == RelayState.TRIPPED
    close = s.wrap(
        ADDRESS, ActionRequest(4, OMD(0x8000, 130), CLOSE), protection=Protection.CIPHERTEXT
    )
    send(meter, close, T1)
    assert meter.management.relay.supplying
    meter.mains_lost(T1 + 60)
    store.close()
    reborn, _, _ = boot(path, persisted)
    reborn.mains_lost(T1 + 60)  # the state it wakes in: the power had failed
    reborn.mains_restored(T1 + 600)
    return reborn, trip


def test_a_command_from_before_a_restart_is_refused_after_it(tmp_path: Path) -> None:
    reborn, trip = trip_close_restart(tmp_path, persisted=True)
    replayed = send(reborn, trip, T1 + 660)
    assert replayed.payload.dar == DAR.ESAM_VERIFICATION_FAILED
    assert reborn.management.relay.supplying
    assert reborn.log.security[-1].kind == EventKind.REPLAY


def test_without_the_stored_state_the_replay_trips_the_restarted_meter(tmp_path: Path) -> None:
    reborn, trip = trip_close_restart(tmp_path, persisted=False)
    send(reborn, trip, T1 + 660)
    assert reborn.management.relay.state == RelayState.TRIPPED  # the window reopened


def test_the_wallet_and_counters_survive_and_the_state_is_sealed(tmp_path: Path) -> None:
    path = tmp_path / "meter.nv"
    meter, store, client = boot(path, persisted=True)
    meter.power_up(T0)
    s = station()
    top_up = ActionRequest(5, OMD(0xF100, 6), s.top_up(ADDRESS, 5000))
    send(meter, s.wrap(ADDRESS, top_up, protection=Protection.CIPHERTEXT), T1)
    before = client.info(T1)
    assert client.balance() == 5000 and before.top_ups == 1 and before.command_counter >= 1
    blob = store.get(ESAM_KEY)
    assert blob is not None and (5000).to_bytes(4, "big") not in blob  # sealed, not plain
    meter.mains_lost(T1)
    store.close()
    _, store, client = boot(path, persisted=True)
    after = client.info(T1)
    assert client.balance() == 5000
    assert (after.command_counter, after.top_ups) == (before.command_counter, before.top_ups)
    # an altered state does not open: the ESAM is not started afresh
    store.put(ESAM_KEY, blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(IntegrityError):
        StoredEsam.open(store, DEVICE_KEY, lambda: make_esam(ADDRESS))
    with pytest.raises(IntegrityError):  # nor under another chip's device key
        store.put(ESAM_KEY, blob)
        StoredEsam.open(store, bytes(16), lambda: make_esam(ADDRESS))
    store.close()
