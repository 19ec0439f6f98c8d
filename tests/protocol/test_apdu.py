"""Every registered APDU service round-trips; decoding refuses malformed APDUs cleanly."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies698 import (
    comdcbs,
    date_time_ss,
    date_times,
    oads,
    omds,
    rcsds,
    rsds,
    scalar_data,
    sids,
    tis,
    tsas,
    u8,
    u16,
    u32,
    visible_text,
)

from wattguard.errors import DecodeError
from wattguard.protocol import COMDCB, OAD, RCSD, Data, DataType, decode_apdu
from wattguard.protocol.apdu._schema import REGISTRY, Structure
from wattguard.protocol.apdu.common import AResultNormal, AResultRecord, FollowReport
from wattguard.protocol.apdu.connect import ConnectMechanism, Mechanism
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNext, GetResponseNormal
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    Verification,
    VerificationKind,
)
from wattguard.protocol.data import RSD
from wattguard.protocol.values import OMD, TI, TSA, DateTime, DateTimeS

small_data = st.one_of(
    scalar_data,
    st.lists(scalar_data, max_size=3).map(lambda v: Data(DataType.STRUCTURE, tuple(v))),
)
VALUES: dict[type, st.SearchStrategy[Any]] = {
    OAD: oads,
    OMD: omds,
    TSA: tsas,
    TI: tis,
    RSD: rsds,
    RCSD: rcsds,
    COMDCB: comdcbs,
    DateTime: date_times,
    DateTimeS: date_time_ss,
    Verification: st.one_of(
        st.builds(
            lambda s, m: Verification(VerificationKind.SID_MAC, sid=s, mac=m),
            sids,
            st.binary(max_size=8),
        ),
        st.builds(lambda r: Verification(VerificationKind.RN, random=r), st.binary(max_size=16)),
        st.builds(
            lambda r, m: Verification(VerificationKind.RN_MAC, random=r, mac=m),
            st.binary(max_size=16),
            st.binary(max_size=8),
        ),
        st.builds(lambda s: Verification(VerificationKind.SID, sid=s), sids),
    ),
}


def _rows(columns: RCSD) -> st.SearchStrategy[Any]:
    width = len(columns.columns)
    if not width:
        return st.one_of(st.just(()), u8)
    row = st.lists(small_data, min_size=width, max_size=width).map(tuple)
    return st.one_of(st.lists(row, max_size=3).map(tuple), u8)


a_result_records = rcsds.flatmap(
    lambda columns: st.builds(AResultRecord, oads, st.just(columns), _rows(columns))
)


def strategy(codec: Any, strict: bool = False) -> st.SearchStrategy[Any]:
    """A strategy for the values a codec accepts, built from its spec. ``strict`` keeps to
    what the standard means as well as what it spells: no empty lists, for one."""
    kind, *args = codec.spec
    simple = {
        "piid": u8.map(lambda v: v & 0xBF),
        "link_result": st.tuples(st.booleans(), st.integers(0, 2)).map(lambda v: v[0] << 7 | v[1]),
        "u8": u8,
        "u16": u16,
        "u32": u32,
        "bool": st.booleans(),
        "dar": u8,
        "octets": st.binary(max_size=40),
        "mac": st.binary(max_size=40),
        "data": small_data,
    }
    if kind in simple:
        return simple[kind]
    if kind == "fixed":
        return st.binary(min_size=args[0], max_size=args[0])
    if kind == "fixed_text":
        return st.text(
            st.characters(min_codepoint=32, max_codepoint=126), min_size=args[0], max_size=args[0]
        )
    if kind == "enum":
        return st.sampled_from(list(args[0]))
    if kind == "optional":
        return st.one_of(st.none(), strategy(args[0], strict))
    if kind == "sequence_of":
        return st.lists(strategy(args[0], strict), min_size=strict, max_size=3).map(tuple)
    if kind == "dar_or":
        return st.one_of(u8, strategy(args[0], strict))
    if kind == "value":
        return VALUES[args[0]]
    if kind == "record":
        return structure_strategy(args[0], strict)
    if kind == "next_answer":
        return st.one_of(
            u8,
            st.lists(structure_strategy(AResultNormal), min_size=1, max_size=2).map(tuple),
            st.lists(a_result_records, min_size=1, max_size=2).map(tuple),
        )
    if kind == "request_payload":
        return st.builds(SecurityPayload, st.sampled_from(list(Protection)), st.binary(max_size=60))
    if kind == "response_payload":
        return st.one_of(
            st.builds(SecurityPayload, st.sampled_from(list(Protection)), st.binary(max_size=60)),
            u8.map(lambda dar: SecurityPayload(Protection.PLAINTEXT, dar=dar)),
        )
    raise AssertionError(f"no strategy for codec {codec.spec}")


#: Where meaning narrows a field beyond its type (used with strict=True).
STRICT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "timeout": st.integers(1, 0xFFFF),  # a proxy timeout of 0 seconds means nothing
    "ReleaseResponse.result": st.just(0),  # the only RELEASE result is success
    "GetResponseMD5.answer": st.one_of(u8, st.binary(min_size=16, max_size=16)),
}


def structure_strategy(cls: Any, strict: bool = False) -> st.SearchStrategy[Any]:
    if cls is AResultRecord:
        return a_result_records
    if cls is FollowReport:
        return st.one_of(
            st.lists(structure_strategy(AResultNormal), min_size=1, max_size=2),
            st.lists(a_result_records, min_size=1, max_size=2),
        ).map(lambda results: FollowReport(tuple(results)))
    if cls is ConnectMechanism:
        return st.one_of(
            st.just(ConnectMechanism()),
            visible_text.map(lambda p: ConnectMechanism(Mechanism.PASSWORD, password=p)),
            st.builds(
                lambda m, c, s: ConnectMechanism(m, ciphertext=c, signature=s),
                st.sampled_from([Mechanism.SYMMETRIC, Mechanism.SIGNATURE]),
                st.binary(max_size=40),
                st.binary(max_size=64),
            ),
        )
    if cls is GetResponseNext and strict:  # a DAR ends the blocks: it is the last one
        return structure_strategy(cls).filter(
            lambda apdu: apdu.last_block or isinstance(apdu.answer, tuple)
        )
    fields = []
    for name, codec in cls._schema:
        override = STRICT_FIELDS.get(f"{cls.__name__}.{name}", STRICT_FIELDS.get(name))
        fields.append(override if strict and override is not None else strategy(codec, strict))
    return st.builds(cls, *fields)


SERVICES = sorted(REGISTRY.items(), key=lambda item: (item[0][0], item[0][1] or 0))


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
