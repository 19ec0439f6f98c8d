"""The meter is one sans-IO core (wattguard.sansio.Core) on its power line: everything its old
``step`` did is reachable through ``get_timer`` / ``handle_timer``, what the host should hear
comes out of ``next_event``, and its modules hand their messages to each other through methods.
"""

from __future__ import annotations

import pytest

from wattguard.events import EventKind, EventLog, SecurityEvent
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.expansion import ExpansionModule
from wattguard.meter.links.spi import MessageType
from wattguard.meter.links.uart import UartMessage, UartReceiver
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.freeze import FreezeObject
from wattguard.meter.management.host_events import EventQueue, RelaySwitched, SecurityAlert
from wattguard.meter.management.module import LinkKeys
from wattguard.meter.management.relay import RelayState
from wattguard.meter.metering.module import MeteringModule
from wattguard.protocol import OAD, OMD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.sansio import Core
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.meter import Line, new_meter, running_meter

UNPROTECTED = MeterConfig(protected=False)
MIDNIGHT = T0 - T0 % 86400 + 86400


def trip_after(minutes: int) -> Data:
    """8000 method 129: trip after an alarm of ``minutes``, for no set duration."""
    return Data.array(
        Data.structure(
            Data(DataType.OAD, OAD(0xF205, 2, 1)),
            Data(DataType.UNSIGNED, minutes),
            Data(DataType.LONG_UNSIGNED, 0),
            Data(DataType.BOOL, False),
        )
    )


def events_of(meter: Meter) -> list[object]:
    out: list[object] = []
    while (event := meter.next_event()) is not None:
        out.append(event)
    return out


def newest(meter: Meter, kind: FreezeObject) -> int | None:
    groups = meter.management.freezer.table(kind).groups.values()
    moments = [moment for group in groups if (moment := group.newest()) is not None]
    return max(moments, default=None)


def run_by_timer(meter: Meter, until: float, limit: int = 10_000) -> list[float]:
    """Drive ``meter`` by its own timer alone up to ``until``; the times it ran at."""
    ran: list[float] = []
    for _ in range(limit):
        timer = meter.get_timer()
        if timer is None or timer > until:
            return ran
        meter.handle_timer(timer)
        ran.append(timer)
    raise AssertionError(f"the meter's timer did not move past {ran[-3:]}")


def test_the_meter_is_a_core_of_the_one_shape() -> None:
    core: Core[object] = new_meter(ADDRESS)  # mypy checks the shape in src (runtime/meter.py)
    for name in ("receive_data", "next_event", "data_to_send", "get_timer", "handle_timer"):
        assert callable(getattr(core, name))
    for gone in ("receive_hplc", "hplc_output", "step"):
        assert not hasattr(core, gone)


def test_a_pending_delayed_trip_is_the_timer_and_trips_when_it_runs() -> None:
    meter = running_meter(config=UNPROTECTED)
    now = T0 + 3600  # 100 s before the next 15-minute boundary
    meter.handle_timer(now)
    events_of(meter)
    assert Line(meter).action(OMD(0x8000, 129), trip_after(1), now) == DAR.SUCCESS
    relay = meter.management.relay
    assert relay.state == RelayState.TRIP_PENDING
    assert meter.get_timer() == now + 60
    meter.handle_timer(now + 59.5)  # not yet
    assert relay.state == RelayState.TRIP_PENDING
    meter.handle_timer(meter.get_timer())  # type: ignore[arg-type]
    assert relay.state == RelayState.TRIPPED
    assert events_of(meter) == [
        RelaySwitched(now, RelayState.CLOSED, RelayState.TRIP_PENDING, "remote command"),
        RelaySwitched(now + 60, RelayState.TRIP_PENDING, RelayState.TRIPPED),
    ]
    assert meter.get_timer() == now + 100  # the freeze boundary is next


def test_a_freeze_boundary_is_reached_through_the_timer_alone() -> None:
    meter = new_meter(ADDRESS, config=UNPROTECTED)
    start = MIDNIGHT - 120
    meter.power_up(start)
    meter.measure(HOUSE, 60.0, start)
    assert meter.get_timer() == start  # new freeze groups count from their first run
    meter.handle_timer(start)
    assert meter.get_timer() == MIDNIGHT
    meter.handle_timer(MIDNIGHT - 1)  # a run before the boundary freezes nothing
    assert newest(meter, FreezeObject.DAY) is None
    assert run_by_timer(meter, MIDNIGHT + 1) == [MIDNIGHT]
    for kind in (FreezeObject.MINUTE, FreezeObject.HOUR, FreezeObject.DAY):
        assert newest(meter, kind) == MIDNIGHT
    assert meter.get_timer() == MIDNIGHT + 900  # the next 15-minute freeze


def test_the_freeze_timer_follows_a_clock_set() -> None:
    meter = running_meter(config=UNPROTECTED)
    now = T0 + 3600
    meter.handle_timer(now)
    management = meter.management
    management.set_calendar(MIDNIGHT - 30.25, now)  # a jump forward, to 30.25 s before midnight
    overdue = meter.get_timer()
    assert overdue is not None and overdue <= now  # the skipped quarters: run at once
    meter.handle_timer(now)
    timer = meter.get_timer()
    assert timer == pytest.approx(now + 30.25)
    assert timer + management.clock_offset >= MIDNIGHT  # never a run short of the boundary
    meter.handle_timer(timer)
    assert newest(meter, FreezeObject.DAY) == MIDNIGHT


def test_the_timer_always_moves_on_so_a_shell_never_spins() -> None:
    meter = running_meter(config=MeterConfig(protected=False, active_reports=True))
    start, end = meter.now, T0 + 2 * 86400
    ran = run_by_timer(meter, end)
    assert ran == sorted(set(ran))  # strictly increasing: no run asks to run again at once
    quarters = [t for t in ran if t % 900 == 0]
    assert len(quarters) == end // 900 - start // 900  # every 15-minute boundary, once
    assert ran[0] == start and len(ran) <= len(quarters) + 3  # and little else


def test_the_clock_battery_reports_low_through_the_timer() -> None:
    meter = new_meter(ADDRESS, config=UNPROTECTED)
    meter.power_up(T0)
    meter.handle_timer(T0)
    power = meter.management.power
    battery = power.battery
    # a cell an hour of self-discharge above the low threshold
    battery.charge_mah = battery.charge_at(power.low_threshold) + 3600 * battery.rate(False)
    crossing = T0 + 3600
    assert power.next_check() == pytest.approx(crossing + 1, abs=1)
    run_by_timer(meter, crossing + 3)
    (entry,) = meter.log.of_kind(MeterEventKind.BATTERY_LOW)
    assert crossing <= entry.start <= crossing + 2
    assert power.low and power.next_check() is None


def test_active_reports_wait_for_the_timer_and_then_go_out() -> None:
    meter = running_meter(config=MeterConfig(protected=False, active_reports=True))
    meter.handle_timer(T0 + 3600)
    meter.data_to_send()
    meter.management.cover_opened(T0 + 3610)
    timer = meter.get_timer()
    assert timer is not None and timer <= T0 + 3610  # due: a report is waiting
    meter.handle_timer(T0 + 3610)
    assert meter.data_to_send()  # the REPORT-Notification on the power line
    later = meter.get_timer()
    assert later is not None and later > T0 + 3610


def test_a_meter_without_mains_has_no_timer_and_does_nothing() -> None:
    meter = running_meter(config=UNPROTECTED)
    meter.management.trip(T0 + 3600, delay=60)
    meter.mains_lost(T0 + 3601)
    assert meter.get_timer() is None
    meter.handle_timer(T0 + 4000)
    assert meter.management.relay.state == RelayState.TRIP_PENDING
    meter.mains_restored(T0 + 4000)  # the overdue trip runs at power-up
    assert meter.management.relay.state == RelayState.TRIPPED


def test_security_refusals_reach_the_host_as_events_and_the_sink() -> None:
    sink = EventLog()
    meter = new_meter(ADDRESS, events=sink)
    meter.power_up(T0)
    meter.spi.manipulate = lambda message: [message[:-1] + bytes([message[-1] ^ 1])]
    meter.measure(HOUSE, 60.0, T0 + 60)
    alerts = [event for event in events_of(meter) if isinstance(event, SecurityAlert)]
    assert alerts and all(alert.event.kind == EventKind.BAD_MAC for alert in alerts)
    assert [alert.event for alert in alerts] == list(sink.events)


def test_the_host_event_queue_is_bounded_oldest_first_out() -> None:
    queue = EventQueue(capacity=3)
    for i in range(5):
        queue.record(SecurityEvent(EventKind.MALFORMED, "test", str(i), float(i)))
    details = []
    while (event := queue.next_event()) is not None:
        assert isinstance(event, SecurityAlert)
        details.append(event.event.detail)
    assert details == ["2", "3", "4"]


def test_keys_and_randomness_come_from_the_caller() -> None:
    def counting(size: int) -> bytes:
        return bytes(range(size))

    keys = LinkKeys.generate(counting)
    assert keys == LinkKeys(bytes(range(16)), bytes(range(16)), bytes(range(16)))
    seen: list[list[bytes]] = [[], []]
    for sent in seen:

        def tap(message: bytes, sent: list[bytes] = sent) -> list[bytes]:
            sent.append(message)
            return [message]

        Meter(ADDRESS, keys=keys, random=counting, spi_manipulate=tap).power_up(T0)
    # the chip's RESTART, then the management module's on the configuration direction (5A)
    # and the demand window it configures
    restart, config_restart, window = seen[0]
    assert config_restart[0] == window[0] == 0x5A and config_restart[1] == MessageType.RESTART
    assert restart[0] == 0xA5 and restart[1] == MessageType.RESTART
    assert restart[8:16] == bytes(range(8))  # the epoch is the caller's random bytes
    assert seen[0] == seen[1]  # same keys, same random source: the same bytes on the wire


def test_the_modules_hand_out_their_messages_once() -> None:
    metering = MeteringModule(bytes(16))
    metering.power_up(bytes(8))
    metering.measure(HOUSE, 60.0, 1, T0)
    kinds = [message[1] for message in metering.spi_to_send()]
    assert kinds == [MessageType.RESTART, MessageType.MEASUREMENT, MessageType.ENERGY]
    assert metering.spi_to_send() == []
    log = EventLog()
    expansion = ExpansionModule(bytes(16), bytes(16), log)
    expansion.receive_data(b"\x68frame", T0)
    expansion.receive_data(b"", T0)  # a quiet line forwards nothing
    (frame,) = expansion.uart_to_send()
    assert UartReceiver(bytes(16), log).receive(frame, T0) == (UartMessage.FRAME, b"\x68frame")
    assert expansion.uart_to_send() == [] and expansion.data_to_send() == b""
    assert expansion.get_timer() is None and expansion.next_event() is None
    management = running_meter(config=UNPROTECTED).management
    management.power_up(bytes(8))
    (restart,) = management.uart_to_send()
    assert restart[1] == UartMessage.RESTART and management.uart_to_send() == []


def test_a_never_stepped_power_module_and_a_flat_cell_ask_for_no_battery_check() -> None:
    meter = new_meter(ADDRESS, config=UNPROTECTED)
    meter.power_up(T0)
    power = meter.management.power
    assert power.next_check() is None  # the discharge is counted from the first run
    meter.handle_timer(T0)
    assert power.next_check() is not None and power.next_check() > T0 + 86400 * 365  # type: ignore[operator]
    power.battery.self_discharge = 0.0
    assert power.next_check() is None
