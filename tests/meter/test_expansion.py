"""The expansion module is the least trusted part: it cannot trip the relay on its own word,
its UART traffic is integrity-protected, and its local functions (monitoring, charging-pile
limit, cost control) behave; without the protection a malicious module gets its way."""

from __future__ import annotations

import struct

import pytest

from wattguard.errors import ConfigError
from wattguard.events import EventKind
from wattguard.meter.device import MeterConfig
from wattguard.meter.expansion import CostControl, LocalMonitor, TariffSchedule
from wattguard.meter.links.uart import Alarm, LocalRelay, UartMessage
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.relay import RelayState
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.data import encode_data
from wattguard.testing import HOUSE, T0
from wattguard.testing.meter import Line, running_meter

TRIP = encode_data(Data(DataType.ENUM, LocalRelay.TRIP))


@pytest.mark.parametrize("protected", [True, False])
def test_a_malicious_expansion_module_cannot_trip_the_relay(protected: bool) -> None:
    meter = running_meter(config=MeterConfig(protected=protected))
    meter.expansion.send(UartMessage.LOCAL_RELAY, TRIP)  # no wallet, credit not exhausted
    meter.handle_timer(T0 + 3600)
    state = meter.management.relay.state
    if protected:
        assert state == RelayState.CLOSED
        refused = [e for e in meter.log.security if e.kind == EventKind.UNAUTHORISED]
        assert refused and "local trip refused" in refused[-1].detail
    else:
        assert state == RelayState.TRIPPED


def test_the_expansion_module_may_not_send_management_messages() -> None:
    meter = running_meter()
    meter.expansion.send(
        UartMessage.POWER_LIMIT, encode_data(Data(DataType.DOUBLE_LONG_UNSIGNED, 1))
    )
    meter.handle_timer(T0 + 3600)
    assert meter.log.security[-1].kind == EventKind.UNAUTHORISED
    assert "POWER_LIMIT" in meter.log.security[-1].detail


@pytest.mark.parametrize("protected", [True, False])
def test_uart_injection_by_a_probe_on_the_wires(protected: bool) -> None:
    # A probe on the UART replaces an alarm with a forged trip request; it has no key.
    def inject(message: bytes) -> list[bytes]:
        if message[1] != UartMessage.ALARM:
            return [message]
        header = struct.pack(">BBIH", 0x7E, UartMessage.LOCAL_RELAY, 10**6, len(TRIP))
        return [header + TRIP + bytes(4)]

    meter = running_meter(config=MeterConfig(protected=protected))
    meter.uart_up.manipulate = inject
    meter.measure(Measurement(229.0, 80.0, 18000.0, 0.0), 60.0, T0 + 3600)  # over-current alarm
    if protected:
        assert any(e.kind == EventKind.BAD_MAC for e in meter.log.security)
        assert meter.management.relay.state == RelayState.CLOSED
    else:
        assert meter.management.relay.state == RelayState.TRIPPED


def test_uart_replay_is_refused() -> None:
    captured: list[bytes] = []

    def replay(message: bytes) -> list[bytes]:
        captured.append(message)
        return [message, *captured[:1]]

    meter = running_meter()
    meter.uart_up.manipulate = replay
    meter.measure(HOUSE, 60.0, T0 + 3600)
    meter.expansion.send(
        UartMessage.ALARM,
        encode_data(Data.structure(Data(DataType.ENUM, 3), Data(DataType.DOUBLE_LONG, 1))),
    )
    meter.handle_timer(T0 + 3601)
    assert any(e.kind == EventKind.REPLAY for e in meter.log.security)


def test_local_monitoring_raises_alarms_once_and_logs_them() -> None:
    meter = running_meter()
    over = Measurement(229.0, 80.0, 18000.0, 0.0)
    for minute in range(3):
        meter.measure(over, 60.0, T0 + 3600 + 60 * minute)
    assert len(meter.log.of_kind(MeterEventKind.OVER_CURRENT)) == 1
    bypass = Measurement(229.0, 10.0, 2200.0, 0.0, neutral_current=2.0)
    meter.measure(bypass, 60.0, T0 + 7200)
    assert any(e.kind == EventKind.TAMPER for e in meter.log.security)


def test_monitor_thresholds() -> None:
    monitor = LocalMonitor()
    assert monitor.check(1000.0, 4.5, 4.5) == []
    assert [a for a, _ in monitor.check(-500.0, 2.0, 2.0)] == [Alarm.REVERSE_ENERGY]
    assert [a for a, _ in monitor.check(500.0, 2.0, 3.0)] == [Alarm.BYPASS_SUSPECTED]
    assert LocalMonitor(generation_allowed=True).check(-500.0, 2.0, 2.0) == []


def test_the_station_sets_the_charging_pile_limit_through_the_management_module() -> None:
    meter = running_meter(config=MeterConfig(protected=False))
    meter.expansion.pile.requested = 11000.0
    client = Line(meter)
    assert client.set(OAD(0xFF10, 2), Data(DataType.DOUBLE_LONG_UNSIGNED, 7000)) == 0
    assert meter.expansion.pile.limit == 7000
    assert meter.expansion.pile.setpoint == 7000.0


def test_cost_control_prices_energy_by_time_of_use() -> None:
    cost = CostControl()
    assert cost.on_energy(1000, T0) is None  # the first reading sets the baseline
    hour = TariffSchedule().tariff(T0)
    fen, wh = cost.on_energy(3000, T0)  # type: ignore[misc]
    assert wh == 2000 and fen == 2 * TariffSchedule().prices[hour]
    cost.balance = 400
    assert cost.requests() == [LocalRelay.ALARM_ON]
    cost.balance = 0
    assert cost.requests() == [LocalRelay.TRIP]


def test_a_schedule_must_price_every_hour() -> None:
    with pytest.raises(ConfigError):
        TariffSchedule(periods=(1,) * 23)
    with pytest.raises(ConfigError):
        TariffSchedule(periods=(4,) * 24)
