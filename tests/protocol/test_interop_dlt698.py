"""Interop with the independent DL/T 698.45 implementation ``dlt698`` (extra ``interop``).

Every frame kind our encoder emits is decoded by dlt698, whose re-encoding must give back the
very same bytes (so every field was read identically), and our decoder reads what dlt698
encodes. Data values go both ways too.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattguard.protocol import Control, DataType, LinkFrame, decode_apdu, decode_frame
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import read_data
from wattguard.testing.strategies import BY_TYPE, SERVICES, server_addresses, structure_strategy

try:
    import dlt698
except ImportError:  # pragma: no cover - the interop extra is missing
    dlt698 = None


@pytest.fixture(scope="module", autouse=True)
def _needs_dlt698() -> None:
    from wattguard.testing.services import require

    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")


SECURITY_TAGS = (16, 144)


def _their_decode(apdu: bytes) -> Any:
    codec = dlt698.codec
    return (codec.decode_security if apdu[0] in SECURITY_TAGS else codec.decode_apdu)(apdu)


def _their_encode(value: Any, security: bool) -> bytes:
    codec = dlt698.codec
    return bytes((codec.encode_security if security else codec.encode_apdu)(value))


@pytest.mark.parametrize("cls", [cls for _, cls in SERVICES], ids=lambda c: c.__name__)
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dlt698_reads_every_apdu_we_write(cls: Any, data: st.DataObject) -> None:
    ours = data.draw(structure_strategy(cls, strict=True)).to_bytes()
    theirs = _their_decode(ours)
    assert _their_encode(theirs, ours[0] in SECURITY_TAGS) == ours
    # And what dlt698 writes, we read back to the same object.
    assert decode_apdu(_their_encode(theirs, ours[0] in SECURITY_TAGS)).to_bytes() == ours


@settings(max_examples=60)
@given(
    st.builds(Control, st.booleans(), st.booleans(), st.just(3), st.just(False), st.just(False)),
    server_addresses,
    st.integers(0, 255),
    st.binary(min_size=1, max_size=200),
)
def test_link_frames_both_ways(control: Control, address: Any, client: int, apdu: bytes) -> None:
    frame = LinkFrame(control, address, client, apdu)
    wire = frame.to_bytes()
    theirs = dlt698.codec.decode_frame(wire)
    assert theirs.control == control.to_byte()
    assert theirs.client == client
    assert bytes(theirs.payload) == apdu
    sa = address.to_bytes()
    assert bytes(theirs.server.bytes) == sa[1:]
    assert int(theirs.server.type) == int(address.type)
    # dlt698 reads AF bits 4-5 as one logical-address field; bit 5 is our extended flag.
    assert theirs.server.logical == address.logical | ((address.extended_logical is not None) << 1)
    assert decode_frame(bytes(dlt698.codec.encode_frame(theirs))) == frame


@pytest.mark.parametrize("kind", list(DataType), ids=lambda kind: kind.name)
@settings(max_examples=25)
@given(data=st.data())
def test_data_both_ways(kind: DataType, data: st.DataObject) -> None:
    value = data.draw(BY_TYPE[kind])
    ours = value.to_bytes()
    theirs = dlt698.codec.decode_data(ours)
    again = bytes(dlt698.codec.encode_data(theirs))
    assert again == ours
    assert read_data(Reader(again)) == value
