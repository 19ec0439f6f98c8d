"""The standard's own examples (Appendix D): decoded field by field and re-encoded to the
same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattguard.crypto.vectors import Vector, parse
from wattguard.protocol import OAD, Data, DataType, DateTimeS, decode_apdu, decode_frame
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.connect import (
    ConnectRequest,
    ConnectResponse,
    ConnectResult,
    LinkRequest,
    LinkRequestType,
    LinkResponse,
)
from wattguard.protocol.apdu.get import (
    GetRequestNormal,
    GetRequestRecord,
    GetResponseNormal,
    GetResponseNormalList,
    GetResponseRecord,
)
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.protocol.data import MSChoice

CASES = {
    case["name"]: case
    for case in parse(
        (Path(__file__).parent / "vectors" / "appendix_d.txt").read_text(), "appendix_d.txt"
    )
}


@pytest.mark.parametrize(
    "case", [c for c in CASES.values() if "apdu" in c], ids=lambda c: c["name"]
)
def test_every_example_round_trips(case: Vector) -> None:
    wire = case.bytes("apdu")
    assert decode_apdu(wire).to_bytes() == wire


def test_frame_example() -> None:
    frame = decode_frame(CASES["get-frame"].bytes("frame"))
    assert frame.address.text == "201605190907"
    assert frame.client_address == 0
    assert frame.control.to_byte() == 0x43
    assert decode_apdu(frame.apdu) == GetRequestNormal(1, OAD.parse("40010200"))


def _decode(name: str) -> object:
    return decode_apdu(CASES[name].bytes("apdu"))


def test_fields_read_as_the_standard_states_them() -> None:
    login = _decode("link-login-request")
    assert isinstance(login, LinkRequest)
    assert (login.type, login.heartbeat) == (LinkRequestType.LOGIN, 180)
    assert (login.time.year, login.time.month, login.time.day, login.time.milliseconds) == (
        2016,
        5,
        19,
        164,
    )
    answer = _decode("link-login-response")
    assert isinstance(answer, LinkResponse) and answer.result == 0x80

    connect = _decode("connect-request")
    assert isinstance(connect, ConnectRequest)
    assert connect.negotiation.version == 0x10 and connect.negotiation.timeout == 100
    accepted = _decode("connect-response")
    assert isinstance(accepted, ConnectResponse)
    assert accepted.factory.vendor == "TOPS" and accepted.info.result == ConnectResult.ACCEPTED

    address = _decode("get-normal-response")
    assert isinstance(address, GetResponseNormal)
    assert address.result.result == Data(DataType.OCTET_STRING, bytes.fromhex("123456789012"))

    readings = _decode("get-list-response")
    assert isinstance(readings, GetResponseNormalList)
    voltages, currents = (r.result for r in readings.results)
    assert [d.value for d in voltages.value] == [2413] * 3  # 241.3 V, scaler -1
    assert [d.value for d in currents.value] == [1000] * 3  # 1.000 A, scaler -3

    clock = _decode("set-normal-request")
    assert isinstance(clock, SetRequestNormal)
    assert clock.data == Data(DataType.DATE_TIME_S, DateTimeS(2016, 1, 20, 16, 27, 11))

    action = _decode("action-normal-request")
    assert isinstance(action, ActionRequest) and str(action.omd) == "00100100"
    done = _decode("action-normal-response")
    assert isinstance(done, ActionResponseNormal) and done.result.dar == 0

    record = _decode("get_record_request")
    assert isinstance(record, GetRequestRecord)
    assert record.record.oad == OAD.parse("50040200") and record.record.rows.selector == 1
    rows = _decode("get_record_response")
    assert isinstance(rows, GetResponseRecord)
    ((stamp, energies),) = rows.result.result
    assert stamp.value == DateTimeS(2016, 1, 20, 0, 0, 0)
    assert [d.value for d in energies.value] == [0] * 5

    meters = _decode("get_record_meters_request")
    assert isinstance(meters, GetRequestRecord)
    selector = meters.record.rows
    assert selector.selector == 5 and selector.fields[1].choice == MSChoice.ADDRESSES
    assert [tsa.text for tsa in selector.fields[1].items] == [f"000000012{n}" for n in range(1, 6)]
