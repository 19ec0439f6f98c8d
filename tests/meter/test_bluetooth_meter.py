"""A handheld talks to an assembled meter over Bluetooth: pairing, roles, lockout."""

from __future__ import annotations

import pytest

from wattguard.events import EventKind, EventLog
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.relay import RelayState
from wattguard.protocol import OAD, OMD, Data, DataType, decode_apdu
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.meter import new_meter

PIN = "246810"
READ = GetRequestNormal(1, OAD(0x0010, 2, 0)).to_bytes()
TRIP = ActionRequest(2, OMD(0x8000, 129, 0), Data(DataType.NULL, None)).to_bytes()


def meter(protected: bool = True) -> tuple[Meter, EventLog]:
    events = EventLog()
    m = new_meter(
        ADDRESS, events=events, config=MeterConfig(protected=protected, bluetooth_pin=PIN)
    )
    m.power_up(T0)
    for minute in range(1, 11):
        m.measure(HOUSE, 60.0, T0 + 60 * minute)
    return m, events


def test_a_paired_read_only_handheld_reads_but_cannot_trip() -> None:
    m, events = meter()
    handheld = Handheld("HH-0001")
    radio = lambda frame: m.receive_bluetooth(frame, T0 + 700)  # noqa: E731
    handheld.pair_pin(radio, PIN)
    answer = decode_apdu(handheld.request(radio, READ))
    assert isinstance(answer, GetResponseNormal)
    assert answer.result.result.value[0].value > 0
    denied = decode_apdu(handheld.request(radio, TRIP))  # outside the role: DAR 3
    assert isinstance(denied, ActionResponseNormal) and denied.result.dar == 3
    m.handle_timer(T0 + 1000)
    assert m.management.relay.state == RelayState.CLOSED
    assert events.of_kind(EventKind.UNAUTHORISED)


def test_unpaired_requests_are_refused_and_a_pin_brute_force_locks_out() -> None:
    m, events = meter()
    radio = lambda frame: m.receive_bluetooth(frame, T0 + 700)  # noqa: E731
    with pytest.raises(PairingRefused):
        Handheld("HH-X").request_plain(radio, READ)
    locked = False
    for guess in range(20):
        try:
            Handheld("HH-X").pair_pin(radio, f"{guess:06d}")
        except PairingRefused as refused:
            if refused.retry_after:
                locked = True
                break
    assert locked
    assert events.of_kind(EventKind.LOCKOUT)
    # even the right PIN waits out the lock
    with pytest.raises(PairingRefused):
        Handheld("HH-0001").pair_pin(radio, PIN)


def test_without_protection_anyone_trips_the_relay_over_bluetooth() -> None:
    m, _ = meter(protected=False)
    radio = lambda frame: m.receive_bluetooth(frame, T0 + 700)  # noqa: E731
    answer = decode_apdu(Handheld("HH-X").request_plain(radio, TRIP))
    assert isinstance(answer, ActionResponseNormal) and answer.result.dar == 0
    m.handle_timer(T0 + 1000)
    assert m.management.relay.state != RelayState.CLOSED


def test_a_meter_without_bluetooth_stays_silent() -> None:
    m = new_meter(ADDRESS, config=MeterConfig())
    m.power_up(T0)
    assert m.receive_bluetooth(b"\x01abc", T0) == b""
