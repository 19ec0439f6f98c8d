"""Private readings: the ESAM raises an answer to ciphertext + MAC when the host asks (never
lowers it), and a meter whose policy keeps its readings private answers a terminal's
plaintext + RN read of its curve in ciphertext + MAC, which only the station can open."""

from __future__ import annotations

import pytest

from wattguard.errors import EsamError
from wattguard.esam.command import Ins, Sw
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventKind
from wattguard.meter.management.policy import Mode, Operation, SecurityPolicy
from wattguard.protocol import OAD, decode_apdu
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal, GetResponseRecord
from wattguard.protocol.apdu.security import Protection, SecurityResponse
from wattguard.runtime.deployment import CURVE
from wattguard.testing import ADDRESS, HOUSE, T0, seeded
from wattguard.testing.esam import fitted_meter, rig
from wattguard.testing.meter import Line

GET = bytes.fromhex("0501010010020000")  # GET-Request-Normal 0010-0200
ANSWER = bytes.fromhex("850101001002000106000000be0000")


def test_the_chip_raises_an_answer_to_ciphertext_and_the_station_opens_it() -> None:
    r = rig()
    request = wrap_with_rn(GET, seeded(b"terminal"))
    r.client.open_request(request, T0)
    response = r.client.protect_response(request, ANSWER, T0, cipher=True)
    assert response.payload.protection == Protection.CIPHERTEXT
    assert ANSWER not in response.payload.data
    assert r.station.open_response(ADDRESS, request, response) == ANSWER
    # the default answers as the request came: plaintext, MAC'd
    r.client.open_request(request, T0)
    plain = r.client.protect_response(request, ANSWER, T0)
    assert plain.payload.protection == Protection.PLAINTEXT and plain.payload.data == ANSWER


def test_the_chip_refuses_an_unknown_answer_protection() -> None:
    r = rig()
    request = wrap_with_rn(GET, seeded(b"terminal"))
    r.client.open_request(request, T0)
    with pytest.raises(EsamError) as caught:
        r.client.call(Ins.PROTECT_RESPONSE, bytes(4) + b"\x00\x01\x00", p1=2)
    assert caught.value.sw == Sw.BAD_P1P2
    # the refusal left the opened request in place: it is still answered, once
    assert r.client.protect_response(request, ANSWER, T0).mac


def test_the_private_policy_raises_reads_of_readings_only() -> None:
    policy = SecurityPolicy()
    assert policy.allows(0x5002, Operation.GET, Mode.PLAINTEXT_MAC)
    policy.make_readings_private()
    assert not policy.allows(0x5002, Operation.GET, Mode.PLAINTEXT_MAC)
    assert policy.raises_read(0x5002, Mode.PLAINTEXT_MAC)
    assert policy.raises_read(0x0010, Mode.PLAINTEXT_MAC)
    assert not policy.raises_read(0x5002, Mode.PLAINTEXT)  # a bare read stays refused
    assert not policy.raises_read(0x4000, Mode.PLAINTEXT_MAC)  # the clock is not private
    assert policy.allows(0x4001, Operation.GET, Mode.PLAINTEXT)  # discovery still works


def test_a_private_meter_answers_a_terminals_curve_read_in_ciphertext() -> None:
    meter, _ = fitted_meter()
    meter.management.policy.make_readings_private()
    for minute in range(1, 31):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    line = Line(meter)
    station = rig().station
    station.register(ADDRESS, key_version=1)
    read = CURVE.request(3, T0, T0 + 1801)  # the terminal's curve task: two records
    for request_apdu, kind in ((read, GetResponseRecord), (GetRequestNormal(4, OAD(0x0010, 2)),
                                                           GetResponseNormal)):  # fmt: skip
        request = wrap_with_rn(request_apdu)
        answer = line.exchange(request, T0 + 1900)
        assert isinstance(answer, SecurityResponse)
        assert answer.payload.protection == Protection.CIPHERTEXT
        assert isinstance(decode_apdu(station.open_response(ADDRESS, request, answer)), kind)
    bare = line.exchange(GetRequestNormal(5, OAD(0x0010, 2)), T0 + 1900)
    assert isinstance(bare, GetResponseNormal) and bare.result.result == DAR.SECURITY_MISMATCH
    assert meter.log.security[-1].kind == EventKind.UNAUTHORISED
    clock = line.exchange(wrap_with_rn(GetRequestNormal(6, OAD(0x4000, 2))), T0 + 1900)
    assert isinstance(clock, SecurityResponse)
    assert clock.payload.protection == Protection.PLAINTEXT  # not private: as requested
