"""Readings out of relayed exchanges: parsing, scaling, and refusing what cannot be verified."""

from __future__ import annotations

import calendar
import datetime as dt

from wattguard.events import EventKind, EventLog
from wattguard.network.terminal import Collected
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.common import AResultNormal, AResultRecord
from wattguard.protocol.apdu.get import (
    GetRequestNormalList,
    GetResponseNormalList,
    GetResponseRecord,
)
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    Verification,
    VerificationKind,
)
from wattguard.protocol.data import CSD, RCSD
from wattguard.protocol.values import DateTimeS
from wattguard.station.ingest import PlainVerifier, open_exchange, readings_of

METER = bytes.fromhex("000000000007")
T = 1_790_000_000
ENERGY = OAD(0x0010, 2, 0)


def energy(*values: int) -> Data:
    return Data(DataType.ARRAY, tuple(Data(DataType.DOUBLE_LONG_UNSIGNED, v) for v in values))


def test_real_time_values_become_scaled_readings_per_element() -> None:
    answer = GetResponseNormalList(
        1,
        (
            AResultNormal(ENERGY, energy(123456, 100000, 23456)),
            AResultNormal(
                OAD(0x2000, 2, 0), Data(DataType.ARRAY, (Data(DataType.LONG_UNSIGNED, 2301),))
            ),
            AResultNormal(OAD(0x2001, 2, 0), 6),  # a DAR: no reading
        ),
    )
    readings = readings_of(METER, answer, T + 0.7)
    got = {(r.quantity, round(r.value, 3)) for r in readings}
    assert got == {
        ("00100201", 1234.56),
        ("00100202", 1000.0),
        ("00100203", 234.56),
        ("20000201", 230.1),
    }
    assert {r.time for r in readings} == {T} and {r.meter for r in readings} == {METER.hex()}


def test_records_take_their_freeze_time() -> None:
    columns = RCSD((CSD(OAD(0x2021, 2, 0)), CSD(ENERGY)))
    rows = tuple(
        (
            Data(
                DataType.DATE_TIME_S,
                DateTimeS.from_datetime(dt.datetime(2026, 9, 21, 10, 15 * k)),
            ),
            energy(1000 + k),
        )
        for k in range(3)
    )
    answer = GetResponseRecord(1, AResultRecord(OAD(0x5002, 2, 0), columns, rows))
    readings = readings_of(METER, answer, T)
    base = calendar.timegm(dt.datetime(2026, 9, 21, 10, 0).timetuple())
    assert [(r.time - base, r.quantity, r.value) for r in readings] == [
        (0, "50020200/00100201", 10.0),
        (900, "50020200/00100201", 10.01),
        (1800, "50020200/00100201", 10.02),
    ]


def test_unprotected_answers_are_refused_where_protection_is_required() -> None:
    events = EventLog()
    request = GetRequestNormalList(1, (ENERGY,)).to_bytes()
    answer = GetResponseNormalList(1, (AResultNormal(ENERGY, energy(1)),)).to_bytes()
    item = Collected(METER, T, request, answer)
    assert open_exchange(item, PlainVerifier(), events=events) is None
    assert events.of_kind(EventKind.BAD_MAC)
    # without the protection the same forged answer is believed
    assert open_exchange(item, PlainVerifier(), require_protection=False) is not None


def test_an_unprotected_answer_is_read_without_decoding_its_request() -> None:
    """Only a protected answer needs its request (what the MAC is bound to): an unprotected
    one is taken, where protection is off, whatever request bytes the terminal relayed with it
    (before, the request was decoded anyway, and bytes it could not decode refused the
    answer); where protection is required it is refused the same either way."""
    answer = GetResponseNormalList(1, (AResultNormal(ENERGY, energy(1)),)).to_bytes()
    item = Collected(METER, T, b"\xff\xff", answer)
    found = open_exchange(item, PlainVerifier(), require_protection=False)
    assert found is not None and readings_of(bytes.fromhex("0000000000a1"), found, T)
    events = EventLog()
    assert open_exchange(item, PlainVerifier(), events=events) is None
    assert events.of_kind(EventKind.BAD_MAC) and not events.of_kind(EventKind.MALFORMED)


def test_protected_answers_without_a_cryptographic_device_are_refused() -> None:
    events = EventLog()
    inner = GetRequestNormalList(1, (ENERGY,)).to_bytes()
    request = SecurityRequest(
        SecurityPayload(Protection.PLAINTEXT, inner),
        Verification(VerificationKind.RN, random=bytes(16)),
    )
    answer = SecurityResponse(
        SecurityPayload(Protection.PLAINTEXT, b"\x85\x02\x01\x00"), b"\x00" * 4
    )
    item = Collected(METER, T, request.to_bytes(), answer.to_bytes())
    assert open_exchange(item, PlainVerifier(), events=events) is None
    assert events.of_kind(EventKind.BAD_MAC)


def test_garbage_is_recorded_as_malformed_not_raised() -> None:
    events = EventLog()
    item = Collected(METER, T, b"\x05\x02", b"\xff\xff\xff")
    assert open_exchange(item, PlainVerifier(), require_protection=False, events=events) is None
    assert events.of_kind(EventKind.MALFORMED)
