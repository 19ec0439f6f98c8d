"""The assembled meter: measurement reaches the management module over SPI, a client reads it
over the HPLC side, the F101 policy governs what plaintext may do, and the relay follows
commands; without the protection the same plaintext commands get through."""

from __future__ import annotations

import pytest

from wattguard.events import EventKind
from wattguard.meter.device import MeterConfig
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.relay import RelayState
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import OAD, OMD, Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.meter import Line, new_meter, running_meter

UNPROTECTED = MeterConfig(protected=False)
TRIP = Data.array(
    Data.structure(
        Data(DataType.OAD, OAD(0xF205, 2, 1)),
        Data(DataType.UNSIGNED, 0),
        Data(DataType.LONG_UNSIGNED, 0),
        Data(DataType.BOOL, False),
    )
)


def test_energy_reaches_the_management_module_and_reads_out() -> None:
    meter = running_meter(config=UNPROTECTED)
    client = Line(meter)
    energy = client.get(OAD(0x0010, 2))
    # 1900 W for an hour = 1.9 kWh = 190 in 0.01 kWh; the snapshot is sent every minute.
    assert energy.value[0] == Data(DataType.DOUBLE_LONG_UNSIGNED, 190)
    voltage = client.get(OAD(0x2000, 2))
    assert voltage.value[0] == Data(DataType.LONG_UNSIGNED, 2295)
    assert client.get(OAD(0x4001, 2)) == Data(DataType.OCTET_STRING, ADDRESS)


def test_a_protected_meter_refuses_plaintext_reads_of_energy_but_shows_its_address() -> None:
    meter = running_meter()
    client = Line(meter)
    assert client.get(OAD(0x0010, 2)) == DAR.SECURITY_MISMATCH
    assert client.get(OAD(0x4001, 2)) == Data(DataType.OCTET_STRING, ADDRESS)
    refused = [e for e in meter.log.security if e.kind == EventKind.UNAUTHORISED]
    assert len(refused) == 1 and "0010" in refused[0].detail


@pytest.mark.parametrize("protected", [True, False])
def test_plaintext_trip_works_only_without_protection(protected: bool) -> None:
    meter = running_meter(config=MeterConfig(protected=protected))
    client = Line(meter)
    dar = client.action(OMD(0x8000, 129), TRIP, T0 + 3600)
    if protected:
        assert dar == DAR.SECURITY_MISMATCH
        assert meter.management.relay.state == RelayState.CLOSED
        assert meter.log.security[-1].kind == EventKind.UNAUTHORISED
    else:
        assert dar == DAR.SUCCESS
        assert meter.management.relay.state == RelayState.TRIPPED
        assert meter.log.of_kind(MeterEventKind.RELAY_TRIP)


def test_clock_set_moves_the_calendar_and_is_logged() -> None:
    meter = running_meter(config=UNPROTECTED)
    client = Line(meter)
    target = DateTimeS(2027, 1, 1, 0, 0, 0)
    assert client.set(OAD(0x4000, 2), Data(DataType.DATE_TIME_S, target), T0 + 3600) == 0
    assert client.get(OAD(0x4000, 2), T0 + 3600).value == target
    assert meter.log.of_kind(MeterEventKind.CLOCK_SET)


def test_unknown_objects_and_read_only_attributes_answer_dars() -> None:
    client = Line(running_meter(config=UNPROTECTED))
    assert client.get(OAD(0x1234, 2)) == DAR.OBJECT_UNDEFINED
    assert client.get(OAD(0x0010, 9)) == DAR.OBJECT_NOT_EXIST
    assert client.set(OAD(0x0010, 2), Data(DataType.DOUBLE_LONG_UNSIGNED, 0)) == (
        DAR.READ_WRITE_DENIED
    )
    assert client.get(OAD(0x0010, 2, 9)) == DAR.OBJECT_NOT_EXIST  # element 9 of 5


def test_protect_makes_the_meter_refuse_trips() -> None:
    meter = running_meter(config=UNPROTECTED)
    client = Line(meter)
    assert client.action(OMD(0x8001, 127), Data(DataType.NULL)) == 0
    assert client.action(OMD(0x8000, 129), TRIP) == DAR.TEMPORARY_FAILURE
    assert meter.management.relay.state == RelayState.CLOSED


def test_tampered_spi_data_is_refused_and_the_reading_kept() -> None:
    def forge(message: bytes) -> list[bytes]:
        return [message[:-5] + bytes([message[-5] ^ 1]) + message[-4:]]

    meter = running_meter()
    before = meter.management.registers.forward_active[0]
    meter.spi.manipulate = forge
    meter.measure(HOUSE, 60.0, T0 + 3600)
    assert meter.management.registers.forward_active[0] == before
    assert any(e.kind == EventKind.BAD_MAC for e in meter.log.security)


def test_meter_address_must_be_six_bytes() -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        new_meter(b"\x01")


def test_the_display_rotates_through_its_items() -> None:
    meter = running_meter(config=UNPROTECTED)
    display = meter.management.display
    screens = [display.render(T0 + 5 * i) for i in range(len(display.items))]
    assert len(set(screens)) == len(screens)
    assert "forward active energy: 1.90 kWh" in screens
    assert "voltage: 229.5 V" in screens
    assert display.render(T0) == display.render(T0 + 5 * len(display.items))
    meter.management.trip(T0)
    assert display.render(T0).endswith("[OPEN]")


def test_temperature_reads_out_and_over_temperature_is_logged_once() -> None:
    meter = running_meter(config=UNPROTECTED)
    management = meter.management
    for celsius in (40.0, 90.0, 95.0, 30.0, 91.0):
        management.set_temperature(celsius, T0)
    assert len(management.log.of_kind(MeterEventKind.OVER_TEMPERATURE)) == 2
    assert Line(meter).get(OAD(0x2010, 2)) == Data(DataType.LONG, 910)


def test_voltage_out_of_range_is_logged_when_it_starts() -> None:
    meter = running_meter(config=UNPROTECTED)
    for minute in range(3):
        meter.measure(Measurement(160.0, 5.0, 800.0, 0.0), 60.0, T0 + 3600 + 60 * minute)
    meter.measure(Measurement(260.0, 5.0, 800.0, 0.0), 60.0, T0 + 7200)
    assert len(meter.log.of_kind(MeterEventKind.UNDER_VOLTAGE)) == 1
    assert len(meter.log.of_kind(MeterEventKind.OVER_VOLTAGE)) == 1


def test_cover_open_and_magnet_are_tamper_events() -> None:
    meter = running_meter()
    meter.management.cover_opened(T0)
    meter.management.magnetic_field(T0)
    assert [e.kind for e in meter.log.security] == [EventKind.TAMPER, EventKind.TAMPER]
    assert meter.log.of_kind(MeterEventKind.COVER_OPEN)


def test_active_reports_carry_new_events_and_are_acknowledged() -> None:
    meter = running_meter(config=MeterConfig(protected=False, active_reports=True))
    client = Line(meter)
    meter.management.cover_opened(T0 + 10)
    meter.handle_timer(T0 + 11)
    client.connection.receive_data(meter.data_to_send(), T0 + 11)
    notification = client.connection.next_event()
    results = notification.apdu.results
    assert [r.oad.oi for r in results] == [0x301B, 0xFF20]  # cover open, then the tamper event
    assert results[0].result.value[0] == Data(DataType.DOUBLE_LONG_UNSIGNED, 1)
    # the client acknowledged; the meter's link layer matched the acknowledgement
    meter.receive_data(client.connection.data_to_send(), T0 + 12)
    assert meter.management.connection.get_timer() is None
    assert meter.management.violations == []
    meter.handle_timer(T0 + 13)
    assert meter.data_to_send() == b""  # nothing new to report


def test_the_metering_module_answers_at_logical_address_1_read_only() -> None:
    from wattguard.protocol import ClientConnection, ServerAddress

    meter = running_meter(config=UNPROTECTED)
    client = Line(meter)
    client.connection = ClientConnection(ServerAddress(ADDRESS, logical=1))
    assert client.get(OAD(0x0010, 2)).value[0] == Data(DataType.DOUBLE_LONG_UNSIGNED, 190)
    assert client.get(OAD(0x4001, 2)) == DAR.OBJECT_UNDEFINED  # not a metrology object
    assert client.set(OAD(0x0010, 2), Data(DataType.NULL)) == DAR.READ_WRITE_DENIED
    # an extended logical address names no module of this meter: no answer
    other = ClientConnection(ServerAddress(ADDRESS, extended_logical=7))
    from wattguard.protocol.apdu.get import GetRequestNormal

    other.send_request(GetRequestNormal(1, OAD(0x0010, 2)), T0)
    meter.receive_data(other.data_to_send(), T0)
    assert meter.data_to_send() == b""
