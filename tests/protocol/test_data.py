"""Every Data type round-trips; malformed data is a DecodeError with an offset."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import DecodeError
from wattguard.protocol import OAD, BitString, Data, DataType, DateTime, DateTimeS
from wattguard.protocol.axdr import Reader, encode_length
from wattguard.protocol.data import MAX_DEPTH, encode_data, read_data
from wattguard.testing.strategies import BY_TYPE, data_values


def _same(a: Data, b: Data) -> bool:
    if a.type in (DataType.FLOAT32, DataType.FLOAT64):
        return a.type == b.type and (a.value == b.value or math.isnan(a.value))
    return a == b


@given(data_values)
def test_every_type_round_trips(value: Data) -> None:
    wire = encode_data(value)
    reader = Reader(wire)
    decoded = read_data(reader)
    reader.finish()
    assert _same(decoded, value)
    assert encode_data(decoded) == wire


def test_every_data_type_has_a_strategy() -> None:
    assert set(BY_TYPE) == set(DataType)


@pytest.mark.parametrize("kind", list(DataType), ids=lambda kind: kind.name)
@given(st.data())
def test_each_type_round_trips(kind: DataType, data: st.DataObject) -> None:
    value = data.draw(BY_TYPE[kind])
    wire = encode_data(value)
    assert wire[0] == kind
    assert _same(read_data(Reader(wire)), value)


def test_known_encodings() -> None:
    # A 5-element array of double-long-unsigned energies, as a meter answers 0x00100200.
    energies = Data.array(*[Data(DataType.DOUBLE_LONG_UNSIGNED, v) for v in (100, 40, 30, 20, 10)])
    assert encode_data(energies).hex() == ("010506000000640600000028060000001e0600000014060000000a")
    assert encode_data(Data(DataType.OAD, OAD.parse("40000200"))).hex() == "5140000200"
    assert encode_data(Data(DataType.BIT_STRING, BitString(b"\xa0", 3))).hex() == "0403a0"
    stamp = DateTime(2026, 11, 24, 2, 18, 30, 5, 250)
    assert encode_data(Data(DataType.DATE_TIME, stamp)).hex() == "1907ea0b1802121e0500fa"
    assert encode_data(Data(DataType.VISIBLE_STRING, "ab")).hex() == "0a026162"
    long_string = Data(DataType.OCTET_STRING, bytes(300))
    assert encode_data(long_string)[:4] == b"\x09\x82\x01\x2c"
    assert encode_length(0x80) == b"\x81\x80"


def test_posix_seconds_convert_to_and_from_the_calendar() -> None:
    # 1_790_000_000 is Monday 2026-09-21 14:13:20 UTC (weekday 1: 0 is Sunday)
    assert DateTime.from_posix(1_790_000_000.25) == DateTime(2026, 9, 21, 1, 14, 13, 20, 250)
    assert DateTime(2026, 9, 21, 1, 14, 13, 20, 250).to_posix() == 1_790_000_000.25
    assert DateTimeS.from_posix(1_790_000_000.999) == DateTimeS(2026, 9, 21, 14, 13, 20)
    assert DateTimeS(2026, 9, 21, 14, 13, 20).to_posix() == 1_790_000_000
    with pytest.raises(ValueError):
        DateTimeS(2026, 9, 31, 0, 0, 0).to_posix()  # 31 September
    with pytest.raises(ValueError):
        DateTime(2026, 9, 21, 1, 14, 13, 20, 0xFFFF).to_posix()  # milliseconds unspecified


@given(
    st.tuples(
        st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 0xFF),
        st.integers(0, 0xFF), st.integers(0, 0xFF), st.integers(0, 0xFF),
    )
)  # fmt: skip
def test_date_time_s_to_posix_agrees_with_datetime_on_any_fields(
    fields: tuple[int, int, int, int, int, int],
) -> None:
    import datetime

    value = DateTimeS(*fields)
    try:
        expected: int | None = int(value.to_datetime().replace(tzinfo=datetime.UTC).timestamp())
    except ValueError:  # unspecified (0xFF), or no such date or time
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            value.to_posix()
    else:
        assert value.to_posix() == expected


@given(st.integers(0, 2**32 - 1), st.integers(0, 999))  # to 2106, to the millisecond
def test_posix_conversion_round_trips(seconds: int, milliseconds: int) -> None:
    posix = seconds + milliseconds / 1000
    assert DateTimeS.from_posix(posix).to_posix() == seconds
    moment = DateTime.from_posix(posix)
    assert moment.milliseconds == milliseconds
    assert moment.to_posix() == pytest.approx(posix, abs=1e-6)


def test_values_out_of_range_are_refused_when_encoding() -> None:
    with pytest.raises(ValueError, match="UNSIGNED"):
        encode_data(Data(DataType.UNSIGNED, 256))
    with pytest.raises(ValueError, match="DOUBLE_LONG"):
        encode_data(Data(DataType.DOUBLE_LONG, 2**31))


@pytest.mark.parametrize(
    "wire, reason",
    [
        ("07", "unknown data type tag 7"),
        ("03 02", "bool must be 0 or 1"),
        ("06 0000", "4 bytes wanted"),
        ("09 05 0102", "5 bytes wanted"),
        ("0a 01 ff", "not printable ASCII"),
        ("0a 01 07", "not printable ASCII"),
        ("5c 05 01 00 11 01 12 0001", "wrong type"),
        ("0c 01 ff", "not valid UTF-8"),
        ("01 09 0600000001", "elements cannot fit"),
        ("09 83 000001", "length prefix"),
        ("5a 0b", "unknown RSD selector"),
        ("5b 02", "unknown CSD choice"),
        ("5c 09", "unknown MS choice"),
        ("55 03 00 12 34", "TSA length"),
    ],
)
def test_malformed_data_says_what_and_where(wire: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason) as refused:
        read_data(Reader(bytes.fromhex(wire.replace(" ", ""))))
    assert refused.value.offset >= 0


def test_nesting_is_bounded() -> None:
    deep = b"\x01\x01" * (MAX_DEPTH + 2) + b"\x00"
    with pytest.raises(DecodeError, match="nested deeper"):
        read_data(Reader(deep))


@given(st.binary(max_size=64))
def test_random_bytes_only_raise_decode_errors(noise: bytes) -> None:
    with contextlib.suppress(DecodeError):
        read_data(Reader(noise))
