"""The compiled fast path decodes exactly what the Python decoder decodes, into equal objects of
the same types, and declines (None) everything the Python decoder refuses.

The Python decoder is the reference: ``decode_apdu_python`` and ``decode_frame`` with the fast
path switched off. Each property is checked on well-formed input of every service and Data
type (where the fast path must not decline: a decline would silently cost the speed), on
mutated input and on random bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.errors import DecodeError
from wattguard.protocol import (
    OAD,
    Control,
    Data,
    DataType,
    Fragment,
    FragmentKind,
    LinkFrame,
    ServerAddress,
    _accelerate,
    crc,
    decode_frame,
    link,
)
from wattguard.protocol import data as data_module
from wattguard.protocol.apdu import Structure, decode_apdu_python
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.get import GetResponseNormal
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import MAX_DEPTH
from wattguard.protocol.values import DateTimeS
from wattguard.testing.services import require
from wattguard.testing.strategies import SERVICES, data_values, link_frames, structure_strategy, u8


@pytest.fixture(scope="module")
def accel() -> Any:
    require(_accelerate.ACTIVE, f"the compiled decoder is not in use: {_accelerate.REASON}")
    from wattguard.protocol import _accel

    return _accel


def reference_frame(wire: bytes) -> LinkFrame | DecodeError:
    """decode_frame without the fast path: the reference answer."""
    saved = link._fast_frame
    link._fast_frame = None
    try:
        return decode_frame(wire)
    except DecodeError as exc:
        return exc
    finally:
        link._fast_frame = saved


def same(a: Any, b: Any) -> bool:
    """Equal, and built of the same types all the way down (DAR.SUCCESS == 0, but a DAR
    member and an int are different answers)."""
    return a == b and repr(a) == repr(b)


def reference_apdu(wire: bytes) -> Structure | DecodeError:
    try:
        return decode_apdu_python(wire)
    except DecodeError as exc:
        return exc


def check_apdu(accel: Any, wire: bytes, must_decode: bool = False) -> None:
    expected = reference_apdu(wire)
    fast = accel.decode_apdu(wire)
    if isinstance(expected, DecodeError):
        assert fast is None, f"the fast path accepted what Python refuses ({expected})"
        return
    if fast is None:
        assert not must_decode, f"the fast path declined a well-formed {type(expected).__name__}"
        return
    assert type(fast) is type(expected)
    assert same(fast, expected)


@pytest.mark.parametrize("cls", [cls for _, cls in SERVICES], ids=lambda c: c.__name__)
@settings(max_examples=40)
@given(data=st.data())
def test_every_service_decodes_identically(accel: Any, cls: type[Structure], data: Any) -> None:
    apdu = data.draw(structure_strategy(cls))
    check_apdu(accel, apdu.to_bytes(), must_decode=True)


@settings(max_examples=400)
@given(st.sampled_from([cls for _, cls in SERVICES]).flatmap(structure_strategy), st.data())
def test_mutated_apdus_are_declined_where_python_refuses(
    accel: Any, apdu: Structure, data: Any
) -> None:
    wire = bytearray(apdu.to_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(u8)
    cut = data.draw(st.integers(1, len(wire)))
    check_apdu(accel, bytes(wire[:cut]))


@settings(max_examples=500)
@given(st.binary(max_size=60))
def test_random_bytes_are_declined_where_python_refuses(accel: Any, noise: bytes) -> None:
    check_apdu(accel, noise)


def in_response(value: Data) -> bytes:
    return GetResponseNormal(1, AResultNormal(OAD(0x0010), value)).to_bytes()


@settings(max_examples=300)
@given(data_values)
def test_every_data_type_decodes_identically(accel: Any, value: Data) -> None:
    wire = in_response(value)
    check_apdu(accel, wire, must_decode=True)
    assert same(accel.decode_apdu(wire).result.result, value)


def nested(depth: int) -> Data:
    value = Data(DataType.UNSIGNED, 7)
    for _ in range(depth):
        value = Data(DataType.STRUCTURE, (value,))
    return value


def test_nesting_is_bounded_as_in_python(accel: Any) -> None:
    assert accel.decode_apdu(in_response(nested(MAX_DEPTH))) is not None
    deep = in_response(nested(MAX_DEPTH + 1))
    assert accel.decode_apdu(deep) is None
    assert isinstance(reference_apdu(deep), DecodeError)


@pytest.mark.parametrize(
    ("tag", "raw"),
    [
        (DataType.VISIBLE_STRING, b"\x03ab\x7f"),  # DEL is not printable
        (DataType.UTF8_STRING, b"\x02\xc3\x28"),  # not UTF-8
        (DataType.BOOL, b"\x02"),
        (DataType.ARRAY, b"\x05\x11\x01"),  # 5 elements in 2 bytes
        (DataType.OCTET_STRING, b"\x83\x00\x00\x01"),  # a 3-byte length prefix
    ],
)
def test_refusals_inside_data_are_declined(accel: Any, tag: DataType, raw: bytes) -> None:
    wire = bytes.fromhex("85010100100200") + b"\x01" + bytes((tag,)) + raw + b"\x00\x00"
    assert isinstance(reference_apdu(wire), DecodeError)
    assert accel.decode_apdu(wire) is None


@pytest.mark.parametrize(
    "wire",
    [
        "0501410010020000",  # PIID bit 6 set
        "0501010010020002",  # OPTIONAL marker 2
        "050101001002000000",  # a trailing byte
        "05020180",  # length prefix 0x80
        "05020105",  # 5 OADs announced, none there
        "850101001002000207",  # Get-Result choice 2
        "8501010010020001030200",  # bool 2 inside Data
        "90000100010100",  # SECURITY-Response MAC choice 1
        "9003",  # security data choice 3
        "ee0107",  # no such ErrorType
        "0101000000",  # LINK request type 0 (not login, heartbeat or logout)
    ],
)
def test_refusals_of_the_compiled_checks_are_declined(accel: Any, wire: str) -> None:
    raw = bytes.fromhex(wire)
    assert isinstance(reference_apdu(raw), DecodeError)
    assert accel.decode_apdu(raw) is None


frames = link_frames(max_apdu=120)


@settings(max_examples=300)
@given(frames, st.integers(0, 3))
def test_frames_decode_identically(accel: Any, frame: LinkFrame, wake_up: int) -> None:
    wire = b"\xfe" * wake_up + frame.to_bytes()
    expected = reference_frame(wire)  # (it also caches the address)
    fast = accel.decode_frame(wire)
    if frame.control.scrambled:
        assert fast is None  # left to Python
    else:  # fragmented frames included (a gathered report always is)
        assert fast is not None
        assert same(fast, expected)
        assert type(fast) is LinkFrame


@settings(max_examples=500)
@given(frames, st.data())
def test_mutated_frames_are_declined_where_python_refuses(
    accel: Any, frame: LinkFrame, data: Any
) -> None:
    wire = bytearray(frame.to_bytes())
    reference_frame(bytes(wire))  # caches the address, so the fast path gets that far
    wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(u8)
    cut = data.draw(st.integers(1, len(wire)))
    mutated = bytes(wire[:cut])
    expected = reference_frame(mutated)
    fast = accel.decode_frame(mutated)
    if isinstance(expected, DecodeError):
        assert fast is None
    elif fast is not None:
        assert same(fast, expected)


@given(st.binary(max_size=1000), st.integers(1, 0xFFFF))
def test_the_compiled_crc_agrees_with_python(accel: Any, apdu: bytes, error: int) -> None:
    # CRC-16/X-25 is written twice, in protocol/crc.py and in _accel.c: the compiled decoder
    # takes a frame exactly when its FCS is the one Python's crc16 computed.
    wire = LinkFrame(Control(True, True), ServerAddress(bytes(6)), 0x10, apdu).to_bytes()
    reference_frame(wire)  # caches the address, so the fast path gets to the FCS
    assert accel.decode_frame(wire) is not None
    fcs = int.from_bytes(wire[-3:-1], "little") ^ error
    assert accel.decode_frame(wire[:-3] + fcs.to_bytes(2, "little") + wire[-1:]) is None


@given(st.binary(max_size=2000))
def test_the_compiled_crc_is_the_reference_crc(accel: Any, data: bytes) -> None:
    assert accel.crc16(data) == crc.crc16_python(data)
    assert accel.crc16(bytearray(data)) == accel.crc16(memoryview(data))


def test_the_crc_in_use_is_the_compiled_one_and_is_the_catalogue_s(accel: Any) -> None:
    assert crc._fast_crc is accel.crc16
    assert crc.crc16(b"123456789") == crc.crc16_python(b"123456789") == 0x906E


@given(st.sampled_from(list(FragmentKind)), st.integers(0, 0x0FFF), st.binary(max_size=60))
def test_every_fragment_decodes_identically(
    accel: Any, kind: FragmentKind, number: int, data: bytes
) -> None:
    frame = LinkFrame(
        Control(True, False, fragmented=True), ServerAddress(bytes(6)), 0x10, data,
        Fragment(number, kind),
    )  # fmt: skip
    wire = frame.to_bytes()
    expected = reference_frame(wire)
    fast = accel.decode_frame(wire)
    assert fast is not None and same(fast, expected) and fast == frame


@pytest.mark.parametrize("word", ["0010", "0020", "00"])  # reserved bits 12 and 13; cut short
def test_malformed_fragment_words_are_declined(accel: Any, word: str) -> None:
    good = LinkFrame(
        Control(True, False, fragmented=True), ServerAddress(bytes(6)), 0x10, b"\x01\x02",
        Fragment(1, FragmentKind.MIDDLE),
    ).to_bytes()  # fmt: skip
    reference_frame(good)  # caches the address
    header = 1 + 2 + 1 + 7 + 1 + 2  # 68, L, C, AF+SA, CA, HCS
    body = bytes.fromhex(word) + (b"\x01\x02" if len(word) == 4 else b"")
    length = header - 1 + len(body) + 2
    head = good[1 : header - 2]
    head = length.to_bytes(2, "little") + head[2:]
    head = head + crc.crc16_bytes(head)
    wire_body = head + body
    wire = b"\x68" + wire_body + crc.crc16_bytes(wire_body) + b"\x16"
    assert isinstance(reference_frame(wire), DecodeError)
    assert accel.decode_frame(wire) is None


def test_an_address_not_yet_seen_is_left_to_python(accel: Any) -> None:
    address = ServerAddress.parse("998877665544", extended_logical=3)
    wire = LinkFrame(Control(False, True), address, 0x10, b"\x05\x01\x01\x00\x10\x02\x00\x00")
    raw = wire.to_bytes()
    link._ADDRESSES.pop(address.to_bytes(), None)
    assert accel.decode_frame(raw) is None
    assert decode_frame(raw) == wire  # Python decodes it and caches the address
    assert accel.decode_frame(raw) == wire


def test_pure_python_mode_decodes_the_same() -> None:
    """WATTGUARD_PURE_PYTHON=1 switches the fast path off; the answers do not change."""
    wire = LinkFrame(
        Control(True, True), ServerAddress.parse("123456789012"), 0x10, in_response(nested(3))
    ).to_bytes()
    program = (
        "import sys\n"
        "from wattguard.protocol import _accelerate, decode_apdu, decode_frame\n"
        "print(_accelerate.ACTIVE, _accelerate.REASON)\n"
        "print(repr(decode_apdu(decode_frame(bytes.fromhex(sys.argv[1])).apdu)))\n"
    )
    env = {**os.environ, "WATTGUARD_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", program, wire.hex()],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0] == "False WATTGUARD_PURE_PYTHON is set"
    assert out[1] == repr(decode_apdu_python(decode_frame(wire).apdu))


# Data on its own (read_data: the meters' internal messages, records, selectors)


def reference_data(raw: bytes, depth: int = 0) -> tuple[Data, int] | DecodeError:
    """read_data without the fast path."""
    saved = data_module._fast_data
    data_module._fast_data = None
    try:
        reader = Reader(raw)
        value = data_module.read_data(reader, depth)
        return value, reader.pos
    except DecodeError as exc:
        return exc
    finally:
        data_module._fast_data = saved


def check_data(accel: Any, raw: bytes, depth: int = 0, must_decode: bool = False) -> None:
    expected = reference_data(raw, depth)
    fast = accel.decode_data(raw, 0, depth) if raw else None
    if isinstance(expected, DecodeError):
        assert fast is None, f"the fast path accepted what Python refuses ({expected})"
    elif fast is None:
        assert not must_decode, "the fast path declined well-formed Data"
    else:
        assert same(fast, expected)


@settings(max_examples=300)
@given(data_values, st.binary(max_size=4))
def test_data_decodes_identically_with_what_follows_left(
    accel: Any, value: Data, after: bytes
) -> None:
    check_data(accel, value.to_bytes() + after, must_decode=True)
    # and read_data, as callers use it, gives the same with the fast path on
    reader = Reader(value.to_bytes() + after)
    assert same(data_module.read_data(reader), value) and reader.pos == len(value.to_bytes())


@settings(max_examples=400)
@given(data_values, st.data())
def test_mutated_data_is_declined_where_python_refuses(accel: Any, value: Data, data: Any) -> None:
    raw = bytearray(value.to_bytes())
    raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(u8)
    cut = data.draw(st.integers(1, len(raw)))
    check_data(accel, bytes(raw[:cut]), depth=data.draw(st.integers(0, MAX_DEPTH)))


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=40).map(lambda b: bytes([1 + b[0] % 2]) + b[1:]))
def test_random_arrays_are_declined_where_python_refuses(accel: Any, raw: bytes) -> None:
    check_data(accel, raw)


def test_data_depth_is_counted_from_where_the_caller_is(accel: Any) -> None:
    raw = nested(3).to_bytes()
    assert accel.decode_data(raw, 0, MAX_DEPTH - 3) is not None
    assert accel.decode_data(raw, 0, MAX_DEPTH - 2) is None
    assert isinstance(reference_data(raw, MAX_DEPTH - 2), DecodeError)


# A SECURITY-Request's verification (what the station reads of every request it verifies an
# answer against) has a program of its own, not a call of its Python reader.


def test_the_verification_is_compiled(accel: Any) -> None:
    from wattguard.protocol.apdu import security

    assert _accelerate.compile_codec(security.VERIFICATION)[0] == _accelerate.OP_VERIFICATION


@pytest.mark.parametrize(
    "verification",
    [
        "01 10 000102030405060708090a0b0c0d0e0f",  # RN
        "02 02 abcd 04 01020304",  # RN_MAC
        "00 57010101 0a 00000001000000000031 04 01020304",  # SID_MAC
        "03 ffffffff 00",  # SID, no additional data
        "01 8200 10 000102030405060708090a0b0c0d0e0f",  # a 2-byte length
    ],
)
def test_every_verification_kind_decodes_identically(accel: Any, verification: str) -> None:
    check_apdu(accel, bytes.fromhex("10 00 02 0501" + verification), must_decode=True)


@pytest.mark.parametrize(
    "verification",
    [
        "04 00",  # no such verification choice
        "01",  # RN without its octets
        "01 05 0102",  # RN shorter than its length
        "02 02 abcd",  # RN_MAC without its MAC
        "02 02 abcd 04 0102",  # RN_MAC with a short MAC
        "00 570101",  # SID_MAC cut in its identification
        "00 57010101 0a 0000",  # SID_MAC cut in its additional data
        "00 57010101 00",  # SID_MAC without its MAC
        "03 57010101",  # SID without its additional data
        "01 83000001 00",  # a 3-byte length prefix
        "01 00 00",  # a trailing byte
    ],
)
def test_malformed_verifications_are_declined(accel: Any, verification: str) -> None:
    raw = bytes.fromhex("10 00 02 0501" + verification)
    assert isinstance(reference_apdu(raw), DecodeError)
    assert accel.decode_apdu(raw) is None


def test_a_compiled_decoder_built_from_an_older_source_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    from wattguard.protocol import _accelerate

    stale = types.ModuleType("wattguard.protocol._accel")  # no open_answer: an older build
    monkeypatch.setitem(sys.modules, "wattguard.protocol._accel", stale)
    import wattguard.protocol as package

    monkeypatch.setattr(package, "_accel", stale, raising=False)
    active, reason = _accelerate._configure()
    assert not active and "older source" in reason


# A-ResultRecord (a curve's rows: the bulk of what the station decodes) has a program of its
# own too, not a call of its hand-written Python reader.
_RECORD = "85 03 01 50020200 02 00 20210200 00 00100201"


def test_the_result_record_is_compiled(accel: Any) -> None:
    from wattguard.protocol.apdu import common

    program = _accelerate.compile_codec(common.A_RESULT_RECORD)
    assert program[0] == _accelerate.OP_RESULT_RECORD


@pytest.mark.parametrize(
    "result",
    [
        "01 02 1c07ea0c07010203 0600000001 1c07ea0c07011103 0600000002",  # two rows
        "01 00",  # no rows
        "00 21",  # a DAR (request timed out)
        "00 fe",  # a DAR code the table does not name: kept as an int
        "01 01 1c07ea0c07010203 00",  # a null column
    ],
)
def test_result_records_decode_identically(accel: Any, result: str) -> None:
    check_apdu(accel, bytes.fromhex(f"{_RECORD} {result} 00 00"), must_decode=True)


@pytest.mark.parametrize(
    "wire",
    [
        f"{_RECORD} 02 00",  # result choice 2
        f"{_RECORD} 00",  # a DAR choice without its code
        f"{_RECORD} 01 03 1c07ea0c07010203 0600000001",  # 3 rows announced, bytes for 1
        f"{_RECORD} 01 01 1c07ea0c07010203",  # a row one column short
        f"{_RECORD} 01 01 1c07ea0c07010203 0600000001 0600000002 00 00",  # one column too many
        "85 03 01 50020200 00 01 01 00",  # rows without columns
        "85 03 01 50020200 01 05 00100201 00 00",  # no such CSD choice
        f"{_RECORD} 01 01 1c07ea0c07010203 ff00 00 00",  # no such data type
    ],
)
def test_malformed_result_records_are_declined(accel: Any, wire: str) -> None:
    raw = bytes.fromhex(wire)
    assert isinstance(reference_apdu(raw), DecodeError)
    assert accel.decode_apdu(raw) is None


def test_the_record_columns_and_calendars_are_compiled(accel: Any) -> None:
    """An RCSD (the columns of every record read and answer) and the calendar types (a curve
    row's freeze time) are read by the compiled decoder, not handed to their Python readers."""
    from wattguard.protocol.apdu import common
    from wattguard.protocol.data import RCSD

    program = _accelerate.compile_codec(common.A_RESULT_RECORD)
    assert program[3][0] == _accelerate.OP_RCSD
    assert _accelerate._record(RCSD)[0] == _accelerate.OP_RCSD
    _, readers = _accelerate._data_tables()
    for tag in (DataType.DATE_TIME_S, DataType.DATE_TIME, DataType.DATE, DataType.TIME):
        assert isinstance(readers[tag], tuple), tag


@pytest.mark.parametrize(
    "columns",
    [
        "03 00 20210200 00 00100201 00 00200200",  # OAD columns
        "02 00 20210200 01 50020200 02 00100200 00200200",  # a ROAD column
        "01 01 50020200 00",  # a ROAD without columns
    ],
)
def test_record_columns_decode_identically(accel: Any, columns: str) -> None:
    check_apdu(accel, bytes.fromhex(f"85 03 01 50020200 {columns} 01 00 00 00"), must_decode=True)


@pytest.mark.parametrize(
    "wire",
    [
        "85 03 01 50020200 02 00 20210200 02 00100201 01 00 00 00",  # no such CSD choice
        "85 03 01 50020200 05 00 20210200 01 00 00 00",  # 5 columns announced, bytes for 1
        "85 03 01 50020200 01 01 50020200 03 00100200 01 00 00 00",  # a ROAD's columns cut
        "85 03 01 50020200 01 00 202102",  # an OAD cut short
        f"{_RECORD} 01 01 1c07ea0c070102 0600000001 00 00",  # a date_time_s one byte short
    ],
)
def test_malformed_record_columns_and_calendars_are_declined(accel: Any, wire: str) -> None:
    raw = bytes.fromhex(wire)
    assert isinstance(reference_apdu(raw), DecodeError)
    assert accel.decode_apdu(raw) is None


@given(st.builds(DateTimeS, st.integers(0, 0xFFFF), *[st.integers(0, 255)] * 5))
def test_every_date_time_s_decodes_identically(accel: Any, value: DateTimeS) -> None:
    """Any 7 bytes, a calendar date or not (as the Python reader, which checks nothing)."""
    wire = in_response(Data(DataType.DATE_TIME_S, value))
    check_apdu(accel, wire, must_decode=True)
    assert accel.decode_apdu(wire).result.result == Data(DataType.DATE_TIME_S, value)
