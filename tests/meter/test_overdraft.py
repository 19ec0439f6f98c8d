"""The overdraft limit applied by cost control: with 401F's overdraft credit set, the credit
goes below zero down to minus that limit before the prepayment trip (the management module
agrees only then), what is owed is kept (202D) across a restart, and a top-up repays it
first."""

from __future__ import annotations

from pathlib import Path

from wattguard.esam.client import EsamClient
from wattguard.esam.station import StationSecurity
from wattguard.meter.device import Meter
from wattguard.meter.expansion import CostControl
from wattguard.meter.links.uart import LocalRelay, UartMessage
from wattguard.meter.management.relay import RelayState
from wattguard.meter.management.storage import MemoryStore, NonVolatileStore, Store
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.protocol.data import encode_data
from wattguard.testing import ADDRESS, T0
from wattguard.testing.esam import make_esam, rig
from wattguard.testing.meter import new_meter

_D = DataType
HEATER = Measurement(229.0, 40.0, 9000.0, 0.0)  # 0.75 kWh per 5-minute step
STEP = 300.0


def top_up(client: EsamClient, fen: int, now: float, station: StationSecurity) -> None:
    amount, protected = (item.value for item in station.top_up(ADDRESS, fen).value)
    client.top_up(amount, protected.sid, protected.mac, now)


def prepaid(
    overdraft: int, store: Store | None = None
) -> tuple[Meter, EsamClient, StationSecurity]:
    """A protected prepaid meter with 5 yuan of credit and ``overdraft`` fen allowed (401F,
    set through the local port, which the F101 policy does not cover)."""
    client = EsamClient(make_esam(ADDRESS))
    meter = new_meter(esam=client, wallet=client, cost=CostControl(alarm_levels=(0, 0)),
                      store=store if store is not None else MemoryStore())  # fmt: skip
    meter.power_up(T0)
    station = rig().station  # the station that knows this ESAM's keys and purchase count
    station.register(ADDRESS, key_version=1)
    top_up(client, 500, T0, station)
    limits = Data.structure(*(Data(_D.DOUBLE_LONG_UNSIGNED, v) for v in (overdraft, 0, 0)))
    meter.management.serve_local(SetRequestNormal(1, OAD(0x401F, 2), limits).to_bytes(), T0)
    return meter, client, station


def until_tripped(meter: Meter, client: EsamClient) -> tuple[int, int]:
    """Run the heater until the relay trips: (steps run, the credit when it tripped)."""
    for step in range(1, 60):
        meter.measure(HEATER, STEP, T0 + STEP * step)
        if meter.management.relay.state == RelayState.TRIPPED:
            return step, client.balance() - meter.management.overdraft.owed
    raise AssertionError("the relay never tripped")


def test_the_credit_goes_down_to_the_overdraft_limit_before_the_trip() -> None:
    meter, client, _ = prepaid(0)
    steps_without, credit_without = until_tripped(meter, client)
    assert credit_without == 0  # the trip at zero, nothing owed
    assert meter.management.overdraft.owed == 0
    meter, client, _ = prepaid(300)
    steps_with, credit_with = until_tripped(meter, client)
    assert client.balance() == 0
    assert credit_with == -300  # down to minus 3 yuan, then the trip
    assert meter.management.overdraft.owed == -credit_with
    assert steps_with > steps_without + 4  # 3 yuan more at ~40 fen a step
    owed = meter.management.model.get(OAD(0x202D, 2))
    assert owed == Data(_D.DOUBLE_LONG_UNSIGNED, -credit_with)


def test_a_trip_request_inside_the_overdraft_is_refused() -> None:
    meter, client, _ = prepaid(300)
    for step in range(1, 60):  # into the overdraft, not yet at its limit
        meter.measure(HEATER, STEP, T0 + STEP * step)
        if client.balance() == 0:
            break
    assert meter.management.relay.state == RelayState.CLOSED
    # a (compromised) expansion module asks for the trip while the credit is above -3 yuan
    meter.expansion.send(UartMessage.LOCAL_RELAY, encode_data(Data(_D.ENUM, LocalRelay.TRIP)))
    meter.measure(Measurement(229.0, 0.0, 0.0, 0.0), STEP, T0 + STEP * (step + 1))
    assert meter.management.relay.state == RelayState.CLOSED
    assert "credit is not exhausted" in meter.log.security[-1].detail


def test_a_top_up_repays_the_overdraft_first_and_what_is_owed_survives_a_restart(
    tmp_path: Path,
) -> None:
    store = NonVolatileStore(tmp_path / "meter.store")
    meter, client, station = prepaid(300, store)
    _, credit = until_tripped(meter, client)
    owed = -credit
    store.close()
    meter = new_meter(esam=client, wallet=client, cost=CostControl(alarm_levels=(0, 0)),
                      store=NonVolatileStore(tmp_path / "meter.store"))  # fmt: skip
    meter.power_up(T0 + 3 * 3600)
    assert meter.management.overdraft.owed == owed  # a restart forgives nothing
    top_up(client, 1000, T0 + 3 * 3600, station)
    meter.measure(HEATER, STEP, T0 + 3 * 3600 + STEP)
    assert meter.management.overdraft.owed == 0
    assert 1000 - owed - 60 < client.balance() <= 1000 - owed
