"""The Bluetooth peers other than a technician's handheld, against an assembled meter with its
ESAM: the customer's phone (its own meter's consumption and credit, nothing else), external
sensors (authenticated, stored, reported upward) and a concentrator reading over Bluetooth
instead of HPLC with the same 698 security."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.crypto import sm2, sm3
from wattguard.errors import ConfigError, DecodeError
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventKind
from wattguard.meter.bluetooth import ConcentratorRadio, Handheld, HandheldCertificate, Role
from wattguard.meter.bluetooth.access import (
    BOUND_ROLES,
    CUSTOMER_READ,
    HANDHELD_ROLES,
    never_local,
    refusal_reason,
)
from wattguard.meter.bluetooth.certificate import CertificateRefused
from wattguard.meter.bluetooth.handheld import PairingRefused
from wattguard.meter.bluetooth.pairing import RefusalCode
from wattguard.meter.bluetooth.sensors import EXTERNAL_TEMPERATURE, WATER_LEAK
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.module import LinkKeys
from wattguard.meter.management.relay import RelayState
from wattguard.network.hplc import HplcChannel, LinkProfile
from wattguard.network.terminal import CollectionTask, Terminal
from wattguard.protocol import OAD, OMD, Data, DataType, decode_apdu
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.get import (
    GetRequestNormal,
    GetRequestNormalList,
    GetResponseNormal,
    GetResponseNormalList,
)
from wattguard.protocol.apdu.report import ReportNotificationList
from wattguard.protocol.apdu.security import SecurityResponse
from wattguard.protocol.apdu.set import SetRequestNormal, SetResponseNormal
from wattguard.runtime.simulation import Neighbourhood
from wattguard.station.ingest import readings_of, verify_exchange
from wattguard.station.operations import operational_kind
from wattguard.station.records import OperationalKind
from wattguard.testing import ADDRESS, T0, seeded
from wattguard.testing.esam import fitted_meter, rig

CA = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard tests: the utility's Bluetooth CA"))
ROGUE_CA = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard tests: someone else's CA"))
OTHER = bytes.fromhex("000000000002")
TERMINAL = bytes.fromhex("990000000001")
PIN = "246810"
NOW = T0 + 3700.0
ENERGY = OAD(0x0010, 2, 0)
TEMPERATURE = OAD(EXTERNAL_TEMPERATURE, 2, 0)
LEAK = OAD(WATER_LEAK, 2, 0)
TRIP = ActionRequest(7, OMD(0x8000, 129, 0), Data(DataType.NULL, None))


def peer(
    role: Role, name: str, *, meter: bytes | None = ADDRESS, scope: int = 0, ca: sm2.PrivateKey = CA
) -> Handheld:
    """A peer holding a certificate of ``role`` bound to ``meter`` (None: unbound)."""
    key = sm2.PrivateKey.from_bytes(sm3.hash(name.encode()))
    certificate = HandheldCertificate.issue(
        ca, serial=int.from_bytes(sm3.hash(name.encode())[:4], "big"), handheld_id=name,
        role=role, public_key=key.public_key, valid_from=int(T0 - 86400),
        valid_until=int(T0 + 365 * 86400), meter=meter, scope=scope,
    )  # fmt: skip
    return Handheld(name, private_key=key, certificate=certificate, random=seeded(name.encode()))


def phone(meter: bytes | None = ADDRESS) -> Handheld:
    return peer(Role.CUSTOMER, "phone-1234", meter=meter)


def sensor(scope: int, meter: bytes | None = ADDRESS, ca: sm2.PrivateKey = CA) -> Handheld:
    return peer(Role.SENSOR, f"sensor-{scope:04X}", meter=meter, scope=scope, ca=ca)


def fitted(address: bytes = ADDRESS, **config: Any) -> Meter:
    config.setdefault("handheld_ca", CA.public_key)
    config.setdefault("bluetooth_pin", PIN)
    meter, _ = fitted_meter(address, config=MeterConfig(**config))
    return meter


def radio(meter: Meter, now: float = NOW) -> Callable[[bytes], bytes]:
    return lambda frame: meter.receive_bluetooth(frame, now)


def ask(handheld: Handheld, meter: Meter, apdu: Structure) -> Any:
    return decode_apdu(handheld.request(radio(meter), apdu.to_bytes()))


def refusals(meter: Meter, kind: EventKind) -> list[str]:
    return [e.detail for e in meter.log.security if e.kind == kind]


# The customer's phone


def test_the_phone_reads_its_own_meters_consumption_and_credit() -> None:
    meter = fitted()
    handset = phone()
    assert handset.pair_certificate(radio(meter)) == Role.CUSTOMER
    energy = ask(handset, meter, GetRequestNormal(1, ENERGY))
    assert isinstance(energy, GetResponseNormal)
    assert energy.result.result.value[0].value > 0  # an hour of the house's load
    both = ask(handset, meter, GetRequestNormalList(2, (OAD(0x0000, 2, 0), OAD(0x202C, 2, 0))))
    assert isinstance(both, GetResponseNormalList)
    assert all(isinstance(r.result, Data) for r in both.results)
    assert any("success: #" in d and "CUSTOMER" in d for d in refusals(meter, EventKind.ACCESS))
    assert not refusals(meter, EventKind.UNAUTHORISED)


@pytest.mark.parametrize(
    "request_",
    [
        GetRequestNormal(3, OAD(0x2000, 2, 0)),  # voltage: not consumption
        GetRequestNormal(3, OAD(0x4000, 2, 0)),  # the clock
        GetRequestNormal(3, OAD(0xF100, 2, 0)),  # the ESAM
        GetRequestNormalList(3, (ENERGY, OAD(0x2001, 2, 0))),  # judged whole
        SetRequestNormal(3, OAD(0x4000, 2, 0), Data(DataType.DOUBLE_LONG_UNSIGNED, 1)),
        SetRequestNormal(3, OAD(0x202C, 2, 0), Data(DataType.DOUBLE_LONG_UNSIGNED, 10**6)),
        TRIP,
    ],
    ids=["voltage", "clock", "esam", "mixed-list", "set-clock", "set-wallet", "trip"],
)
def test_everything_else_is_refused_with_dar_3_and_a_security_event(request_: Structure) -> None:
    meter = fitted()
    handset = phone()
    handset.pair_certificate(radio(meter))
    answer = ask(handset, meter, request_)
    if isinstance(answer, GetResponseNormal):
        dars = [answer.result.result]
    elif isinstance(answer, GetResponseNormalList):
        dars = [r.result for r in answer.results]
    elif isinstance(answer, SetResponseNormal):
        dars = [answer.dar]
    else:
        assert isinstance(answer, ActionResponseNormal)
        dars = [answer.result.dar]
    assert dars and all(int(d) == 3 for d in dars)
    assert any("(CUSTOMER)" in d for d in refusals(meter, EventKind.UNAUTHORISED))
    meter.handle_timer(NOW + 600)
    assert meter.management.relay.state == RelayState.CLOSED


def test_a_phone_pairs_with_its_own_meter_only() -> None:
    meter = fitted()
    for handset, reason in (
        (phone(meter=OTHER), "bound to meter 000000000002"),
        (phone(meter=None), "must be bound to one meter"),
    ):
        with pytest.raises(PairingRefused) as refused:
            handset.pair_certificate(radio(meter))
        assert refused.value.code == RefusalCode.AUTHENTICATION_FAILED
        assert any(reason in d for d in refusals(meter, EventKind.AUTHENTICATION))
    with pytest.raises(PairingRefused):  # the meter's PIN gives a handheld's role, never a phone's
        Handheld("phone-by-pin").pair_pin(radio(meter), PIN, Role.CUSTOMER)
    assert meter.bluetooth is not None and meter.bluetooth.session is None


# External sensors


def test_a_temperature_sensor_reports_and_the_meter_keeps_the_reading() -> None:
    meter = fitted()
    thermometer = sensor(EXTERNAL_TEMPERATURE)
    assert thermometer.pair_certificate(radio(meter)) == Role.SENSOR
    answer = ask(thermometer, meter, SetRequestNormal(1, TEMPERATURE, Data(DataType.LONG, 215)))
    assert isinstance(answer, SetResponseNormal) and answer.dar == 0
    technician = Handheld("HH-1", random=seeded(b"HH-1"))
    technician.pair_pin(radio(meter), PIN)  # the reading is an object of the meter
    read = ask(technician, meter, GetRequestNormalList(2, (TEMPERATURE, OAD(0xFF30, 3, 0))))
    assert isinstance(read, GetResponseNormalList)
    value, when = (r.result for r in read.results)
    assert value == Data(DataType.LONG, 215) and when.type == DataType.DATE_TIME_S
    assert meter.sensors is not None and meter.sensors.readings[EXTERNAL_TEMPERATURE][0] == 215


@pytest.mark.parametrize(
    ("request_", "dar"),
    [
        (SetRequestNormal(1, LEAK, Data(DataType.ENUM, 1)), 3),  # another sensor's object
        (GetRequestNormal(1, ENERGY), 3),
        (TRIP, 3),
        (SetRequestNormal(1, TEMPERATURE, Data(DataType.LONG, 2000)), 8),  # 200 °C
        (SetRequestNormal(1, TEMPERATURE, Data(DataType.DOUBLE_LONG, 215)), 7),
    ],
    ids=["other-object", "read", "trip", "out-of-range", "wrong-type"],
)
def test_a_sensor_may_only_report_its_own_quantity(request_: Structure, dar: int) -> None:
    meter = fitted()
    thermometer = sensor(EXTERNAL_TEMPERATURE)
    thermometer.pair_certificate(radio(meter))
    answer = ask(thermometer, meter, request_)
    got = answer.result.dar if isinstance(answer, ActionResponseNormal) else None
    if isinstance(answer, SetResponseNormal):
        got = answer.dar
    elif isinstance(answer, GetResponseNormal):
        got = answer.result.result
    assert got is not None and int(got) == dar
    kind = EventKind.UNAUTHORISED if dar == 3 else EventKind.MALFORMED
    assert refusals(meter, kind)
    assert meter.sensors is not None and not meter.sensors.readings
    assert not meter.log.of_kind(MeterEventKind.SENSOR_ALARM)


def test_a_leak_opens_an_alarm_that_the_dry_report_closes() -> None:
    meter = fitted()
    detector = sensor(WATER_LEAK)
    detector.pair_certificate(radio(meter))
    for value in (0, 1, 1):
        answer = ask(detector, meter, SetRequestNormal(1, LEAK, Data(DataType.ENUM, value)))
        assert answer.dar == 0
    (alarm,) = meter.log.of_kind(MeterEventKind.SENSOR_ALARM)
    assert alarm.detail == "water leak: 1" and alarm.end is None
    assert (
        operational_kind(MeterEventKind.SENSOR_ALARM.oi, alarm.detail) == OperationalKind.WATER_LEAK
    )
    ask(detector, meter, SetRequestNormal(2, LEAK, Data(DataType.ENUM, 0)))
    (closed,) = meter.log.of_kind(MeterEventKind.SENSOR_ALARM)
    assert closed.end is not None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: sensor(WATER_LEAK, ca=ROGUE_CA), "not signed by the utility CA"),
        (lambda: sensor(WATER_LEAK, meter=OTHER), "bound to meter 000000000002"),
        (lambda: peer(Role.SENSOR, "sensor-unbound", meter=None), "must be bound"),
    ],
    ids=["forged", "other-meter", "unbound"],
)
def test_a_forged_or_foreign_sensor_is_refused(make: Callable[[], Handheld], reason: str) -> None:
    meter = fitted()
    with pytest.raises(PairingRefused):
        make().pair_certificate(radio(meter))
    with pytest.raises(PairingRefused):  # nor may it report without pairing
        Handheld("leak").request_plain(
            radio(meter), SetRequestNormal(1, LEAK, Data(DataType.ENUM, 1)).to_bytes()
        )
    assert any(reason in d for d in refusals(meter, EventKind.AUTHENTICATION))
    assert not meter.log.of_kind(MeterEventKind.SENSOR_ALARM)


def test_sensor_readings_survive_a_power_cycle() -> None:
    meter = fitted()
    thermometer = sensor(EXTERNAL_TEMPERATURE)
    thermometer.pair_certificate(radio(meter))
    ask(thermometer, meter, SetRequestNormal(1, TEMPERATURE, Data(DataType.LONG, -52)))
    store = meter.management.store
    again = Meter(ADDRESS, keys=LinkKeys.generate(seeded(b"keys")), random=seeded(b"again"),
                  store=store, config=MeterConfig(handheld_ca=CA.public_key))  # fmt: skip
    assert again.sensors is not None and again.sensors.value(EXTERNAL_TEMPERATURE).value == -52


# A concentrator reading over Bluetooth


def concentrator(ca: sm2.PrivateKey = CA) -> ConcentratorRadio:
    key = sm2.PrivateKey.from_bytes(sm3.hash(b"concentrator 990000000001"))
    certificate = HandheldCertificate.issue(
        ca, serial=9001, handheld_id="TERMINAL-990000000001", role=Role.CONCENTRATOR,
        public_key=key.public_key, valid_from=int(T0 - 86400), valid_until=int(T0 + 86400 * 365),
    )  # fmt: skip
    return ConcentratorRadio(key, certificate, random=seeded(b"concentrator"))


def flat_load(now: float, seconds: float) -> tuple[Any, Any]:
    return np.full(2, 1200.0), np.full(2, 300.0)


def collect(
    meters: list[Meter], bluetooth: ConcentratorRadio | None, until: float
) -> tuple[Neighbourhood, list[Any]]:
    """Run a terminal over its meters (Bluetooth when ``bluetooth``, else HPLC) reading energy
    and the external temperature under plaintext + RN; the outbox's items."""
    start = T0 + 3600.0
    task = CollectionTask("real-time", 900.0, (ENERGY, TEMPERATURE, OAD(0x4000, 2, 0)))
    profile = LinkProfile(latency=0.01, bandwidth=200_000.0) if bluetooth else None
    channel = HplcChannel(seed=1, default=profile)
    terminal = Terminal(
        TERMINAL, channel, tasks=(task,), start=start,
        protect=lambda _address, request: wrap_with_rn(request, seeded(b"terminal")),
    )  # fmt: skip
    for meter in meters:
        terminal.add_meter(meter.address)
    net = Neighbourhood(terminal, channel, meters, flat_load, radio=bluetooth)
    net.power_up(start)
    net.run_until(until)
    return net, list(terminal.outbox.items)


def verified(items: list[Any]) -> tuple[list[Any], list[Structure]]:
    """The readings of the answers, and the reports, as the station verifies them."""
    station = rig().station
    station.register(OTHER, key_version=1)
    readings, reports = [], []
    for item in items:
        found = verify_exchange(item, station, now=item.at)
        assert found is not None, item
        if item.request:
            assert isinstance(decode_apdu(item.response), SecurityResponse)
            readings.extend(readings_of(item.meter, found.answer, item.at))
        else:
            reports.append(found.answer)
    return readings, reports


def test_a_concentrator_collects_over_bluetooth_with_the_meters_mac() -> None:
    meters = [fitted(ADDRESS, active_reports=True), fitted(OTHER)]
    thermometer = sensor(EXTERNAL_TEMPERATURE)
    thermometer.pair_certificate(radio(meters[0], T0 + 3600))
    ask(thermometer, meters[0], SetRequestNormal(1, TEMPERATURE, Data(DataType.LONG, 187)))
    detector = sensor(WATER_LEAK)
    detector.pair_certificate(radio(meters[0], T0 + 3600))
    ask(detector, meters[0], SetRequestNormal(1, LEAK, Data(DataType.ENUM, 1)))
    bluetooth = concentrator()
    _, items = collect(meters, bluetooth, T0 + 3600 + 2000)
    readings, reports = verified(items)
    by_meter = {(r.meter, r.quantity): r.value for r in readings}
    assert by_meter[(ADDRESS.hex(), "FF300200")] == pytest.approx(18.7)
    assert by_meter[(ADDRESS.hex(), "00100201")] > 0 and by_meter[(OTHER.hex(), "00100201")] > 0
    assert (OTHER.hex(), "FF300200") not in by_meter  # no sensor there: a null, no reading
    leaks = [
        result.result.value[3].value
        for report in reports
        if isinstance(report, ReportNotificationList)
        for result in report.results
        if result.oad.oi == MeterEventKind.SENSOR_ALARM.oi
    ]
    assert leaks == ["water leak: 1"]
    assert bluetooth.pairings >= 2  # each meter paired; an idle session is paired again
    assert all(
        "(CONCENTRATOR)" not in d for m in meters for d in refusals(m, EventKind.UNAUTHORISED)
    )


def test_bluetooth_collection_gives_what_hplc_collection_gives() -> None:
    over_hplc = collect([fitted(ADDRESS), fitted(OTHER)], None, T0 + 3600 + 1000)[1]
    over_ble = collect([fitted(ADDRESS), fitted(OTHER)], concentrator(), T0 + 3600 + 1000)[1]
    hplc, ble = verified(over_hplc)[0], verified(over_ble)[0]
    assert sorted((r.meter, r.quantity) for r in hplc) == sorted((r.meter, r.quantity) for r in ble)
    assert len(ble) >= 2


def test_the_concentrators_session_stands_beside_a_phones_and_is_paired_again_once_expired() -> (
    None
):
    meter = fitted()
    bluetooth = concentrator()
    frame = bytes.fromhex("68")  # any bytes: the meter's link layer ignores what is no frame
    bluetooth.exchange(ADDRESS, frame, radio(meter))
    handset = phone()
    handset.pair_certificate(radio(meter))
    bluetooth.exchange(ADDRESS, frame, radio(meter))  # both sessions live
    assert isinstance(ask(handset, meter, GetRequestNormal(1, ENERGY)), GetResponseNormal)
    assert bluetooth.pairings == 1
    later = NOW + 86400 + 1
    bluetooth.exchange(ADDRESS, frame, radio(meter, later))  # idle for a day: paired again
    assert bluetooth.pairings == 2
    assert not refusals(meter, EventKind.BAD_MAC)
    assert refusals(meter, EventKind.UNAUTHORISED) == ["request in an expired session"]


def test_a_meter_that_does_not_answer_loses_the_frame() -> None:
    meter = fitted()
    bluetooth = concentrator()
    meter.mains_lost(NOW)  # dark: its radio answers nothing
    assert bluetooth.exchange(ADDRESS, bytes.fromhex("68"), radio(meter)) == b""
    meter.mains_restored(NOW + 60)
    bluetooth.exchange(ADDRESS, bytes.fromhex("68"), radio(meter, NOW + 60))
    garbled = bluetooth.exchange(ADDRESS, b"", lambda frame: b"\x90" + bytes(40))
    assert garbled == b"" and bluetooth.pairings == 2
    assert bluetooth.notified(ADDRESS, b"\x90" + bytes(40)) == b""
    assert bluetooth.notified(OTHER, b"") == b""


def test_a_concentrator_without_the_utilitys_certificate_reads_nothing() -> None:
    meters = [fitted(ADDRESS), fitted(OTHER)]
    _, items = collect(meters, concentrator(ROGUE_CA), T0 + 3600 + 1000)
    assert items == []
    for meter in meters:
        assert any(
            "not signed by the utility CA" in d for d in refusals(meter, EventKind.AUTHENTICATION)
        )


# The bound certificate and the peers' access rules on their own

KEY = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard tests: a peer's key"))


@settings(max_examples=25, deadline=None)
@given(
    meter=st.none() | st.binary(min_size=6, max_size=6),
    scope=st.integers(0, 0xFFFF),
    role=st.sampled_from(list(Role)),
    name=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=32),
)
def test_certificates_round_trip_bound_or_not(
    meter: bytes | None, scope: int, role: Role, name: str
) -> None:
    scope = scope if meter is not None else 0
    certificate = HandheldCertificate.issue(
        CA, serial=5, handheld_id=name, role=role, public_key=KEY.public_key,
        valid_from=0, valid_until=2**32 - 1, meter=meter, scope=scope,
    )  # fmt: skip
    data = certificate.to_bytes()
    assert data[0] == (1 if meter is None else 2)
    assert HandheldCertificate.from_bytes(data) == certificate
    certificate.check(CA.public_key, T0)
    for bad in (data[:-1], data + b"\x00"):
        with pytest.raises(DecodeError):
            HandheldCertificate.from_bytes(bad)


def test_the_binding_is_signed_and_malformed_bound_certificates_say_where() -> None:
    certificate = phone().certificate
    assert certificate is not None and certificate.meter == ADDRESS
    moved = replace(certificate, meter=OTHER)  # the CA's signature kept
    with pytest.raises(CertificateRefused):
        moved.check(CA.public_key, NOW)
    data = certificate.to_bytes()
    with pytest.raises(DecodeError) as caught:
        HandheldCertificate.from_bytes(data[:91] + b"\x00" + data[92:])  # empty id
    assert caught.value.offset == 91
    with pytest.raises(ConfigError):
        HandheldCertificate.issue(
            CA, serial=1, handheld_id="x", role=Role.SENSOR, public_key=KEY.public_key,
            valid_from=0, valid_until=1, scope=WATER_LEAK,
        )  # fmt: skip
    with pytest.raises(ConfigError):
        HandheldCertificate.issue(
            CA, serial=1, handheld_id="x", role=Role.SENSOR, public_key=KEY.public_key,
            valid_from=0, valid_until=1, meter=b"\x01",
        )  # fmt: skip


def test_the_peers_access_rules() -> None:
    read_credit = GetRequestNormal(1, OAD(0x202C, 2, 0))
    assert refusal_reason(read_credit, Role.CUSTOMER) is None
    assert refusal_reason(read_credit, Role.SENSOR, EXTERNAL_TEMPERATURE) is not None
    assert refusal_reason(read_credit, Role.CONCENTRATOR) is not None
    report = SetRequestNormal(1, TEMPERATURE, Data(DataType.LONG, 1))
    assert refusal_reason(report, Role.SENSOR, EXTERNAL_TEMPERATURE) is None
    assert refusal_reason(report, Role.SENSOR, WATER_LEAK) is not None
    assert refusal_reason(report, Role.CUSTOMER) is not None
    assert refusal_reason(report, Role.READ_ONLY) is not None
    element = SetRequestNormal(1, OAD(EXTERNAL_TEMPERATURE, 2, 1), Data(DataType.LONG, 1))
    assert refusal_reason(element, Role.SENSOR, EXTERNAL_TEMPERATURE) is not None
    assert not CUSTOMER_READ & {0x2000, 0x4000, 0xF100, 0x8000}
    assert all(not never_local(oi) or oi in {0x202C, 0x202D} for oi in CUSTOMER_READ)
    assert HANDHELD_ROLES.isdisjoint(BOUND_ROLES)
