"""The station learns its meters from what its terminals relay, and an administrator registers,
moves and removes them (``wattguard meters``): issue #14's blocker."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattguard.errors import ConfigError
from wattguard.events import EventKind
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.commands import CommandKind, CommandState
from wattguard.station.register import MeterRegister
from wattguard.station.storage import open_storage
from wattguard.testing import MIDNIGHT


def _forgetful(protected: bool = True) -> Deployment:
    """A virtual deployment of two terminals whose station was told of no meter (as in the
    multi-process deployment, where nobody calls ``register_meter``)."""
    config = DeploymentConfig(meters=4, per_terminal=2, start=MIDNIGHT, seed=0, protected=protected)
    deployment = Deployment(config, virtual_clock(config))
    for address, _ in deployment.storage.meters():
        assert deployment.storage.remove_meter(address)
    deployment.station.terminal_of.clear()
    return deployment


def _behind(deployment: Deployment) -> list[tuple[str, str]]:
    return sorted(
        (meter.hex(), net.terminal.address.hex()) for net in deployment.nets for meter in net.meters
    )


@pytest.mark.parametrize("protected", [True, False])
def test_the_station_learns_each_meter_behind_the_terminal_that_relays_it(
    protected: bool,
) -> None:
    deployment = _forgetful(protected)
    assert deployment.storage.meters() == []
    deployment.run_virtual(1800)
    assert deployment.storage.meters() == _behind(deployment)
    meter, terminal = _behind(deployment)[0]
    assert deployment.station.registered_terminal(meter) == bytes.fromhex(terminal)
    # a learnt meter can be commanded: the trip reaches it through its terminal
    command = deployment.station.issue(
        deployment.users["operator-token"], CommandKind.TRIP, (meter,)
    )
    deployment.run_virtual(120)
    assert deployment.station.commands.get(command.id).state == CommandState.DONE


def test_a_meter_answering_through_another_terminal_stays_put_and_is_an_event() -> None:
    deployment = _forgetful()
    (meter, right), (_, _), (_, wrong), _ = _behind(deployment)
    assert right != wrong
    # the administrator registered it behind the other terminal (or a terminal claims it)
    register = MeterRegister(deployment.storage, deployment.clock.time)
    assert register.add(meter, wrong).outcome == "added"
    deployment.run_virtual(1800)
    assert deployment.station.registered_terminal(meter) == bytes.fromhex(wrong)
    assert deployment.storage.meter(meter).terminal == wrong  # type: ignore[union-attr]
    moved = deployment.storage.events(EventKind.MOVED)
    assert len(moved) == 1  # once per meter and terminal, not per reading
    assert moved[0].source == f"meter {meter}" and right in moved[0].detail
    assert any(alert.rule == "meter moved" for alert in deployment.storage.alerts())
    # the administrator confirms the move: the running station follows, with no new event
    change = register.add(meter, right)
    assert (change.outcome, change.previous) == ("moved", wrong)
    deployment.run_virtual(1800)
    assert deployment.station.registered_terminal(meter) == bytes.fromhex(right)
    assert len(deployment.storage.events(EventKind.MOVED)) == 1
    actions = [row.action for row in deployment.storage.audit()]
    assert actions.count("meter added") == 1 and actions.count("meter moved") == 1


def test_the_register_imports_a_csv_file_whole_or_not_at_all(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'station.db'}")
    register = MeterRegister(storage, lambda: MIDNIGHT)
    bad = "address,terminal,class\n000000000001,990000000001,single\n0000000002,990000000001,\n"
    with pytest.raises(ConfigError, match="line 3: a meter address is 12 digits"):
        register.import_csv(bad)
    assert storage.meters() == []
    with pytest.raises(ConfigError, match="line 3: meter 000000000001 again"):
        register.import_csv(
            "address,terminal\n000000000001,990000000001\n000000000001,990000000002\n"
        )
    with pytest.raises(ConfigError, match="must name the columns"):
        register.import_csv("meter,concentrator\n000000000001,990000000001\n")
    good = (
        "Address,Terminal,Class\n000000000001,990000000001,single\n\n00000000000A,990000000002,\n"
    )
    changes = register.import_csv(good)
    assert [c.outcome for c in changes] == ["added", "added"]
    assert storage.meters() == [("000000000001", "990000000001"), ("00000000000a", "990000000002")]
    assert [r.meter_class for r in register.list()] == ["single", None]
    register.remove("00000000000A")
    with pytest.raises(ConfigError, match="no meter 00000000000a"):
        register.remove("00000000000a")
    assert [m for m, _ in storage.meters()] == ["000000000001"]
    storage.close()
