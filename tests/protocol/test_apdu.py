"""Every registered APDU service round-trips; decoding refuses malformed APDUs cleanly."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.errors import DecodeError
from wattguard.protocol import OAD, Data, DataType, decode_apdu
from wattguard.protocol.apdu._schema import REGISTRY, Structure
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    Verification,
    VerificationKind,
)
from wattguard.testing.strategies import SERVICES, structure_strategy, u8


@pytest.mark.parametrize("cls", [cls for _, cls in SERVICES], ids=lambda c: c.__name__)
@settings(max_examples=30)
@given(data=st.data())
def test_every_service_round_trips(cls: type[Structure], data: st.DataObject) -> None:
    apdu = data.draw(structure_strategy(cls))
    wire = apdu.to_bytes()
    decoded = decode_apdu(wire)
    assert type(decoded) is cls
    assert decoded.to_bytes() == wire
    assert decoded == apdu


def test_service_table_covers_the_standard() -> None:
    tags = {tag for tag, _ in REGISTRY}
    # LINK, CONNECT, RELEASE, GET, SET, ACTION, REPORT, PROXY, SECURITY, ERROR both ways.
    assert tags == {
        1,
        2,
        3,
        5,
        6,
        7,
        8,
        9,
        16,
        129,
        130,
        131,
        132,
        133,
        134,
        135,
        136,
        137,
        144,
        238,
    }
    assert {choice for tag, choice in REGISTRY if tag == 5} == {1, 2, 3, 4, 5, 6}
    assert {choice for tag, choice in REGISTRY if tag == 9} == {1, 2, 3, 4, 5, 6, 7}


def test_known_get_request_and_response_bytes() -> None:
    request = GetRequestNormal(piid=1, oad=OAD.parse("00100200"))
    assert request.to_bytes().hex() == "0501010010020000"
    energies = Data.array(*[Data(DataType.DOUBLE_LONG_UNSIGNED, v) for v in range(5)])
    response = GetResponseNormal(1, AResultNormal(OAD.parse("00100200"), energies))
    assert response.to_bytes().hex().startswith("85010100100200010105")
    assert response.to_bytes().hex().endswith("0000")  # no FollowReport, no TimeTag


def test_security_request_wraps_an_apdu() -> None:
    inner = GetRequestNormal(piid=2, oad=OAD.parse("40000200")).to_bytes()
    wrapped = SecurityRequest(
        SecurityPayload(Protection.PLAINTEXT, inner),
        Verification(VerificationKind.RN, random=bytes(16)),
    )
    wire = wrapped.to_bytes()
    assert wire[:3] == bytes((0x10, 0x00, len(inner)))
    opened = decode_apdu(wire)
    assert isinstance(opened, SecurityRequest)
    assert decode_apdu(opened.payload.data) == decode_apdu(inner)
    answer = SecurityResponse(SecurityPayload(Protection.PLAINTEXT, b"\x85\x01"), mac=b"1234")
    assert answer.to_bytes().hex().endswith("010004" + b"1234".hex())


@pytest.mark.parametrize(
    "wire, reason",
    [
        ("", "1 byte wanted"),
        ("77", "unknown APDU service 119"),
        ("0509", "unknown APDU service 5 choice 9"),
        ("050101001002", "4 bytes wanted"),
        ("0501010010020000ff", "trailing"),
        ("0501010010020002", "OPTIONAL marker"),
        ("850101001002000207", "choice must be 0"),
        ("1005", "unknown security data choice"),
        ("ee0107", "not a ErrorType"),
    ],
)
def test_malformed_apdus_say_what_and_where(wire: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_apdu(bytes.fromhex(wire))


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_random_bytes_only_raise_decode_errors(noise: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_apdu(noise)


@settings(max_examples=300)
@given(st.sampled_from([cls for _, cls in SERVICES]).flatmap(structure_strategy), st.data())
def test_mutated_apdus_only_raise_decode_errors(apdu: Structure, data: st.DataObject) -> None:
    wire = bytearray(apdu.to_bytes())
    index = data.draw(st.integers(0, len(wire) - 1))
    wire[index] = data.draw(u8)
    cut = data.draw(st.integers(1, len(wire)))
    with contextlib.suppress(DecodeError):
        decode_apdu(bytes(wire[:cut]))
