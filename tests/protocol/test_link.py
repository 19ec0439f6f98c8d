"""The link frame: CRC, control and address fields, whole-frame decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import DecodeError
from wattguard.protocol import (
    AddressType,
    Control,
    Fragment,
    FragmentKind,
    LinkFrame,
    ServerAddress,
    crc16,
    decode_frame,
)
from wattguard.testing.strategies import link_frames

METER = ServerAddress.parse("123456789012")
GET_ENERGY = bytes.fromhex("0501010010020000")


def test_crc_check_value() -> None:
    # The catalogue check value of CRC-16/X-25.
    assert crc16(b"123456789") == 0x906E


@given(st.binary(max_size=300))
def test_crc_matches_the_bitwise_definition(data: bytes) -> None:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    assert crc16(data) == crc ^ 0xFFFF


def test_a_get_request_frame_byte_for_byte() -> None:
    frame = LinkFrame(Control(from_server=False, client_started=True), METER, 0x10, GET_ENERGY)
    wire = frame.to_bytes()
    # 68 | L=0x0017 | C=0x43 | AF=0x05 | SA reversed | CA | HCS | APDU | FCS | 16
    assert wire[:4] == bytes.fromhex("68170043")
    assert wire[4:11] == bytes.fromhex("05129078563412")
    assert wire[11] == 0x10
    assert wire[12:14] == crc16(wire[1:12]).to_bytes(2, "little")
    assert wire[14:22] == GET_ENERGY
    assert wire[22:24] == crc16(wire[1:22]).to_bytes(2, "little")
    assert wire[-1] == 0x16
    assert decode_frame(wire) == frame


@given(link_frames(max_apdu=300))
def test_frames_round_trip(frame: LinkFrame) -> None:
    assert decode_frame(frame.to_bytes()) == frame
    assert decode_frame(b"\xfe\xfe\xfe\xfe" + frame.to_bytes()) == frame


@given(st.integers(0, 4095), st.sampled_from(list(FragmentKind)), st.binary(max_size=100))
def test_fragmented_frames_round_trip(number: int, kind: FragmentKind, data: bytes) -> None:
    frame = LinkFrame(Control(False, True, fragmented=True), METER, 1, data, Fragment(number, kind))
    assert decode_frame(frame.to_bytes()) == frame


def test_scrambling_adds_0x33_on_the_wire_only() -> None:
    plain = LinkFrame(Control(False, True), METER, 0x10, GET_ENERGY)
    scrambled = LinkFrame(Control(False, True, scrambled=True), METER, 0x10, GET_ENERGY)
    wire = scrambled.to_bytes()
    assert wire[14:22] == bytes((b + 0x33) & 0xFF for b in GET_ENERGY)
    assert decode_frame(wire).apdu == plain.apdu


def test_address_kinds() -> None:
    extended = ServerAddress.parse("000000000001", extended_logical=3, logical=1)
    wire = extended.to_bytes()
    assert wire[0] == (7 - 1) | 0x10 | 0x20  # length 7 (ext + 6), logical 1, ext flag
    assert wire[1] == 3 and wire[2:] == bytes.fromhex("010000000000")
    assert ServerAddress.read(wire, 0) == (extended, len(wire))
    broadcast = ServerAddress.broadcast()
    assert broadcast.to_bytes() == bytes((0xC0, 0xAA))
    wildcard = ServerAddress.parse("1234AAAAAAAA", type=AddressType.WILDCARD)
    assert ServerAddress.read(wildcard.to_bytes(), 0)[0].text == "1234AAAAAAAA"
    with pytest.raises(ValueError):
        ServerAddress(b"")
    with pytest.raises(ValueError):
        ServerAddress(b"\x01", extended_logical=1)


def _corrupt(wire: bytes, index: int) -> bytes:
    out = bytearray(wire)
    out[index] ^= 0x01
    return bytes(out)


def test_corruption_anywhere_is_a_decode_error_with_an_offset() -> None:
    wire = LinkFrame(Control(False, True), METER, 0x10, GET_ENERGY).to_bytes()
    for index in range(len(wire)):
        with pytest.raises(DecodeError) as refused:
            decode_frame(_corrupt(wire, index))
        assert 0 <= refused.value.offset < len(wire)
    with pytest.raises(DecodeError, match="HCS"):
        decode_frame(_corrupt(wire, 12))
    with pytest.raises(DecodeError, match="FCS"):
        decode_frame(_corrupt(wire, 16))
    with pytest.raises(DecodeError, match="0x16"):
        decode_frame(wire[:-1] + b"\x17")
    with pytest.raises(DecodeError):
        decode_frame(wire + b"\x00")
    with pytest.raises(DecodeError):
        decode_frame(wire[:-2])
    with pytest.raises(DecodeError):
        decode_frame(b"")


def test_frames_longer_than_l_can_say_are_refused_when_built() -> None:
    with pytest.raises(ValueError, match="longer than L"):
        LinkFrame(Control(False, True), METER, 1, bytes(0x4000)).to_bytes()
