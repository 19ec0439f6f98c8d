from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import ConfigError, RemoteProtocolError
from wattguard.protocol import Control, Fragment, FragmentKind, LinkFrame, ServerAddress
from wattguard.protocol.fragment import Reassembler, acknowledgement, split_apdu
from wattguard.protocol.link import decode_frame


@given(st.binary(max_size=2000), st.integers(1, 300))
def test_split_then_reassemble_over_real_frames(apdu: bytes, size: int) -> None:
    reassembler = Reassembler()
    result = None
    pieces = split_apdu(apdu, size)
    for fragment, piece in pieces:
        frame = LinkFrame(
            Control(True, True, fragmented=True), ServerAddress.parse("01"), 1, piece, fragment
        )
        received = decode_frame(frame.to_bytes())
        assert received.fragment is not None
        result = reassembler.receive(received.fragment, received.apdu)
    assert result == apdu
    assert pieces[-1][0].kind == FragmentKind.LAST
    assert not reassembler.in_progress


def test_repeated_piece_is_not_appended_twice() -> None:
    pieces = split_apdu(bytes(range(30)), 10)
    reassembler = Reassembler()
    reassembler.receive(*pieces[0])
    reassembler.receive(*pieces[1])
    assert reassembler.receive(*pieces[1]) is None  # the peer did not see our ack
    assert reassembler.receive(*pieces[2]) == bytes(range(30))
    assert acknowledgement(pieces[1][0]) == Fragment(1, FragmentKind.ACKNOWLEDGE)


def test_out_of_order_and_unopened_transfers_are_refused() -> None:
    pieces = split_apdu(bytes(40), 10)
    reassembler = Reassembler()
    with pytest.raises(RemoteProtocolError, match="no transfer open"):
        reassembler.receive(*pieces[1])
    reassembler.receive(*pieces[0])
    with pytest.raises(RemoteProtocolError, match="where 1 was due"):
        reassembler.receive(*pieces[2])
    assert not reassembler.in_progress
    with pytest.raises(RemoteProtocolError, match="numbered 0"):
        reassembler.receive(Fragment(5, FragmentKind.START), b"x")
    with pytest.raises(RemoteProtocolError, match="acknowledgement"):
        reassembler.receive(Fragment(0, FragmentKind.ACKNOWLEDGE), b"")


def test_sizes_are_bounded() -> None:
    reassembler = Reassembler(max_size=15)
    pieces = split_apdu(bytes(20), 10)
    reassembler.receive(*pieces[0])
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        reassembler.receive(*pieces[1])
    with pytest.raises(ConfigError):
        split_apdu(b"x", 0)
    with pytest.raises(ConfigError, match="4096 fragments"):
        split_apdu(bytes(4097), 1)
