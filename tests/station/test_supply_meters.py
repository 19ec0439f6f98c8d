"""Each district's supply (total) meter is stored: on both backends, upgraded from the meters'
class in an older database, known to a restarted station (its energy balance checks the
district again without anyone registering it), and found by a rule's district-load
condition that does not name it."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattguard.attacks.scenarios.common import T0
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.records import InvalidRecord
from wattguard.station.rule_spec import DistrictLoad
from wattguard.testing.storage import Backend, undo_after

T1, T2, S1, S2 = "990000000001", "990000000002", "000001000000", "000002000000"


def test_a_districts_supply_meter_is_stored_and_replaced(backend: Backend) -> None:
    store = backend.open()
    assert store.supply_meters() == {}
    store.set_supply_meter(T1, S1, 1.0)
    store.set_supply_meter(T2.upper(), S2.upper(), 2.0)
    store.set_supply_meter(T1, "000001000009", 3.0)  # a new transformer meter
    assert store.supply_meters() == {T1: "000001000009", T2: S2}
    with pytest.raises(InvalidRecord):
        store.set_supply_meter(T1, "not a meter", 4.0)
    assert store.supply_meters() == {T1: "000001000009", T2: S2}


def test_an_older_database_learns_its_supply_meters_from_their_class(persistent: Backend) -> None:
    store = persistent.open()
    store.register_meter(S1, T1, 1.0, meter_class="district")
    store.register_meter("000001000001", T1, 1.0)
    store.register_meter(S2, T2, 1.0, meter_class="1.0")
    # back to schema version 9: no districts table (nor the later migrations' tables)
    for statement in undo_after(9):
        persistent.raw(store, statement)
    persistent.raw(store, "DELETE FROM schema_version WHERE version > 9")
    upgraded = persistent.open()
    assert upgraded.supply_meters() == {T1: S1}


def deployment(database: str, meters: int = 2) -> Deployment:
    config = DeploymentConfig(
        meters=meters, per_terminal=meters, seed=3, database=database, districts=True,
        start=T0 + 17 * 3600,
    )  # fmt: skip
    return Deployment(config, virtual_clock(config))


def test_a_restarted_station_knows_the_supply_meters_and_balances_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    first = deployment(url)
    [supply] = first.supply_meters
    terminal = first.nets[0].terminal.address.hex()
    assert first.storage.supply_meters() == {terminal: supply}
    assert first.station.supply_meter(terminal) == supply
    first.restart_station()  # a new Station on the same storage: nobody registers it again
    station = first.station
    assert station.supply_meter(terminal) == supply
    first.run_virtual(4 * 3600)
    assert station.balance is not None and station.balance.results
    assert {b.terminal for b in station.balance.results} == {terminal}
    load = DistrictLoad(terminal, capacity_kw=100.0, above_share=0.9)
    assert station.rules.engine.supply_of(load) == supply


def test_without_districts_no_supply_meter_is_registered() -> None:
    config = DeploymentConfig(meters=2, per_terminal=2, seed=3)
    plain = Deployment(config, virtual_clock(config))
    assert plain.storage.supply_meters() == {} and plain.station.balance is not None
    plain.run_virtual(3600)
    assert not plain.station.balance.results
