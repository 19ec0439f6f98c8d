"""The stream decoder, fed every way CONVENTIONS.md lists."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wattguard.protocol import Control, FrameDecoder, LinkFrame, ServerAddress

METER = ServerAddress.parse("123456789012")
FRAMES = [
    LinkFrame(Control(False, True), METER, 0x10, bytes.fromhex("0501010010020000")),
    LinkFrame(Control(True, True), METER, 0x10, bytes(range(60))),
    LinkFrame(Control(False, True, scrambled=True), ServerAddress.broadcast(), 0, b"\x68\x16"),
]
WIRE = [frame.to_bytes() for frame in FRAMES]


def _feed(chunks: list[bytes], decoder: FrameDecoder | None = None) -> list[LinkFrame]:
    decoder = decoder or FrameDecoder()
    out: list[LinkFrame] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        out.extend(decoder.frames())
    return out


def test_whole() -> None:
    assert _feed([b"".join(WIRE)]) == FRAMES


def test_one_byte_at_a_time() -> None:
    stream = b"".join(WIRE)
    assert _feed([stream[i : i + 1] for i in range(len(stream))]) == FRAMES


def test_behind_wake_up_bytes_and_garbage() -> None:
    decoder = FrameDecoder()
    stream = (
        b"\xfe\xfe\xfe\xfe" + WIRE[0] + b"\x00\x68\x99garbage\x68" + WIRE[1] + b"\xfe" + WIRE[2]
    )
    assert _feed([stream], decoder) == FRAMES
    assert decoder.discarded > 0 and decoder.errors


def test_trailing_bytes_wait_for_more() -> None:
    decoder = FrameDecoder()
    assert _feed([WIRE[0] + WIRE[1][:10]], decoder) == FRAMES[:1]
    assert _feed([WIRE[1][10:]], decoder) == FRAMES[1:2]


def test_resynchronises_after_bad_hcs_and_fcs() -> None:
    bad_hcs = bytearray(WIRE[0])
    bad_hcs[12] ^= 0xFF
    bad_fcs = bytearray(WIRE[1])
    bad_fcs[-2] ^= 0xFF
    decoder = FrameDecoder()
    assert _feed([bytes(bad_hcs) + bytes(bad_fcs) + WIRE[2]], decoder) == FRAMES[2:]
    reasons = " ".join(error.reason for error in decoder.errors)
    assert "HCS" in reasons and "FCS" in reasons


def test_truncated_frame_followed_by_good_ones() -> None:
    # Enough bytes behind the cut: the FCS of the would-be frame fails and the hunt resumes.
    assert _feed([WIRE[1][:30] + WIRE[0] + WIRE[1] + WIRE[1]]) == [FRAMES[0], *FRAMES[1:2] * 2]
    # Too few: the decoder waits, until the line goes idle.
    decoder = FrameDecoder()
    assert _feed([WIRE[1][:30] + WIRE[0]], decoder) == []
    assert decoder.line_idle() == FRAMES[:1]
    assert decoder.line_idle() == []


def test_over_the_length_limit() -> None:
    big = LinkFrame(Control(True, True), METER, 1, bytes(3000)).to_bytes()
    decoder = FrameDecoder(max_frame_size=1024)
    assert _feed([big + WIRE[0]], decoder) == FRAMES[:1]
    assert any("outside limits" in error.reason for error in decoder.errors)
    assert _feed([big], FrameDecoder(max_frame_size=4096)) == [
        LinkFrame(Control(True, True), METER, 1, bytes(3000))
    ]


@given(st.lists(st.binary(max_size=30), max_size=6), st.data())
def test_frames_survive_any_garbage_between_them(garbage: list[bytes], data: st.DataObject) -> None:
    # Garbage that contains no 0x68 can never hide a frame.
    cleaned = [g.replace(b"\x68", b"") for g in garbage]
    stream = b"".join(g + w for g, w in zip(cleaned, WIRE * 2, strict=False))
    expected = [f for _, f in zip(cleaned, FRAMES * 2, strict=False)]
    cut = data.draw(st.integers(0, len(stream)))
    assert _feed([stream[:cut], stream[cut:]]) == expected


@given(st.binary(max_size=500))
def test_random_bytes_never_raise(noise: bytes) -> None:
    decoder = FrameDecoder()
    decoder.receive_data(noise)
    decoder.frames()
    assert len(decoder._buffer) <= decoder.max_frame_size
