"""The expansion module's load distribution with the station away: the contracted power shared
by priority each metering step (a device port curtailed before the pile, the pile before the
essential loads), the station's pile limit still binding, each curtailment logged (FF24) for
the station to receive as an operational event."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from wattguard.meter.device import MeterConfig
from wattguard.meter.expansion.distribution import Demand, Priority, distribute
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import OAD, Data, DataType
from wattguard.station.operations import operational_kind
from wattguard.station.records import OperationalKind
from wattguard.testing import T0
from wattguard.testing.meter import Line, running_meter

CONTRACT = 9000.0
STATION_LIMIT = 7000

demands = st.lists(
    st.builds(
        Demand,
        name=st.sampled_from(["a", "b", "c", "d", "e"]),
        priority=st.sampled_from(list(Priority)),
        watts=st.floats(0, 20_000),
    ),
    max_size=6,
)


@given(st.floats(0, 30_000), demands, st.dictionaries(st.sampled_from("abc"), st.floats(0, 9000)))
def test_distribution_keeps_the_budget_caps_and_priorities(
    budget: float, loads: list[Demand], caps: dict[str, float]
) -> None:
    grants = distribute(budget, loads, caps)
    essential = sum(g.granted for g in grants if g.priority == Priority.ESSENTIAL)
    controlled = sum(g.granted for g in grants if g.priority != Priority.ESSENTIAL)
    assert controlled <= max(0.0, budget - essential) + 1e-6
    for grant, demand in zip(grants, loads, strict=True):
        cap = caps.get(demand.name) or math.inf
        assert 0 <= grant.granted <= min(demand.watts, cap) + 1e-9
        if grant.priority == Priority.ESSENTIAL:
            assert grant.curtailed == 0
    for low in grants:  # a load that got something: every higher priority got all it may
        if low.granted > 0:
            assert all(g.curtailed == 0 for g in grants if g.priority > low.priority)


def _household(essential_w: float) -> Measurement:
    return Measurement(voltage=230.0, current=essential_w / 230.0, active_power=essential_w,
                       reactive_power=0.0)  # fmt: skip


def test_the_meter_distributes_alone_and_reports_each_curtailment() -> None:
    config = MeterConfig(protected=False, active_reports=True, contracted_w=CONTRACT)
    meter = running_meter(config=config)  # no terminal, no station: the station is away
    assert Line(meter).set(OAD(0xFF10, 2), Data(DataType.DOUBLE_LONG_UNSIGNED, STATION_LIMIT)) == 0
    expansion = meter.expansion
    expansion.add_port("heater")
    expansion.pile.requested = 11_000.0
    now, essential_before, pile_w, heater_w = T0 + 3600.0, None, 0.0, 0.0
    seen: list[tuple[float, float, float]] = []
    for minute in range(180):  # 1 kW of house, then 2 kW, then 6 kW, an hour each
        essential = (1000.0, 2000.0, 6000.0)[minute // 60]
        expansion.port_request("heater", 3000.0, drawn=heater_w)
        meter.pile_drawn(pile_w, now)
        now += 60.0
        meter.measure(_household(essential + pile_w + heater_w), 60.0, now)
        if essential == essential_before:  # the distribution saw this house load last step
            assert essential + pile_w + heater_w <= CONTRACT + 1e-6
        essential_before = essential
        pile_w, heater_w = expansion.granted("pile"), expansion.granted("heater")
        assert pile_w <= STATION_LIMIT  # the management module's limit still binds
        seen.append((essential, pile_w, heater_w))
    assert seen[30] == (1000.0, 7000.0, 1000.0)  # the heater gives way first
    assert seen[90] == (2000.0, 7000.0, 0.0)
    assert seen[150] == (6000.0, 3000.0, 0.0)  # then the pile; the house is never cut
    logged = [e.detail for e in meter.log.of_kind(MeterEventKind.LOCAL_ALARM)]
    assert logged == ["device curtailed: 2000", "device curtailed: 3000", "pile curtailed: 4000"]
    waiting = [e.detail for e in meter.log.unreported if e.kind == MeterEventKind.LOCAL_ALARM]
    assert waiting == logged  # queued for the station's next collection
    assert {operational_kind(0xFF24, d) for d in logged} == {OperationalKind.LOAD_CURTAILED}


def test_without_a_contract_nothing_is_curtailed() -> None:
    meter = running_meter(config=MeterConfig(protected=False))
    meter.expansion.add_port("heater")
    meter.expansion.port_request("heater", 3000.0)
    meter.expansion.pile.requested = 11_000.0
    meter.measure(_household(20_000.0), 60.0, T0 + 3660.0)
    assert meter.expansion.granted("heater") == 3000.0
    assert meter.expansion.granted("pile") == 11_000.0
    assert not meter.log.of_kind(MeterEventKind.LOCAL_ALARM)
